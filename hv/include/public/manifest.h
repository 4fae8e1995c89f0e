/* SPDX-License-Identifier: MIT */
/*
 * The boot manifest: a multiboot module, written by `moat run` from a scenario, that tells the
 * hypervisor which domains to build. Little-endian, versioned, with a CRC-32 (IEEE 802.3, the
 * one zlib.crc32 computes) over every byte after the crc field. The hypervisor refuses the whole
 * manifest if anything is off. Not a guest ABI; shared with tools/moat/manifest.py.
 */
#ifndef MOAT_PUBLIC_MANIFEST_H
#define MOAT_PUBLIC_MANIFEST_H

#include <stdint.h>

#define MANIFEST_MAGIC 0x4e414d4d  /* "MMAN" little-endian */
#define MANIFEST_VERSION 5          /* 2: link records after the domain records; 3: a domain's cpu; 4: vcpus, weight, cap; 5: vcpu_cpus */
#define MANIFEST_MAX_VCPUS 8        /* MOAT_MAX_VCPUS (public/vcpu.h) */
#define MANIFEST_CPU_PLACED 0xff    /* vcpu_cpus: the scheduler places that vCPU */
#define MANIFEST_MAX_DOMAINS 64
#define MANIFEST_MAX_LINKS 256

#define MDOM_PRIVILEGED (1u << 0)   /* may use domctl (until the MAC policy decides it) */
#define MDOM_PINNED (1u << 1)       /* runs on CPU `cpu` only (the scenario's `cpu = k`) */

#define EXPECT_POWEROFF 0           /* the domain should end by shutting down normally */
#define EXPECT_CRASH 1              /* ... by crashing (a shutdown with reason crash, or a fault) */
#define EXPECT_ANY 2

struct manifest_header {
    uint32_t magic;
    uint32_t crc32;                 /* over bytes [8, total_size) */
    uint16_t version;
    uint16_t header_size;           /* sizeof(struct manifest_header) */
    uint16_t domain_size;           /* sizeof(struct manifest_domain) */
    uint16_t domain_count;
    uint32_t total_size;            /* header + domain_count * domain_size + link_count * link size */
    uint32_t slice_us;              /* scheduler time slice; 0 = default (10 ms) */
    uint32_t flags;
    uint32_t link_count;            /* struct manifest_link records after the domains */
    uint32_t reserved[2];
};

struct manifest_domain {
    char name[32];
    uint32_t image_module;          /* multiboot module index of the ELF image */
    uint32_t memory_kib;
    uint32_t ssidref;
    uint32_t flags;                 /* MDOM_* */
    uint32_t expect;                /* EXPECT_* */
    uint32_t max_evtchn;            /* 0 = default */
    uint32_t max_grant_frames;      /* 0 = default */
    uint32_t devices;               /* DEVICE_* bits (public/device.h) assigned to the domain */
    uint32_t cpu;                   /* with MDOM_PINNED: its vCPU 0's CPU (0 = the boot CPU); else 0 */
    uint32_t vcpus;                 /* its vCPUs, 0 (= 1) to MOAT_MAX_VCPUS (public/vcpu.h) */
    uint32_t weight;                /* proportional share, 0 = default (docs/resource-control.md) */
    uint32_t cap;                   /* percent of one CPU it may use, 0 = no cap */
    uint8_t vcpu_cpus[MANIFEST_MAX_VCPUS]; /* vCPU i > 0's CPU when it comes up, or MANIFEST_CPU_PLACED */
    char cmdline[256];
};

/*
 * A link between two domain records (docs/networking.md): the granter grants the link's pages and
 * allocates its event channels, the mapper maps and binds. Each end is told in its start info
 * (public/hv.h, struct start_link). MAC addresses are unicast, not zero and differ; a domain is an
 * end of at most START_MAX_LINKS links.
 */
struct manifest_link {
    uint16_t granter;               /* domain record index */
    uint16_t mapper;                /* domain record index, not the granter */
    uint8_t granter_mac[6];
    uint8_t mapper_mac[6];
    uint32_t flags;                 /* none defined: 0 */
    uint32_t reserved;              /* 0 */
};

#endif
