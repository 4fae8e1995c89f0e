// SPDX-License-Identifier: MIT
// The hypercall log of the test build (moat/hclog.h): one line per hypercall of the chosen domain.
#include <moat/hclog.h>

#ifdef CONFIG_SELFTEST

#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <public/domctl.h>
#include <public/hv.h>

static int logged = -2; /* -2: not read yet; -1: none */

/* A decimal domain id, or -1 (a value such as 65536 is refused whole, not taken as domain 0 once
 * compared as a domid_t). */
static int parse_id(const char *s)
{
    uint64_t v;
    return cmdline_number(s, DOMID_FIRST_RESERVED - 1, &v) ? (int)v : -1;
}

void hclog_result(const struct domain *d, const struct hypercall_args *a, long ret)
{
    uint64_t nr = a->nr;
    if (logged == -2) {
        char id[8];
        logged = cmdline_get("hclog", id, sizeof(id)) ? parse_id(id) : -1;
    }
    if (logged < 0 || d->domid != (domid_t)logged || d->state != DOM_RUNNABLE)
        return; /* (a domain that shut itself down has no address space left to read) */
    uint64_t op = a->arg[0];
    uint32_t cmd;
    if ((nr == __HYPERVISOR_domctl || nr == __HYPERVISOR_xsm_op) && !copy_from_guest(&cmd, a->arg[0], sizeof(cmd)))
        op = cmd;
    char created[16] = ""; /* one printk for the line: another CPU's cannot split it */
    domid_t out;
    if (nr == __HYPERVISOR_domctl && op == XEN_DOMCTL_createdomain && ret == 0 &&
        !copy_from_guest(&out, a->arg[0] + offsetof(struct moat_domctl, u.create.domid), sizeof(out)))
        snprintf(created, sizeof(created), " out=%u", out);
    printk("hc: d%u nr=%lu op=%lu ret=%ld%s\n", d->domid, nr, op, ret, created);
}

#endif
