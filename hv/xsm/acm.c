// SPDX-License-Identifier: MIT
// The ACM module: sHype's Chinese Wall (at domain creation) and Simple Type Enforcement (when an
// event channel or a grant is bound), label permissions for privileged operations, decision
// caches, audit lines, and policy changes that refuse or revoke what the new policy forbids.
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/event_channel.h>
#include <moat/grant_table.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/link.h>
#include <moat/paging.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <moat/xsm.h>
#include <public/device.h>
#include <public/measure.h>
#include <public/xsm/acm_ops.h>

#include "acm_decide.h"
#include "acm_policy.h"

/* The live policy. Its blob is a boot module, or a vmap slot for one loaded at run time. */
static struct acm_policy_view live;
static int live_slot = -1;
static size_t live_pages;

/* Chinese Wall state: how many running domains hold each type, and how many forbid it. */
static uint32_t running_types[ACM_MAX_TYPES];
static uint32_t conflict_aggregate[ACM_MAX_TYPES];

static struct acm_stats stats;

static const char *const hook_names[ACM_NR_HOOKS] = {
    [ACM_HOOK_DOMAIN_CREATE] = "domain_create", [ACM_HOOK_EVTCHN_UNBOUND] = "evtchn_unbound",
    [ACM_HOOK_EVTCHN_BIND] = "evtchn_bind",     [ACM_HOOK_GRANT_MAP] = "grant_map",
    [ACM_HOOK_GRANT_COPY] = "grant_copy",       [ACM_HOOK_GRANT_SETUP] = "grant_setup",
    [ACM_HOOK_PRIVILEGED] = "privileged",
};

/* ---- policy questions, asked of any view (the live one or a candidate): acm_decide.c ---- */

/* A domain's ssidref names one VM label (both halves the same row): its row in every matrix. */
static uint32_t row_of(uint32_t ssidref) { return ACM_SSIDREF_PRIMARY(ssidref); }

/* Does subj's label hold perm over domains labelled target_ssidref? */
static bool may(const struct domain *subj, uint32_t perm, uint32_t target_ssidref)
{
    return acm_ext_may(&live, row_of(subj->ssidref), perm, row_of(target_ssidref));
}

/* ... over domains of every label: the system-wide reads, and telling a free id from a domain. */
static bool may_all(const struct acm_policy_view *v, const struct domain *subj, uint32_t perm)
{
    return acm_ext_may_all(v, row_of(subj->ssidref), perm);
}

/* ---- audit ---- */

/* A policy's name for the console: whoever may load a policy chooses it, bytes and all. */
static const char *policy_name(const struct acm_policy_view *v)
{
    static char buf[128];
    return str_escape(buf, sizeof(buf), v->name);
}

/* The object of a denial: a domain, one being created (by name), or an id that names nothing. */
struct audit_obj {
    const struct domain *d;
    const char *new_name;
    uint32_t ssidref;
    domid_t absent;
    bool is_absent;
};

/*
 * Denial lines are rate-limited per subject: a guest that provokes denials in a loop must not
 * flood the console (each line is printed with interrupts off). Up to AUDIT_BURST lines pass at
 * once, then one per AUDIT_INTERVAL_NS; the rest are counted, and the next line that is printed
 * (or the subject's end) is preceded by one line saying how many were not. The hook counters
 * count every denial.
 */
#define AUDIT_BURST 64
#define AUDIT_INTERVAL_NS (50 * 1000 * 1000ULL) /* 20 lines a second, sustained */
static struct xsm_audit boot_audit;             /* the boot manifest's domains have no subject */

static void audit_flush(struct xsm_audit *a, const struct domain *subj)
{
    if (!a->suppressed)
        return;
    if (subj)
        printk("MAC audit: %u denial lines of %u:%s not printed (rate limit)\n", a->suppressed, subj->domid,
               subj->name);
    else
        printk("MAC audit: %u denial lines of boot not printed (rate limit)\n", a->suppressed);
    a->suppressed = 0;
}

/* Whether this denial's line may be printed now (and, if so, the count of those that were not). */
static bool audit_admit(struct domain *subj)
{
    struct xsm_audit *a = subj ? &subj->xsm_audit : &boot_audit;
    uint64_t now = now_ns(), tat = MAX(a->tat_ns, now);
    if (tat - now > (AUDIT_BURST - 1) * AUDIT_INTERVAL_NS) {
        a->suppressed++;
        stats.audit_suppressed++;
        return false;
    }
    a->tat_ns = tat + AUDIT_INTERVAL_NS;
    audit_flush(a, subj);
    return true;
}

/* One denial of `hook`, printed (rate permitting) as hook=`name`: the hook's own name, or for
 * the device checks, which count as privileged, "device". */
