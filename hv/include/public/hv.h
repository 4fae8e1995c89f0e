/* SPDX-License-Identifier: MIT */
/*
 * The guest ABI of moat: hypercall numbers, error codes, the guest virtual layout, and the
 * start-info and shared-info pages. Shared verbatim by the hypervisor, the guest library and
 * (for constants and layouts) the Python tools. Names and numbers follow Xen where Xen has the
 * concept; the places where moat deviates say so.
 *
 * Calling convention: `syscall` with the hypercall number in rax and arguments in rdi, rsi, rdx,
 * r10, r8; the result comes back in rax. As with any syscall, rcx and r11 are overwritten by the
 * instruction itself (they hold the return rip and rflags); every other register is preserved.
 * Errors are negative errno values with Xen's numbering.
 */
#ifndef MOAT_PUBLIC_HV_H
#define MOAT_PUBLIC_HV_H

#include <stdint.h>

#define MOAT_INTERFACE_VERSION 0x00000001

typedef uint16_t domid_t;
#define DOMID_FIRST_RESERVED 0x7ff0
#define DOMID_SELF 0x7ff0
#define DOMID_XEN 0x7ff2
#define DOMID_INVALID 0x7ff4
#define MOAT_MAX_DOMAINS 64

/* Hypercall numbers (Xen's numbering). */
#define __HYPERVISOR_set_callbacks 4
#define __HYPERVISOR_memory_op 12
#define __HYPERVISOR_set_timer_op 15
#define __HYPERVISOR_xen_version 17
#define __HYPERVISOR_console_io 18
#define __HYPERVISOR_grant_table_op 20
#define __HYPERVISOR_iret 23
#define __HYPERVISOR_vcpu_op 24
#define __HYPERVISOR_xsm_op 27
#define __HYPERVISOR_sched_op 29
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_domctl 36
#define MOAT_NR_HYPERCALLS 48

/* Error codes (Xen's public/errno.h values), returned negated. */
#define XEN_EPERM 1
#define XEN_ENOENT 2
#define XEN_ESRCH 3
#define XEN_EINTR 4
#define XEN_EIO 5
#define XEN_E2BIG 7
#define XEN_EAGAIN 11
#define XEN_ENOMEM 12
#define XEN_EACCES 13
#define XEN_EFAULT 14
#define XEN_EBUSY 16
#define XEN_EEXIST 17
#define XEN_ENODEV 19
#define XEN_EINVAL 22
#define XEN_ENOSPC 28
#define XEN_ENOSYS 38
#define XEN_ETIMEDOUT 110

/*
 * Guest virtual layout (fixed). A guest's pseudo-physical frame n (PFN n) is mapped at
 * GUEST_RAM_VA + n * 4096; guests never see machine frame numbers. Everything from
 * GUEST_VA_LIMIT up belongs to the hypervisor and is not accessible from ring 3.
 *   [0, GUEST_START_INFO_VA)            unmapped (NULL dereferences fault)
 *   GUEST_START_INFO_VA                 start-info page, read-only
 *   GUEST_SHARED_INFO_VA                shared-info page, read-write
 *   [GUEST_RAM_VA, + nr_pages * 4096)   the guest's RAM: the ELF image from its link address,
 *                                       then free memory, then an unmapped guard page and the
 *                                       initial stack (GUEST_STACK_PAGES) at the very top
 *   [GUEST_GRANT_VA, + GUEST_GRANT_SIZE) where granted pages of other domains get mapped
 */
#define GUEST_PAGE_SIZE 4096
#define GUEST_START_INFO_VA 0x100000ULL
#define GUEST_SHARED_INFO_VA 0x101000ULL
#define GUEST_RAM_VA 0x400000ULL
#define GUEST_RAM_MAX (1ULL << 30)
#define GUEST_STACK_PAGES 4
#define GUEST_GRANT_VA 0x8000000000ULL
#define GUEST_GRANT_SIZE (1ULL << 30)
#define GUEST_VA_LIMIT 0x800000000000ULL

/* console_io(cmd, count, buffer): write bytes to the hypervisor console, at most CONSOLEIO_MAX per call. */
#define CONSOLEIO_write 0
#define CONSOLEIO_MAX 4096

/* xen_version(cmd, arg) */
#define XENVER_version 0      /* returns (major << 16) | minor */
#define XENVER_get_features 6 /* returns the MOAT_FEAT_* bits */
#define MOAT_FEAT_EVTCHN (1u << 0)
#define MOAT_FEAT_GNTTAB (1u << 1)
#define MOAT_FEAT_MAC (1u << 2)

/* memory_op(cmd, domid_t *dom) */
#define XENMEM_current_reservation 3 /* returns the domain's nr_pages */
#define XENMEM_maximum_reservation 4

/*
 * set_callbacks(event_rip, flags): the address the hypervisor enters for event upcalls
 * (see struct upcall_frame). 0 unregisters. Must be a canonical user address inside the
 * guest's RAM window, else -EINVAL.
 */

/*
 * set_timer_op(deadline_ns): one-shot timer at system time deadline_ns (0 cancels, a past deadline
 * fires at once). It raises VIRQ_TIMER, as in Xen: a domain that wants to be woken by its timer
 * (from SCHEDOP_block) must bind VIRQ_TIMER to a port first; an unbound VIRQ is dropped.
 */

