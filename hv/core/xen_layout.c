// SPDX-License-Identifier: MIT
// Build-time proof that the guest ABI structures which claim Xen's layout have it, field by field:
// a guest (or a tool) written against Xen's public headers for x86-64 must find every field where
// Xen puts it. The numbers are Xen's sizes and offsets for x86-64 (public/event_channel.h,
// grant_table.h, sched.h, xen.h with arch-x86/xen-x86_64.h, and Xen 4.1's xsm/acm.h for the
// binary policy); they are written here as literals on purpose, so that changing one of moat's
// headers cannot change the expectation with it. Structures that are moat's own (domctl,
// xsm_op, start_info, the upcall frame, the boot manifest) are not Xen's and not checked here.
// This file has no code; tests/tools/test_xen_layout.py shows that a moved field fails the build.
#include <public/event_channel.h>
#include <public/grant_table.h>
#include <public/hv.h>
#include <public/sched.h>
#include <public/xsm/acm.h>

#define XEN_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), "struct " #type ": Xen has size " #size)
#define XEN_OFFSET(type, field, offset)                                                                                \
    _Static_assert(__builtin_offsetof(struct type, field) == (offset),                                                 \
                   "struct " #type ": Xen has " #field " at offset " #offset)

/* ---- event channels (EVTCHNOP_*) ---- */
XEN_SIZE(evtchn_alloc_unbound, 8);
XEN_OFFSET(evtchn_alloc_unbound, dom, 0);
XEN_OFFSET(evtchn_alloc_unbound, remote_dom, 2);
XEN_OFFSET(evtchn_alloc_unbound, port, 4);

XEN_SIZE(evtchn_bind_interdomain, 12);
XEN_OFFSET(evtchn_bind_interdomain, remote_dom, 0);
XEN_OFFSET(evtchn_bind_interdomain, remote_port, 4);
XEN_OFFSET(evtchn_bind_interdomain, local_port, 8);

XEN_SIZE(evtchn_bind_virq, 12);
XEN_OFFSET(evtchn_bind_virq, virq, 0);
XEN_OFFSET(evtchn_bind_virq, vcpu, 4);
XEN_OFFSET(evtchn_bind_virq, port, 8);

XEN_SIZE(evtchn_bind_ipi, 8);
XEN_OFFSET(evtchn_bind_ipi, vcpu, 0);
XEN_OFFSET(evtchn_bind_ipi, port, 4);

XEN_SIZE(evtchn_close, 4);
XEN_SIZE(evtchn_send, 4);
XEN_SIZE(evtchn_unmask, 4);
XEN_SIZE(evtchn_reset, 2);

XEN_SIZE(evtchn_status, 24);
XEN_OFFSET(evtchn_status, dom, 0);
XEN_OFFSET(evtchn_status, port, 4);
XEN_OFFSET(evtchn_status, status, 8);
XEN_OFFSET(evtchn_status, vcpu, 12);
XEN_OFFSET(evtchn_status, u.unbound.dom, 16);
XEN_OFFSET(evtchn_status, u.interdomain.dom, 16);
XEN_OFFSET(evtchn_status, u.interdomain.port, 20);
XEN_OFFSET(evtchn_status, u.virq, 16);

/* ---- grant tables (v1 entries, GNTTABOP_*) ---- */
XEN_SIZE(grant_entry_v1, 8);
XEN_OFFSET(grant_entry_v1, flags, 0);
XEN_OFFSET(grant_entry_v1, domid, 2);
XEN_OFFSET(grant_entry_v1, frame, 4);

XEN_SIZE(gnttab_map_grant_ref, 32);
XEN_OFFSET(gnttab_map_grant_ref, host_addr, 0);
XEN_OFFSET(gnttab_map_grant_ref, flags, 8);
XEN_OFFSET(gnttab_map_grant_ref, ref, 12);
XEN_OFFSET(gnttab_map_grant_ref, dom, 16);
XEN_OFFSET(gnttab_map_grant_ref, status, 18);
XEN_OFFSET(gnttab_map_grant_ref, handle, 20);
XEN_OFFSET(gnttab_map_grant_ref, dev_bus_addr, 24);

XEN_SIZE(gnttab_unmap_grant_ref, 24);
XEN_OFFSET(gnttab_unmap_grant_ref, host_addr, 0);
XEN_OFFSET(gnttab_unmap_grant_ref, dev_bus_addr, 8);
XEN_OFFSET(gnttab_unmap_grant_ref, handle, 16);
XEN_OFFSET(gnttab_unmap_grant_ref, status, 20);

XEN_SIZE(gnttab_setup_table, 24);
XEN_OFFSET(gnttab_setup_table, dom, 0);
XEN_OFFSET(gnttab_setup_table, nr_frames, 4);
XEN_OFFSET(gnttab_setup_table, status, 8);
XEN_OFFSET(gnttab_setup_table, frame_list, 16); /* Xen: a guest handle, one pointer */

XEN_SIZE(gnttab_query_size, 16);
XEN_OFFSET(gnttab_query_size, dom, 0);
XEN_OFFSET(gnttab_query_size, nr_frames, 4);
XEN_OFFSET(gnttab_query_size, max_nr_frames, 8);
XEN_OFFSET(gnttab_query_size, status, 12);

XEN_SIZE(gnttab_copy, 40);
XEN_OFFSET(gnttab_copy, source.u.ref, 0);
XEN_OFFSET(gnttab_copy, source.u.gmfn, 0); /* Xen: xen_pfn_t, 8 bytes */
XEN_OFFSET(gnttab_copy, source.domid, 8);
XEN_OFFSET(gnttab_copy, source.offset, 10);
XEN_OFFSET(gnttab_copy, dest.u.gmfn, 16);
XEN_OFFSET(gnttab_copy, dest.domid, 24);
XEN_OFFSET(gnttab_copy, dest.offset, 26);
XEN_OFFSET(gnttab_copy, len, 32);
XEN_OFFSET(gnttab_copy, flags, 34);
XEN_OFFSET(gnttab_copy, status, 36);

/* ---- sched_op ---- */
XEN_SIZE(sched_shutdown, 4);
XEN_SIZE(sched_poll, 24);
XEN_OFFSET(sched_poll, ports, 0); /* Xen: a guest handle, one pointer */
XEN_OFFSET(sched_poll, nr_ports, 8);
XEN_OFFSET(sched_poll, timeout, 16);

/* ---- the shared-info page (the parts moat has: its tail, arch_shared_info, is not used) ---- */
XEN_SIZE(vcpu_time_info, 32);
XEN_OFFSET(vcpu_time_info, version, 0);
XEN_OFFSET(vcpu_time_info, tsc_timestamp, 8);
XEN_OFFSET(vcpu_time_info, system_time, 16);
XEN_OFFSET(vcpu_time_info, tsc_to_system_mul, 24);
XEN_OFFSET(vcpu_time_info, tsc_shift, 28);

XEN_SIZE(vcpu_info, 64);
XEN_OFFSET(vcpu_info, evtchn_upcall_pending, 0);
XEN_OFFSET(vcpu_info, evtchn_upcall_mask, 1);
XEN_OFFSET(vcpu_info, evtchn_pending_sel, 8);
XEN_OFFSET(vcpu_info, arch_cr2, 16); /* Xen: struct arch_vcpu_info { cr2; pad; } */
XEN_OFFSET(vcpu_info, time, 32);

XEN_OFFSET(shared_info, vcpu_info, 0);
XEN_OFFSET(shared_info, evtchn_pending, 2048); /* XEN_LEGACY_MAX_VCPUS (32) vcpu_info records */
XEN_OFFSET(shared_info, evtchn_mask, 2560);    /* 64 words: the 2-level ABI's 4096 ports */
XEN_OFFSET(shared_info, wc_version, 3072);
XEN_OFFSET(shared_info, wc_sec, 3076);
XEN_OFFSET(shared_info, wc_nsec, 3080);
XEN_OFFSET(shared_info, wc_sec_hi, 3084);
_Static_assert(MOAT_EVTCHN_WORDS * 64 == EVTCHN_MAX_PORTS, "one pending and one mask bit per port");
_Static_assert(sizeof(struct shared_info) <= GUEST_PAGE_SIZE, "the shared-info record fits its page");

/* ---- the binary security policy (Xen 4.1's ACM format, policy_version 4; stored big-endian) ---- */
XEN_SIZE(acm_policy_buffer, 60);
XEN_OFFSET(acm_policy_buffer, magic, 0);
XEN_OFFSET(acm_policy_buffer, policy_version, 4);
XEN_OFFSET(acm_policy_buffer, len, 8);
XEN_OFFSET(acm_policy_buffer, policy_reference_offset, 12);
XEN_OFFSET(acm_policy_buffer, primary_policy_code, 16);
XEN_OFFSET(acm_policy_buffer, primary_buffer_offset, 20);
XEN_OFFSET(acm_policy_buffer, secondary_policy_code, 24);
XEN_OFFSET(acm_policy_buffer, secondary_buffer_offset, 28);
XEN_OFFSET(acm_policy_buffer, xml_pol_version, 32);
XEN_OFFSET(acm_policy_buffer, xml_policy_hash, 40);
XEN_SIZE(acm_chwall_policy_buffer, 36);
XEN_OFFSET(acm_chwall_policy_buffer, chwall_ssid_offset, 20);
XEN_OFFSET(acm_chwall_policy_buffer, chwall_conflict_aggregate_offset, 32);
XEN_SIZE(acm_ste_policy_buffer, 20);
XEN_OFFSET(acm_ste_policy_buffer, ste_ssid_offset, 16);
_Static_assert(ACM_HEADER_SIZE == 60 && ACM_CHWALL_HEADER_SIZE == 36 && ACM_STE_HEADER_SIZE == 20,
               "the parser's header sizes are Xen's");