static void audit_deny_as(unsigned hook, const char *name, struct domain *subj, const char *what,
                          struct audit_obj obj)
{
    stats.hook[hook].denials++;
    if (subj)
        subj->meter.mac_denials++;
    if (!audit_admit(subj))
        return;
    /* Formatted first and printed by one printk, so that another CPU's line cannot land in the
     * middle of it (each printk is whole on the console, a series of them is not). Each part is
     * sized for its longest text, the largest domid with a name of DOMCTL_NAME_MAX - 1 bytes (the
     * literal's sizeof counts its NUL; the name's is the one byte left over). */
    char who[sizeof("65535:") + DOMCTL_NAME_MAX], target[sizeof(" obj=65535:") + DOMCTL_NAME_MAX] = "";
    if (subj)
        snprintf(who, sizeof(who), "%u:%s", subj->domid, subj->name);
    else
        snprintf(who, sizeof(who), "boot");
    if (obj.d)
        snprintf(target, sizeof(target), " obj=%u:%s", obj.d->domid, obj.d->name);
    else if (obj.new_name)
        snprintf(target, sizeof(target), " obj=new:%s", obj.new_name);
    else if (obj.is_absent)
        snprintf(target, sizeof(target), " obj=absent:%u", obj.absent);
    printk("MAC deny hook=%s subj=%s%s%s%s ssid=0x%08x/0x%08x\n", name, who, target, what ? " op=" : "",
           what ? what : "", subj ? subj->ssidref : 0, obj.d ? obj.d->ssidref : obj.ssidref);
}

static void audit_deny(unsigned hook, struct domain *subj, const char *what, struct audit_obj obj)
{
    audit_deny_as(hook, hook_names[hook], subj, what, obj);
}

static struct audit_obj on(const struct domain *d) { return (struct audit_obj){.d = d}; }
static struct audit_obj nothing(void) { return (struct audit_obj){0}; }
static struct audit_obj created(const char *name, uint32_t ssidref)
{
    return (struct audit_obj){.new_name = name, .ssidref = ssidref};
}

/* ---- the decision cache (positive STE decisions only) ---- */

static bool cache_hit(struct domain *subj, const struct domain *obj)
{
    struct xsm_cache *c = &subj->xsm_cache;
    for (unsigned i = 0; i < XSM_CACHE_SIZE; i++)
        if (c->incarnation[i] == obj->incarnation && c->dom[i] == obj->domid)
            return true;
    return false;
}

static void cache_add(struct domain *subj, const struct domain *obj)
{
    struct xsm_cache *c = &subj->xsm_cache;
    c->dom[c->next] = obj->domid;
    c->incarnation[c->next] = obj->incarnation;
    c->next = (uint8_t)((c->next + 1) % XSM_CACHE_SIZE);
}

/* Forgets every decision about `about` (NULL: every decision) in one domain's cache: the slots
 * are marked empty (incarnation 0, which no domain has), and the round-robin `next` stays. */
static void cache_forget(struct xsm_cache *c, const struct domain *about)
{
    for (unsigned k = 0; k < XSM_CACHE_SIZE; k++)
        if (!about || (c->dom[k] == about->domid && c->incarnation[k] == about->incarnation))
            c->incarnation[k] = 0;
}

/* ... in every domain's cache. */
static void cache_purge(const struct domain *about)
{
    struct domain *d;
    for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));)
        cache_forget(&d->xsm_cache, about);
}

/* ste_check's miss: the policy's decision, cached when positive, audited when not. Out of line,
 * so that a cache hit, the common case, calls nothing and keeps no frame or saved registers. */
static noinline int ste_decide(unsigned hook, struct domain *subj, struct domain *obj)
{
    if (acm_ste_share(&live, subj->ssidref, obj->ssidref)) {
        cache_add(subj, obj);
        return 0;
    }
    audit_deny(hook, subj, NULL, on(obj));
    return -XEN_EACCES;
}

/* Simple Type Enforcement: 0, or -XEN_EACCES (audited). */
static int ste_check(unsigned hook, struct domain *subj, struct domain *obj)
{
    stats.hook[hook].evaluations++;
    if (cache_hit(subj, obj)) {
        stats.hook[hook].cache_hits++;
        return 0;
    }
    return ste_decide(hook, subj, obj);
}

/* A permission of subj's label over obj's label (over every label when obj is NULL): 0, or
 * -XEN_EPERM (audited). */
static int permission(struct domain *subj, uint32_t perm, const char *what, struct domain *obj)
{
    stats.hook[ACM_HOOK_PRIVILEGED].evaluations++;
    if (obj ? may(subj, perm, obj->ssidref) : may_all(&live, subj, perm))
        return 0;
    audit_deny(ACM_HOOK_PRIVILEGED, subj, what, obj ? on(obj) : nothing());
    return -XEN_EPERM;
}

/* ---- hooks (the contract: moat/xsm.h) ---- */

int xsm_domain_create(struct domain *creator, uint32_t ssidref, const char *name)
{
    stats.hook[ACM_HOOK_DOMAIN_CREATE].evaluations++;
    if (!acm_ssidref_is_label(&live, ssidref)) {
        audit_deny(ACM_HOOK_DOMAIN_CREATE, creator, "not-a-label", created(name, ssidref));
        return -XEN_EINVAL;
    }
    if (acm_chwall_conflict(&live, conflict_aggregate, row_of(ssidref)) >= 0) {
        audit_deny(ACM_HOOK_DOMAIN_CREATE, creator, "chinese-wall", created(name, ssidref));
        return -XEN_EPERM;
    }
    return 0;
}

