/* SPDX-License-Identifier: MIT */
/*
 * Metering (docs/resource-control.md): what a domain has used since it was created, read with
 * domctl MOAT_DOMCTL_getstats (struct moat_domctl, public/domctl.h) under the caller's
 * read_state permission over the domain's label, as getdomaininfo.
 */
#ifndef MOAT_PUBLIC_STATS_H
#define MOAT_PUBLIC_STATS_H

#include "hv.h"

#define MOAT_DOMCTL_getstats 64 /* moat's own domctl command (Xen's numbers stay below) */
/* A domain's proportional share (struct moat_domctl_sched): get under read_state, set under the
 * pause permission over its label (scheduling it is a kind of pausing it). */
#define MOAT_DOMCTL_getsched 65
#define MOAT_DOMCTL_setsched 66

struct moat_domctl_sched {
    uint32_t weight; /* 1 to 65535; set: 0 = the default (256) */
    uint32_t cap;    /* percent of one CPU, 1 to 100; 0 = none */
};

struct moat_domain_stats {
    uint64_t cpu_time_ns;
    uint64_t nr_pages;          /* its RAM, in pages */
    uint64_t events_sent;       /* sends on interdomain and IPI ports */
    uint64_t events_received;   /* sends by others (and itself) that reached one of its ports */
    uint64_t grant_maps;        /* grant mappings it made */
    uint64_t grant_copies;      /* grant copies it asked for that succeeded */
    uint64_t grant_copy_bytes;  /* bytes those copied */
    uint64_t mac_denials;       /* MAC decisions against it */
    uint32_t frames_charged;    /* frames charged to it: RAM, page tables, bookkeeping */
    uint32_t ports;             /* event-channel ports in use */
    uint32_t grant_frames;      /* grant-table frames registered */
    uint32_t maptrack;          /* grant mappings held */
    uint32_t hypercalls[MOAT_NR_HYPERCALLS]; /* calls by hypercall number (wraps at 2^32) */
};

#endif
