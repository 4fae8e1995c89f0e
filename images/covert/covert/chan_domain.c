// SPDX-License-Identifier: MIT
// The channels through domain creation: shared tables and counts that a creator's request
// depends on. The sender holds a child of its own (1) or not (0) from the start of the slot to
// three quarters of it; the receiver acts in the middle.
//   domid     both may create (labels tx, rx): the receiver creates a child, reads its domain
//             id and destroys it: the lowest free id, so one higher while the sender's child lives
//   exist     the receiver may do nothing (rx-plain): it asks getdomaininfo about the id the
//             sender's child gets (probe=ID) and times the refusal, which is -EPERM either way;
//             with probe=scan (when ids are unguessable, mitigate=domid) it asks about every id
//             from 64 up and counts those whose refusal took a little more or less time than a
//             free id's (printing an audit line takes thousands of counts more)
//   frames    both create large children: before t0 each finds the largest child it can create
//             (the sender first, the receiver after t0/2) and uses 60 % of that, so the
//             receiver's fits only when the sender's does not exist; measures the create's result
//   domtable  the sender first fills the domain table but for one entry; its child takes the
//             last one (1) or not (0); the receiver's create fails with -ENOSPC or not
//   chwall    the sender creates a domain of label rival-c (Chinese Wall type bank-c), the
//             receiver tries one of probe-a (bank-a, in the same conflict set): -EPERM or not
#include "covert.h"
#include "embedded_policies.h"

static unsigned long auto_kib; /* frames: the size set-up chose */

static unsigned long child_kib(void) { return auto_kib ? auto_kib : cmdline_ulong("kib", 192); }

static uint64_t middle(uint64_t start, uint64_t end) { return start + (end - start) / 2; }

/* The sender's part of every channel here, with the label of its child. */
static void hold_child(bool bit, uint64_t start, uint64_t end, uint32_t ssidref)
{
    static bool said;
    domid_t id = DOMID_INVALID;
    long rc = bit ? create_child(ssidref, child_kib(), "tx-child", &id) : -1;
    if (bit && rc && !said) { /* the sender can do no more than try (a mitigation stops it) */
        printf("covert: send: creating a child failed: %ld (said once)\n", rc);
        said = true;
    }
    sleep_until(start + 3 * (end - start) / 4);
    if (rc == 0)
        destroy_child(id);
    sleep_until(end);
}

static void send_own(bool bit, uint64_t start, uint64_t end) { hold_child(bit, start, end, start_info->ssidref); }

/* The receiver's create in the middle of the slot: the result, and the child destroyed at once. */
static long probe_create(uint64_t start, uint64_t end, uint32_t ssidref, domid_t *id)
{
    sleep_until(middle(start, end));
    domid_t got = DOMID_INVALID;
    long rc = create_child(ssidref, child_kib(), "rx-probe", &got);
    if (rc == 0)
        destroy_child(got);
    if (id)
        *id = got;
    return rc;
}

static uint64_t measure_domid(uint64_t start, uint64_t end)
{
    domid_t id;
    long rc = probe_create(start, end, start_info->ssidref, &id);
    if (rc)
        fail("receiver: creating a child: %ld", rc);
    return id;
}

const struct channel chan_domid = {.name = "domid", .send = send_own, .measure = measure_domid};

/* -errno as a measurement: 0 for success, 12 for -ENOMEM, 28 for -ENOSPC, 1 for -EPERM. */
static uint64_t measure_create(uint64_t start, uint64_t end)
{
    return (uint64_t)-probe_create(start, end, start_info->ssidref, NULL);
}

/* The largest child this domain can create now, to 256 KiB: doubling, then halving the step. */
static unsigned long largest_child(void)
{
    unsigned long ok = 0, step = 256;
    for (unsigned long kib = step; kib <= GUEST_RAM_MAX / 1024; kib *= 2) {
        domid_t id;
        if (create_child(start_info->ssidref, kib, "tx-probe", &id))
            break;
        destroy_child(id);
        ok = kib;
    }
    for (step = ok / 2; step >= 256; step /= 2) {
        domid_t id;
        if (create_child(start_info->ssidref, ok + step, "tx-probe", &id) == 0) {
            destroy_child(id);
            ok += step;
        }
    }
    return ok;
}

/* Each end sizes its children from what it can create, the receiver after the sender's search. */
static long frames_setup(bool sender)
{
    if (!sender)
        sleep_until(cmdline_ulong("t0", 50) * NS_PER_MS / 2);
    unsigned long largest = largest_child();
    if (largest < 512)
        return -XEN_ENOMEM;
    auto_kib = largest * 6 / 10 / 4 * 4;
    printf("covert: frames: largest child %lu KiB, using %lu KiB\n", largest, auto_kib);
    return 0;
}