void xsm_domain_created(struct domain *d)
{
    acm_chwall_account(&live, running_types, conflict_aggregate, row_of(d->ssidref), +1);
}

void xsm_domain_destroyed(struct domain *d)
{
    audit_flush(&d->xsm_audit, d);
    acm_chwall_account(&live, running_types, conflict_aggregate, row_of(d->ssidref), -1);
    cache_purge(d);
    memset(&d->xsm_cache, 0, sizeof(d->xsm_cache));
}

int xsm_no_domain(struct domain *subj, domid_t id, int denial)
{
    if (may_all(&live, subj, ACM_PERM_READ_STATE))
        return -XEN_ESRCH;
    stats.hook[ACM_HOOK_PRIVILEGED].evaluations++;
    audit_deny(ACM_HOOK_PRIVILEGED, subj, "lookup", (struct audit_obj){.absent = id, .is_absent = true});
    return denial;
}

int xsm_domctl(struct domain *subj, uint32_t cmd, struct domain *target)
{
    switch (cmd) {
    case XEN_DOMCTL_destroydomain: return permission(subj, ACM_PERM_DOMAIN_DESTROY, "destroy", target);
    case XEN_DOMCTL_pausedomain: return permission(subj, ACM_PERM_DOMAIN_PAUSE, "pause", target);
    case XEN_DOMCTL_unpausedomain: return permission(subj, ACM_PERM_DOMAIN_PAUSE, "unpause", target);
    case MOAT_DOMCTL_setsched: return permission(subj, ACM_PERM_DOMAIN_PAUSE, "setsched", target);
    case XEN_DOMCTL_setvcpuaffinity: return permission(subj, ACM_PERM_DOMAIN_PAUSE, "setvcpuaffinity", target);
    default: return permission(subj, 0, "domctl", target);
    }
}

int xsm_domctl_create(struct domain *subj, uint32_t ssidref)
{
    stats.hook[ACM_HOOK_PRIVILEGED].evaluations++;
    if (!acm_ext_may_any(&live, row_of(subj->ssidref), ACM_PERM_DOMAIN_CREATE)) {
        audit_deny(ACM_HOOK_PRIVILEGED, subj, "create", nothing());
        return -XEN_EPERM;
    }
    /* A creator may only create the labels its permissions name (and only labels). */
    if (!acm_ssidref_is_label(&live, ssidref) || !may(subj, ACM_PERM_DOMAIN_CREATE, ssidref)) {
        audit_deny(ACM_HOOK_PRIVILEGED, subj, "create-label", (struct audit_obj){.ssidref = ssidref});
        return -XEN_EPERM;
    }
    return 0;
}

int xsm_read_domain(struct domain *subj, struct domain *target)
{
    return subj == target ? 0 : permission(subj, ACM_PERM_READ_STATE, "read-state", target);
}

int xsm_watch_domains(struct domain *subj)
{
    stats.hook[ACM_HOOK_PRIVILEGED].evaluations++;
    if (acm_ext_may_any(&live, row_of(subj->ssidref), ACM_PERM_READ_STATE))
        return 0;
    audit_deny(ACM_HOOK_PRIVILEGED, subj, "watch", nothing());
    return -XEN_EPERM;
}

bool xsm_watch_sees(struct domain *watcher, uint32_t dead_ssidref)
{
    return may(watcher, ACM_PERM_READ_STATE, dead_ssidref);
}

int xsm_foreign_evtchn(struct domain *subj, struct domain *owner, bool write)
{
    if (subj == owner)
        return 0;
    return write ? permission(subj, ACM_PERM_FOREIGN_EVTCHN, "foreign-evtchn", owner)
                 : permission(subj, ACM_PERM_READ_STATE, "foreign-evtchn-status", owner);
}

int xsm_evtchn_unbound(struct domain *owner, struct domain *remote)
{
    return ste_check(ACM_HOOK_EVTCHN_UNBOUND, owner, remote);
}

int xsm_evtchn_interdomain(struct domain *subj, struct domain *rd) { return ste_check(ACM_HOOK_EVTCHN_BIND, subj, rd); }
int xsm_grant_mapref(struct domain *subj, struct domain *granter)
{
    return ste_check(ACM_HOOK_GRANT_MAP, subj, granter);
}

int xsm_grant_copy(struct domain *subj, struct domain *granter)
{
    return ste_check(ACM_HOOK_GRANT_COPY, subj, granter);
}

int xsm_grant_setup(struct domain *subj, struct domain *target)
{
    if (subj == target)
        return 0;
    /* Registering someone else's pages as their grant table is control over that domain. */
    if (permission(subj, ACM_PERM_FOREIGN_GNTTAB, "foreign-grant-setup", target))
        return -XEN_EACCES;
    return ste_check(ACM_HOOK_GRANT_SETUP, subj, target);
}

uint64_t xsm_ste_shared_types(const struct domain *a, const struct domain *b)
{
    uint32_t ra = ACM_SSIDREF_SECONDARY(a->ssidref), rb = ACM_SSIDREF_SECONDARY(b->ssidref);
    uint64_t types = 0;
    for (uint32_t t = 0; t < live.ste_types && t < 64; t++)
        if (acm_ste_has_type(&live, ra, t) && acm_ste_has_type(&live, rb, t))
            types |= 1ull << t;
    return types;
}