/*
 * The upcall frame. Deviation from Xen: instead of a partial bounce frame, the hypervisor pushes
 * the whole interrupted context onto the guest stack (16-byte aligned, right below a 128-byte red
 * zone: at (rsp - 128 - sizeof(struct upcall_frame)) & ~15, whatever rsp's alignment), enters the
 * event callback with rsp and rdi pointing at the frame and events masked
 * (upcall_mask = 1), and the guest resumes the interrupted context with iret(frame), which
 * restores every register from the frame and clears upcall_mask. The callback starts with every
 * other general register as the interrupted context had it (the frame's values), but rcx and r11,
 * which are undefined; the extended state too is the interrupted context's, untouched.
 */
struct upcall_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t rip, rflags, rsp;
};

/*
 * Links (docs/networking.md): point-to-point links between boot domains, declared by a scenario's
 * [[link]] tables and carried by the boot manifest. The hypervisor only tells each end about its
 * links here: it creates no channel and shares no page. The ends connect by themselves with grant
 * and event-channel ops, which the MAC policy checks as always, so a link whose ends share no STE
 * type is published (vlans = 0) but every bind and map on it is refused.
 *
 * The granter of a link grants its pages at refs [first_ref, first_ref + LINK_REF_STRIDE) of its
 * own table (its n-th granted link gets LINK_REF_BASE + n * LINK_REF_STRIDE) and allocates its
 * ports; the mapper maps them and binds. vlans has bit t set when both ends' labels hold STE type
 * t (VLAN id t + 1, types 0..63); the hypervisor rewrites it whenever the policy or a label
 * changes, so a switch that reads it for every frame follows the live policy.
 */
#define START_MAX_LINKS 16
#define LINK_ROLE_GRANTER 0 /* grants the link's pages and allocates its event channels */
#define LINK_ROLE_MAPPER 1  /* maps the pages and binds to the channels */
#define LINK_REF_BASE 64
#define LINK_REF_STRIDE 64
#define LINK_MAC_LEN 6

struct start_link {
    domid_t peer;             /* the other end's domid */
    uint8_t role;             /* LINK_ROLE_* */
    uint8_t pad0;
    uint16_t index;           /* the link's number in the manifest (the scenario's [[link]] order) */
    uint16_t pad1;
    uint64_t vlans;           /* STE types both ends hold, bit t = type t; 0: they may not share */
    uint32_t first_ref;       /* the granter's first grant ref for this link */
    uint32_t pad2;
    uint8_t mac[LINK_MAC_LEN];      /* this end's Ethernet address */
    uint8_t peer_mac[LINK_MAC_LEN]; /* the other end's */
    uint32_t pad3;
    char peer_name[32];
};

/* Start-info page, read-only, at GUEST_START_INFO_VA. */
#define MOAT_START_MAGIC "moat-0.1-x86_64"
#define START_CMDLINE_MAX 1024
#define START_MAX_IMAGES 16
#define SIF_PRIVILEGED (1u << 0) /* informational: what the domain may do is decided by the MAC policy */

struct start_info {
    char magic[16];
    uint64_t nr_pages;        /* RAM pages; PFNs 0..nr_pages-1 */
    uint64_t shared_info_va;
    uint64_t ram_va;          /* GUEST_RAM_VA */
    uint64_t stack_top;       /* initial rsp */
    uint64_t heap_start;      /* first free address after the image */
    uint32_t flags;           /* SIF_* */
    uint32_t ssidref;         /* the domain's security label */
    domid_t domid;
    uint16_t nr_images;       /* image modules a privileged domain may create domains from */
    uint32_t pad;
    char name[32];
    char cmd_line[START_CMDLINE_MAX];
    char image_names[START_MAX_IMAGES][32];
    uint16_t nr_links;        /* entries of links[] in use */
    uint16_t pad_links[3];
    struct start_link links[START_MAX_LINKS];
};

/* Shared-info page (read-write), Xen's x86-64 layout for the parts we use. */
struct vcpu_time_info {
    uint32_t version;          /* odd while the hypervisor updates the record */
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;      /* ns at tsc_timestamp */
    uint32_t tsc_to_system_mul; /* ns = ((tsc - tsc_timestamp) << tsc_shift) * mul >> 32 */
    int8_t tsc_shift;
    int8_t pad1[3];
};

struct vcpu_info {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    uint8_t pad[6];
    uint64_t evtchn_pending_sel;
    uint64_t arch_cr2;
    uint64_t arch_pad;
    struct vcpu_time_info time;
};

#define MOAT_LEGACY_VCPUS 32
#define MOAT_EVTCHN_WORDS 64 /* 4096 ports */

struct shared_info {
    struct vcpu_info vcpu_info[MOAT_LEGACY_VCPUS];
    uint64_t evtchn_pending[MOAT_EVTCHN_WORDS];
    uint64_t evtchn_mask[MOAT_EVTCHN_WORDS];
    uint32_t wc_version, wc_sec, wc_nsec, wc_sec_hi;
};

#endif
