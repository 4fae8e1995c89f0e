/* SPDX-License-Identifier: MIT */
/*
 * domctl(struct moat_domctl *): create, destroy, pause, unpause and inspect domains. Xen's
 * command names and numbers; the structure is moat's own (smaller). Who may do what is decided
 * by the MAC policy (hv/xsm), never by being domain 0; denials return -EPERM.
 */
#ifndef MOAT_PUBLIC_DOMCTL_H
#define MOAT_PUBLIC_DOMCTL_H

#include "hv.h"
#include "stats.h"

#define XEN_DOMCTL_createdomain 1
#define XEN_DOMCTL_destroydomain 2
#define XEN_DOMCTL_pausedomain 3
#define XEN_DOMCTL_unpausedomain 4
#define XEN_DOMCTL_getdomaininfo 5
#define XEN_DOMCTL_setvcpuaffinity 9 /* struct moat_domctl_vcpu: pin one vCPU (or unpin it) */
#define XEN_DOMCTL_getvcpuinfo 14    /* struct moat_domctl_vcpu: where one vCPU is, and its state */

#define DOMCTL_NAME_MAX 32
#define DOMCTL_CMDLINE_MAX 256

enum moat_domain_state {
    DOMSTATE_RUNNABLE = 1,
    DOMSTATE_BLOCKED = 2,
    DOMSTATE_PAUSED = 3,
    DOMSTATE_DYING = 4,
};

/* moat_domctl_create.flags */
#define DOMCTL_CREATE_PAUSED (1u << 0) /* created paused (unpausedomain starts it), as Xen creates */

struct moat_domctl_create {
    uint32_t image;           /* index into start_info.image_names */
    uint32_t memory_kib;      /* RAM, a multiple of 4 */
    uint32_t ssidref;         /* the new domain's label */
    uint32_t flags;           /* DOMCTL_CREATE_*; any other bit: -EINVAL */
    char name[DOMCTL_NAME_MAX];
    char cmdline[DOMCTL_CMDLINE_MAX];
    domid_t domid;            /* OUT */
    uint16_t max_vcpus;       /* its vCPUs (Xen's max_vcpus), 1 to MOAT_MAX_VCPUS; 0: one. vCPU 0
                               * starts, the others are down until the guest brings them up */
    uint32_t devices;         /* DEVICE_* bits to assign (public/device.h); the label must permit them */
};

/*
 * setvcpuaffinity: vcpu and cpu in (cpu MOAT_CPU_ANY: the scheduler places and moves it). Only
 * for a vCPU that runs nowhere: one that is down (it comes up there) or of a paused domain;
 * -EBUSY otherwise (pause the domain first). -EINVAL: no such vCPU, or cpu not online.
 * getvcpuinfo: vcpu in; the rest out (cpu: where it runs or is queued, or last ran).
 */
#define MOAT_CPU_ANY 0xffffffffu
struct moat_domctl_vcpu {
    uint32_t vcpu;
    uint32_t cpu;
    uint8_t online;           /* up (not down) */
    uint8_t blocked;          /* up, waiting for an event */
    uint8_t pinned;           /* runs on cpu only */
    uint8_t pad[5];
};

struct moat_domctl_info {
    uint32_t state;           /* enum moat_domain_state */
    uint32_t ssidref;
    uint64_t nr_pages;
    uint64_t cpu_time_ns;
    char name[DOMCTL_NAME_MAX];
};

struct moat_domctl {
    uint32_t cmd;
    uint32_t interface_version; /* MOAT_INTERFACE_VERSION, else -EINVAL */
    domid_t domain;             /* target (ignored by createdomain) */
    uint16_t pad[3];
    union {
        struct moat_domctl_create create;
        struct moat_domctl_info info;
        struct moat_domain_stats stats; /* MOAT_DOMCTL_getstats (public/stats.h) */
        struct moat_domctl_sched sched; /* MOAT_DOMCTL_getsched, setsched (public/stats.h) */
        struct moat_domctl_vcpu vcpu;   /* setvcpuaffinity, getvcpuinfo */
        uint8_t raw[320];
    } u;
};

#endif