int xsm_grant_query(struct domain *subj, struct domain *target)
{
    return subj == target ? 0 : ste_check(ACM_HOOK_GRANT_SETUP, subj, target);
}

/* ---- loading a policy ---- */

unsigned xsm_label_count(void) { return live.chwall_ssidrefs; }

uint32_t xsm_quota_limit(uint32_t row, unsigned field) { return acm_ext_quota(&live, row, field); }

uint32_t xsm_sched_default(uint32_t ssidref, unsigned field)
{
    return acm_ext_sched(&live, row_of(ssidref), field);
}

void xsm_boot(void)
{
    for (unsigned i = 0; i < boot_info.module_count; i++) {
        const struct boot_module *m = &boot_info.modules[i];
        const uint8_t *b = phys_to_virt(m->start);
        if (!acm_policy_looks_like(b, m->end - m->start))
            continue;
        struct acm_policy_error err = {0};
        if (acm_policy_parse(b, m->end - m->start, &live, &err)) {
            printk("moat: the security policy (module %u) is malformed at offset %u (%s): %s\n", i, err.offset,
                   err.field, err.message);
            machine_stop(STOP_FAILURE);
        }
        if (!live.loadable) {
            printk("moat: the security policy '%s' has no Chinese Wall and STE parts to enforce\n",
                   policy_name(&live));
            machine_stop(STOP_FAILURE);
        }
        printk("mac: policy '%s' version %d.%d: %u chwall types, %u conflict sets, %u ste types, %u labels%s\n",
               policy_name(&live), live.xml_major, live.xml_minor, live.chwall_types, live.chwall_sets, live.ste_types,
               live.chwall_ssidrefs, live.has_ext ? ", label permissions" : "");
        measure_policy(b, m->end - m->start, live.name, live.xml_major, live.xml_minor, MEASURE_POLICY_BOOT);
        stats.policy_loads++;
        return;
    }
    printk("moat: no security policy module: the MAC policy is mandatory (see docs/mac.md)\n");
    machine_stop(STOP_FAILURE);
}

/* Revocations are audited one line each up to this many per policy change; the rest are counted. */
#define REVOKE_LINES 8

struct violations {
    const struct acm_policy_view *v;
    uint64_t guest_buf;
    uint32_t max, count;
    bool revoke;
    uint32_t revoked_evtchn, revoked_grants, revoked_virqs;
    bool fault;
    bool memo_valid, memo_share; /* sweep_share's last decision */
    uint32_t memo_a, memo_b;
};

static bool audit_revocation(const struct violations *vs)
{
    return vs->revoked_evtchn + vs->revoked_grants + vs->revoked_virqs < REVOKE_LINES;
}

/*
 * The revocation audit lines are deferred (console_defer): printed before the next console
 * output or when a CPU idles, not inside the relabel or policy load that revokes. A record
 * carries copies of the names, as they were when the revocation happened.
 */
enum revoke_kind { REVOKE_EVTCHN, REVOKE_GRANT, REVOKE_VIRQ };
struct revoke_record {
    uint8_t kind;
    domid_t a, b;
    uint32_t what; /* the port, or the grant handle */
    char a_name[DOMCTL_NAME_MAX], b_name[DOMCTL_NAME_MAX];
};
_Static_assert(sizeof(struct revoke_record) <= CONSOLE_DEFER_MAX, "a deferred console line's data");
_Static_assert(_Alignof(struct revoke_record) <= CONSOLE_DEFER_ALIGN, "written in place in the ring");

static void print_revocation(const void *data)
{
    const struct revoke_record *r = data;
    switch (r->kind) {
    case REVOKE_EVTCHN:
        printk("MAC revoke evtchn %u:%s port %u <-> %u:%s\n", r->a, r->a_name, r->what, r->b, r->b_name);
        break;
    case REVOKE_GRANT:
        printk("MAC revoke grant %u:%s handle %u of %u:%s\n", r->a, r->a_name, r->what, r->b, r->b_name);
        break;
    default:
        printk("MAC revoke virq %u:%s port %u VIRQ_DOM_EXC (no read_state)\n", r->a, r->a_name, r->what);
        break;
    }
}

/* Written in place in the console's ring, every field print_revocation reads. The names are
 * copied whole: a domain's name is NUL-terminated inside its array. */
static void audit_revoked(enum revoke_kind kind, const struct domain *a, uint32_t what, const struct domain *b)
{
    struct revoke_record *r = console_defer_begin(print_revocation);
    r->kind = (uint8_t)kind;
    r->a = a->domid;
    r->b = b->domid;
    r->what = what;
    __builtin_memcpy(r->a_name, a->name, sizeof(r->a_name));
    __builtin_memcpy(r->b_name, b->name, sizeof(r->b_name));
    console_defer_end();
}

/* The STE decision of a sweep for one pair of ssidrefs, remembered for the next item: a sweep
 * meets the same pair for each of a domain's mappings and channels to one peer. */
