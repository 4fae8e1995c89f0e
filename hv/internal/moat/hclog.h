/* SPDX-License-Identifier: MIT */
/*
 * The hypercall log of the test build (CONFIG_SELFTEST, build/hv/moat-selftest.bin): with
 * `hclog=<domid>` on the command line, every hypercall that domain makes is printed with its
 * result, for `moat noninterference --hypercalls` (docs/covert-channels.md):
 *
 *   hc: d<id> nr=<n> op=<op> ret=<r>[ out=<domid>]
 *
 * op is the first argument, or for domctl and xsm_op the command in the argument structure; out
 * is the new domain's id of a successful createdomain. The normal build has none of this.
 */
#ifndef MOAT_HCLOG_H
#define MOAT_HCLOG_H

#include <moat/types.h>

struct domain;
struct hypercall_args;

#ifdef CONFIG_SELFTEST
void hclog_result(const struct domain *d, const struct hypercall_args *a, long ret);
#else
static inline void hclog_result(const struct domain *d, const struct hypercall_args *a, long ret)
{
    (void)d, (void)a, (void)ret;
}
#endif

#endif