const struct channel chan_frames = {.name = "frames", .setup = frames_setup, .send = send_own, .measure = measure_create};

/* exist: the fewest TSC counts of a refused getdomaininfo of the probed id, over a few tries. */
#define EXIST_TRIES 8
static uint64_t timed_refusal(domid_t probe)
{
    struct moat_domctl_info info;
    uint64_t t0 = rdtsc();
    long rc = domctl_getinfo(probe, &info);
    uint64_t t = rdtsc() - t0;
    if (rc != -XEN_EPERM)
        fail("receiver: getdomaininfo(%u) answered %ld, not -EPERM", probe, rc);
    return t;
}

static bool scan;          /* probe=scan */
static uint64_t free_time; /* scan: the time of a refusal about a free id */

/* Each refusal is audited; the first 64 lines of a domain are printed at once, the rest at 20 a
 * second. The receiver uses up that burst first: the lines it prints would drown the signal. */
static long exist_setup(bool sender)
{
    char probe[8] = "";
    cmdline_get("probe", probe, sizeof(probe));
    scan = !strcmp(probe, "scan");
    for (unsigned i = 0; !sender && i < 80; i++)
        timed_refusal(scan ? 0 : (domid_t)cmdline_ulong("probe", 2));
    free_time = UINT64_MAX;
    for (unsigned i = 0; !sender && scan && i < EXIST_TRIES; i++) {
        uint64_t t = timed_refusal((domid_t)(MOAT_MAX_DOMAINS + i)); /* free, but for a 1 in 4000 chance */
        if (t < free_time)
            free_time = t;
    }
    return 0;
}

/* scan: the ids from 64 up whose refusal took a little more or less time than a free id's (under
 * icount those times are exact; the one refusal in 50 ms that is printed takes far longer). */
static uint64_t scan_ids(uint64_t start, uint64_t end)
{
    sleep_until(start + (end - start) / 8);
    uint64_t found = 0;
    for (unsigned id = MOAT_MAX_DOMAINS; id < DOMID_FIRST_RESERVED; id++) {
        uint64_t t = timed_refusal((domid_t)id);
        found += t != free_time && t < free_time + 200 && t + 200 > free_time;
    }
    return found;
}

static uint64_t measure_exist(uint64_t start, uint64_t end)
{
    if (scan)
        return scan_ids(start, end);
    domid_t probe = (domid_t)cmdline_ulong("probe", 2);
    sleep_until(middle(start, end));
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i < EXIST_TRIES; i++) {
        uint64_t t = timed_refusal(probe);
        if (t < best)
            best = t;
    }
    return best;
}

const struct channel chan_exist = {.name = "exist", .setup = exist_setup, .send = send_own, .measure = measure_exist};

/* domtable: the sender's fillers, created before t0 and destroyed after the last slot. */
static domid_t fillers[MOAT_MAX_DOMAINS];
static unsigned nr_fillers;

static long fill_table(bool sender)
{
    if (!sender)
        return 0;
    for (;;) {
        domid_t id;
        long rc = create_child(start_info->ssidref, child_kib(), "tx-filler", &id);
        if (rc == -XEN_ENOSPC)
            break;
        if (rc)
            return rc;
        if (nr_fillers == ARRAY_SIZE(fillers))
            return -XEN_E2BIG;
        fillers[nr_fillers++] = id;
    }
    if (nr_fillers == 0)
        return -XEN_ENOSPC;
    destroy_child(fillers[--nr_fillers]); /* the one entry the bits take or leave */
    printf("covert: domtable: %u fillers\n", nr_fillers);
    return 0;
}

static void empty_table(bool sender)
{
    if (sender)
        while (nr_fillers)
            destroy_child(fillers[--nr_fillers]);
}

const struct channel chan_domtable = {
    .name = "domtable", .setup = fill_table, .send = send_own, .measure = measure_create, .teardown = empty_table,
};

static void send_rival(bool bit, uint64_t start, uint64_t end)
{
    hold_child(bit, start, end, COVERT_POLICY_SSID_RIVAL_C);
}

static uint64_t measure_chwall(uint64_t start, uint64_t end)
{
    return (uint64_t)-probe_create(start, end, COVERT_POLICY_SSID_PROBE_A, NULL);
}

const struct channel chan_chwall = {.name = "chwall", .send = send_rival, .measure = measure_chwall};