static bool sweep_share(struct violations *vs, uint32_t a, uint32_t b)
{
    if (!vs->memo_valid || vs->memo_a != a || vs->memo_b != b) {
        vs->memo_a = a;
        vs->memo_b = b;
        vs->memo_share = acm_ste_share(vs->v, a, b);
        vs->memo_valid = true;
    }
    return vs->memo_share;
}

static void violation(struct violations *vs, uint32_t code, uint32_t param)
{
    if (vs->guest_buf && vs->count < vs->max) {
        struct acm_violation e = {code, param};
        if (copy_to_guest(vs->guest_buf + vs->count * sizeof(e), &e, sizeof(e)))
            vs->fault = true;
    }
    vs->count++;
}

static void check_channel(struct domain *d, evtchn_port_t port, struct domain *rd, void *ctx)
{
    struct violations *vs = ctx;
    if (d->domid > rd->domid || sweep_share(vs, d->ssidref, rd->ssidref))
        return; /* the other end reports it, or allowed */
    if (vs->revoke) {
        if (audit_revocation(vs))
            audit_revoked(REVOKE_EVTCHN, d, port, rd);
        evtchn_revoke(d, port);
        vs->revoked_evtchn++;
    } else {
        violation(vs, ACM_EVTCHN_SHARING_VIOLATION, (uint32_t)d->domid << 16 | rd->domid);
    }
}

/* True: revoke this mapping (gnttab_for_each_mapping does, once this has audited it). */
static bool check_mapping(struct domain *mapper, grant_handle_t h, struct domain *granter, void *ctx)
{
    struct violations *vs = ctx;
    if (sweep_share(vs, mapper->ssidref, granter->ssidref))
        return false;
    if (!vs->revoke) {
        violation(vs, ACM_GNTTAB_SHARING_VIOLATION, (uint32_t)mapper->domid << 16 | granter->domid);
        return false;
    }
    if (audit_revocation(vs))
        audit_revoked(REVOKE_GRANT, mapper, h, granter);
    vs->revoked_grants++;
    return true;
}

/*
 * Standing privileges: what a domain was allowed once and keeps using without another check.
 * The only one is a VIRQ_DOM_EXC binding (read_state on at least one label). Everything else a
 * permission allows is checked on every call (domctl, foreign event-channel and grant-table
 * control, the policy ops), and the decision cache is purged on every change.
 */
static void check_privileges(struct violations *vs, struct domain *d)
{
    evtchn_port_t port = evtchn_virq_port(d, VIRQ_DOM_EXC);
    if (!port || acm_ext_may_any(vs->v, row_of(d->ssidref), ACM_PERM_READ_STATE))
        return;
    if (vs->revoke) {
        if (audit_revocation(vs))
            audit_revoked(REVOKE_VIRQ, d, port, d);
        evtchn_revoke_virq(d, VIRQ_DOM_EXC);
        vs->revoked_virqs++;
    } else {
        violation(vs, ACM_PRIVILEGE_VIOLATION, (uint32_t)d->domid << 16 | VIRQ_DOM_EXC);
    }
}

/* Walks all live sharing and standing privileges under vs->v: reports them (refuse) or takes
 * away what vs->v does not allow (revoke). */
static void sweep_sharing(struct violations *vs)
{
    struct domain *d;
    for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));) {
        evtchn_for_each_interdomain(d, check_channel, vs);
        gnttab_for_each_mapping(d, check_mapping, vs);
        check_privileges(vs, d);
    }
}

/* Problems no mode can fix: a running domain's label missing, or two running domains in conflict. */
static void check_domains(struct violations *vs, uint32_t *running, uint32_t *aggregate)
{
    /* Only the policy's own types: every use of the counts is bounded by its chwall_types, and
     * the whole ACM_MAX_TYPES arrays would be 32 KB to clear and copy on every load. */
    size_t bytes = MIN(vs->v->chwall_types, ACM_MAX_TYPES) * sizeof(uint32_t);
    memset(running, 0, bytes);
    memset(aggregate, 0, bytes);
    struct domain *d;
    for (uint64_t w = domain_live_slots(); (d = domain_next_live(&w));) {
        if (!acm_ssidref_is_label(vs->v, d->ssidref)) {
            violation(vs, ACM_SSIDREF_IN_USE, d->ssidref);
            continue;
        }
        uint32_t row = ACM_SSIDREF_PRIMARY(d->ssidref);
        long t = acm_chwall_conflict(vs->v, aggregate, row);
        if (t >= 0)
            violation(vs, ACM_CHWALL_CONFLICT, (uint32_t)t);
        acm_chwall_account(vs->v, running, aggregate, row, +1);
    }
}

static uint32_t scratch_running[ACM_MAX_TYPES], scratch_aggregate[ACM_MAX_TYPES];

/* A policy load's audit line (loaded, or refused for its violations), deferred like the
 * revocations it follows. The name is escaped when the record is made: the blob goes away. */
struct policy_record {
    char name[128];
    int32_t major, minor;
    uint8_t revoke_mode, loaded;
    uint32_t violations, evtchn, grants, virqs;
};
_Static_assert(sizeof(struct policy_record) <= CONSOLE_DEFER_MAX, "a deferred console line's data");

static void print_policy(const void *data)
{
    const struct policy_record *r = data;
    const char *mode = r->revoke_mode ? "revoke" : "refuse";
    if (!r->loaded)
        printk("mac: setpolicy '%s' refused: %u violations (%s mode)\n", r->name, r->violations, mode);
    else
        printk("mac: policy '%s' version %d.%d loaded (%s mode): revoked %u event channels, %u grant mappings, "
               "%u VIRQ bindings (the first %d audited above)\n",
               r->name, r->major, r->minor, mode, r->evtchn, r->grants, r->virqs, REVOKE_LINES);
}

static void audit_policy(const struct acm_policy_view *v, uint32_t mode, uint32_t violations,
                         const struct violations *revoked)
{
    struct policy_record r = {.major = v->xml_major, .minor = v->xml_minor,
                              .revoke_mode = mode == ACM_MODE_REVOKE, .loaded = revoked != NULL,
                              .violations = violations};
    str_escape(r.name, sizeof(r.name), v->name);
    if (revoked) {
        r.evtchn = revoked->revoked_evtchn;
        r.grants = revoked->revoked_grants;
        r.virqs = revoked->revoked_virqs;
    }
    console_defer(print_policy, &r, sizeof(r));
}

static long setpolicy(struct acm_setpolicy *sp)
{
    if (sp->mode != ACM_MODE_REFUSE && sp->mode != ACM_MODE_REVOKE) {
        stats.policy_refusals++;
        return -XEN_EINVAL;
    }
    if (sp->size < ACM_HEADER_SIZE || sp->size > ACM_MAX_SETPOLICY_SIZE) {
        stats.policy_refusals++;
        return sp->size < ACM_HEADER_SIZE ? -XEN_EINVAL : -XEN_E2BIG;
    }
    sp->nr_errors = sp->revoked_evtchn = sp->revoked_grants = sp->revoked_virqs = 0;

    /* Copy and validate the whole blob before anything changes. */
    int slot = live_slot == 0 ? 1 : 0;
    size_t pages = ALIGN_UP((size_t)sp->size, PAGE_SIZE) / PAGE_SIZE;
    uint8_t *buf = vmap_slot((unsigned)slot, pages);
    if (!buf)
        return -XEN_ENOMEM;
    long rc = 0;
    for (uint32_t off = 0; off < sp->size && !rc; off += 1u << 20)
        rc = copy_from_guest(buf + off, sp->buf + off, MIN(1u << 20, sp->size - off));
    struct acm_policy_view cand;
    struct acm_policy_error err = {0};
    if (!rc && acm_policy_parse(buf, sp->size, &cand, &err)) {
        printk("mac: setpolicy refused: malformed at offset %u (%s): %s\n", err.offset, err.field, err.message);
        rc = -XEN_EINVAL;
    } else if (!rc && (!cand.loadable || cand.primary_code != live.primary_code ||
                       cand.secondary_code != live.secondary_code)) {
        printk("mac: setpolicy refused: not a loadable policy of the running policy's type\n");
        rc = -XEN_EINVAL;
    }
    if (rc) {
        vunmap_slot((unsigned)slot, pages);
        stats.policy_refusals++;
        return rc;
    }

    struct violations vs = {.v = &cand, .guest_buf = sp->errors, .max = sp->max_errors};
    check_domains(&vs, scratch_running, scratch_aggregate);
    uint32_t hard = vs.count;
    if (!hard && sp->mode == ACM_MODE_REFUSE)
        sweep_sharing(&vs);
    sp->nr_errors = vs.count;
    if (vs.count) {
        audit_policy(&cand, sp->mode, vs.count, NULL);
        vunmap_slot((unsigned)slot, pages);
        stats.policy_refusals++;
        return vs.fault ? -XEN_EFAULT : -XEN_EBUSY;
    }

    /* Measured before it takes effect; a policy that cannot be measured is not loaded. */
    rc = measure_policy(buf, sp->size, cand.name, cand.xml_major, cand.xml_minor,
                        sp->mode == ACM_MODE_REVOKE ? MEASURE_POLICY_REVOKE : MEASURE_POLICY_REFUSE);
    if (rc) {
        printk("mac: setpolicy '%s' refused: it could not be measured (error %ld)\n", cand.name, rc);
        vunmap_slot((unsigned)slot, pages);
        stats.policy_refusals++;
        return rc;
    }

    /* Install, then take away what the new policy forbids. */
    if (live_slot >= 0)
        vunmap_slot((unsigned)live_slot, live_pages);
    live = cand;
    live_slot = slot;
    live_pages = pages;
    size_t bytes = MIN(live.chwall_types, ACM_MAX_TYPES) * sizeof(uint32_t); /* as check_domains */
    memcpy(running_types, scratch_running, bytes);
    memcpy(conflict_aggregate, scratch_aggregate, bytes);
    cache_purge(NULL);
    /* Refuse mode swept everything under this policy above and found nothing it forbids (under
     * the hypervisor lock, so nothing changed since): a revoking sweep would find nothing. */
    struct violations rv = {.v = &live, .revoke = true};
    if (sp->mode == ACM_MODE_REVOKE)
        sweep_sharing(&rv);
    link_policy_changed();
    quota_rebuild(); /* the new policy's rows and limits */
    sp->revoked_evtchn = rv.revoked_evtchn;
    sp->revoked_grants = rv.revoked_grants;
    sp->revoked_virqs = rv.revoked_virqs;
    stats.policy_loads++;
    stats.revoked_evtchn += rv.revoked_evtchn;
    stats.revoked_grants += rv.revoked_grants;
    stats.revoked_virqs += rv.revoked_virqs;
    audit_policy(&live, sp->mode, 0, &rv);
    return 0;
}

/* A relabel's audit line, deferred like the revocations it follows. */
struct relabel_record {
    domid_t domid;
    uint32_t old, new, evtchn, grants, virqs;
    char name[DOMCTL_NAME_MAX];
};
_Static_assert(sizeof(struct relabel_record) <= CONSOLE_DEFER_MAX, "a deferred console line's data");
_Static_assert(_Alignof(struct relabel_record) <= CONSOLE_DEFER_ALIGN, "written in place in the ring");

static void print_relabel(const void *data)
{
    const struct relabel_record *r = data;
    printk("mac: domain %u '%s' relabelled 0x%08x -> 0x%08x: revoked %u event channels, %u grant mappings, "
           "%u VIRQ bindings\n",
           r->domid, r->name, r->old, r->new, r->evtchn, r->grants, r->virqs);
}

static long relabel(struct domain *subj, struct acm_relabel *r)
{
    if (!acm_ssidref_is_label(&live, r->ssidref))
        return -XEN_EINVAL;
    struct domain *d = domain_by_id(r->domid);
    if (!d)
        return xsm_no_domain(subj, r->domid, -XEN_EPERM);
    /* One relabels only a domain one may see. */
    int rc = xsm_read_domain(subj, d);
    if (rc)
        return rc;
    uint32_t old = d->ssidref;
    acm_chwall_account(&live, running_types, conflict_aggregate, row_of(old), -1);
    if (acm_chwall_conflict(&live, conflict_aggregate, row_of(r->ssidref)) >= 0) {
        acm_chwall_account(&live, running_types, conflict_aggregate, row_of(old), +1);
        audit_deny(ACM_HOOK_DOMAIN_CREATE, subj, "relabel-chinese-wall", on(d));
        return -XEN_EPERM;
    }
    long mrc = measure_relabel(d, r->ssidref); /* before it takes effect */
    if (mrc) {
        acm_chwall_account(&live, running_types, conflict_aggregate, row_of(old), +1);
        return mrc;
    }
    acm_chwall_account(&live, running_types, conflict_aggregate, row_of(r->ssidref), +1);
    d->ssidref = r->ssidref;
    /* Decisions made about the old label, by anyone, and by the domain itself, no longer hold;
     * nor does anything its old label allowed it once: revoke what the new label forbids. */
    cache_purge(d);
    cache_forget(&d->xsm_cache, NULL);
    struct violations rv = {.v = &live, .revoke = true};
    sweep_sharing(&rv);
    link_policy_changed();
    quota_relabel(d); /* its charges move to its new label */
    r->revoked_evtchn = rv.revoked_evtchn;
    r->revoked_grants = rv.revoked_grants;
    r->revoked_virqs = rv.revoked_virqs;
    stats.revoked_evtchn += rv.revoked_evtchn;
    stats.revoked_grants += rv.revoked_grants;
    stats.revoked_virqs += rv.revoked_virqs;
    /* After its revocation lines, as they were made; written in place in the console's ring. */
    struct relabel_record *rec = console_defer_begin(print_relabel);
    rec->domid = d->domid;
    rec->old = old;
    rec->new = d->ssidref;
    rec->evtchn = rv.revoked_evtchn;
    rec->grants = rv.revoked_grants;
    rec->virqs = rv.revoked_virqs;
    __builtin_memcpy(rec->name, d->name, sizeof(rec->name));
    console_defer_end();
    return 0;
}

static long getssid(struct domain *subj, struct acm_getssid *g)
{
    uint32_t ssidref;
    if (g->get_by == ACM_GETBY_domainid && g->id == DOMID_SELF) {
        ssidref = subj->ssidref; /* one's own: no permission needed */
    } else if (g->get_by == ACM_GETBY_domainid) {
        struct domain *d = domain_by_id((domid_t)g->id);
        if (!d)
            return xsm_no_domain(subj, (domid_t)g->id, -XEN_EPERM);
        int rc = xsm_read_domain(subj, d);
        if (rc)
            return rc;
        ssidref = d->ssidref;
    } else if (g->get_by == ACM_GETBY_ssidref) {
        int rc = permission(subj, ACM_PERM_READ_STATE, "getssid", NULL);
        if (rc)
            return rc;
        if (!acm_ssidref_is_label(&live, g->id))
            return -XEN_EINVAL;
        ssidref = g->id;
    } else {
        return -XEN_EINVAL;
    }
    g->ssidref = ssidref;
    g->primary_row = ACM_SSIDREF_PRIMARY(ssidref);
    g->secondary_row = ACM_SSIDREF_SECONDARY(ssidref);
    g->primary_code = live.primary_code;
    g->secondary_code = live.secondary_code;
    return 0;
}

static long getdecision(struct acm_getdecision *g)
{
    if (!acm_ssidref_is_label(&live, g->ssidref1) || !acm_ssidref_is_label(&live, g->ssidref2))
        return -XEN_EINVAL;
    bool allow;
    switch (g->hook) {
    case ACM_HOOK_EVTCHN_UNBOUND:
    case ACM_HOOK_EVTCHN_BIND:
    case ACM_HOOK_GRANT_MAP:
    case ACM_HOOK_GRANT_COPY:
    case ACM_HOOK_GRANT_SETUP:
        allow = acm_ste_share(&live, g->ssidref1, g->ssidref2);
        break;
    case ACM_HOOK_DOMAIN_CREATE: {
        /* May the two run side by side? Neither's types may be barred by the other alone. */
        static uint32_t run[ACM_MAX_TYPES], agg[ACM_MAX_TYPES];
        memset(run, 0, sizeof(run));
        memset(agg, 0, sizeof(agg));
        acm_chwall_account(&live, run, agg, ACM_SSIDREF_PRIMARY(g->ssidref1), +1);
        allow = acm_chwall_conflict(&live, agg, ACM_SSIDREF_PRIMARY(g->ssidref2)) < 0;
        break;
    }
    default:
        return -XEN_EINVAL;
    }
    g->decision = allow ? ACM_ACCESS_PERMITTED : ACM_ACCESS_DENIED;
    return 0;
}

long do_xsm_op(uint64_t arg, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct domain *subj = current_domain();
    struct acm_op op;
    if (copy_from_guest(&op, arg, sizeof(op)))
        return -XEN_EFAULT;
    if (op.interface_version != ACM_INTERFACE_VERSION)
        return -XEN_EINVAL;
    long rc;
    switch (op.cmd) {
    case ACMOP_setpolicy:
        rc = permission(subj, ACM_PERM_POLICY_LOAD, "setpolicy", NULL);
        if (!rc)
            rc = setpolicy(&op.u.setpolicy);
        break;
    case ACMOP_relabeldoms:
        rc = permission(subj, ACM_PERM_POLICY_LOAD, "relabel", NULL);
        if (!rc)
            rc = relabel(subj, &op.u.relabel);
        break;
    case ACMOP_getpolicy:
        rc = permission(subj, ACM_PERM_READ_STATE, "getpolicy", NULL);
        if (rc)
            break;
        op.u.getpolicy.len = live.size;
        rc = op.u.getpolicy.size < live.size ? -XEN_ENOSPC : 0;
        for (uint32_t off = 0; !rc && off < live.size; off += 1u << 20)
            rc = copy_to_guest(op.u.getpolicy.buf + off, live.blob + off, MIN(1u << 20, live.size - off));
        if (rc == -XEN_ENOSPC && copy_to_guest(arg, &op, sizeof(op)))
            return -XEN_EFAULT;
        break;
    case ACMOP_getssid:
        rc = getssid(subj, &op.u.getssid);
        break;
    case ACMOP_getdecision:
        rc = permission(subj, ACM_PERM_READ_STATE, "getdecision", NULL);
        if (!rc)
            rc = getdecision(&op.u.getdecision);
        break;
    case ACMOP_dumpstats:
        rc = permission(subj, ACM_PERM_READ_STATE, "dumpstats", NULL);
        if (rc)
            break;
        rc = op.u.dumpstats.size < sizeof(stats) ? -XEN_ENOSPC
                                                 : copy_to_guest(op.u.dumpstats.buf, &stats, sizeof(stats));
        break;
    default:
        return -XEN_ENOSYS;
    }
    /* setpolicy reports its violation count and revocations even when it refuses. */
    if ((rc == 0 || op.cmd == ACMOP_setpolicy) && copy_to_guest(arg, &op, sizeof(op)))
        return -XEN_EFAULT;
    return rc;
}

/* ---- device assignment (public/device.h, docs/attestation.md) ---- */

static const char *const device_ops[2][DEVICE_COUNT] = {
    {[DEVICE_TPM] = "assign-tpm", [DEVICE_COM2] = "assign-com2"},
    {[DEVICE_TPM] = "access-tpm", [DEVICE_COM2] = "access-com2"},
};

/* The devices a label may be assigned: the policy extension's DEVICES section. */
int xsm_assign_device(struct domain *creator, uint32_t ssidref, const char *name, unsigned dev)
{
    stats.hook[ACM_HOOK_PRIVILEGED].evaluations++;
    if (dev < DEVICE_COUNT && (acm_ext_devices(&live, row_of(ssidref)) & DEVICE_BIT(dev)))
        return 0;
    audit_deny_as(ACM_HOOK_PRIVILEGED, "device", creator, dev < DEVICE_COUNT ? device_ops[0][dev] : "assign-?",
                  created(name, ssidref));
    return -1;
}

void xsm_device_denied(struct domain *d, unsigned dev)
{
    audit_deny_as(ACM_HOOK_PRIVILEGED, "device", d, dev < DEVICE_COUNT ? device_ops[1][dev] : "access-?", nothing());
}
