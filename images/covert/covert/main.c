// SPDX-License-Identifier: MIT
// The covert-channel pairs' protocol: parameters, slots, the sender's bits, the receiver's
// measurements (covert.h says what each part does and prints).
#include "covert.h"

static const struct channel *const channels[] = {
    &chan_cpu, &chan_timer, &chan_tick, &chan_console, &chan_domid,
    &chan_exist, &chan_frames, &chan_domtable, &chan_chwall,
};

#define MAX_SLOTS 2048u
static uint64_t values[MAX_SLOTS];

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("covert: error: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(1);
}

/* No `pause` in the loop: QEMU's TCG leaves its translated code at every one (it lets another
 * vCPU run), which made a spinning sender cost five times the host time of its spin. The
 * receiver's measurements and so every figure of `moat covert` are the same without it. */
void spin_until(uint64_t deadline)
{
    while (now_ns() < deadline)
        ;
}

long create_child(uint32_t ssidref, unsigned long kib, const char *name, domid_t *id)
{
    static int image = -2;
    if (image == -2)
        image = find_image("covert");
    if (image < 0)
        fail("the covert image is not among the boot modules");
    struct domctl_create_args a = {
        .image = (uint32_t)image, .memory_kib = (uint32_t)kib, .ssidref = ssidref,
        .name = name, .cmdline = "role=child",
    };
    return domctl_create(&a, id);
}

void destroy_child(domid_t id)
{
    long rc = domctl_destroy(id);
    if (rc)
        fail("destroying child %u: %ld", id, rc);
}

/* The bit string: xorshift64 from the seed (the tool computes the same). */
static uint64_t prng;

static bool next_bit(void)
{
    prng ^= prng << 13;
    prng ^= prng >> 7;
    prng ^= prng << 17;
    return prng >> 63;
}

static bool slot_bit(unsigned i)
{
    if (i < PREAMBLE_BITS)
        return (PREAMBLE >> (PREAMBLE_BITS - 1 - i)) & 1;
    return next_bit();
}

static const struct channel *find_channel(void)
{
    char name[32];
    if (!cmdline_get("chan", name, sizeof(name)))
        fail("no chan= on the command line");
    for (unsigned i = 0; i < ARRAY_SIZE(channels); i++)
        if (!strcmp(channels[i]->name, name))
            return channels[i];
    fail("unknown channel '%s'", name);
}

static int run_sender(const struct channel *ch, unsigned slots, uint64_t t0, uint64_t slot)
{
    prng = cmdline_ulong("seed", 1);
    if (!prng)
        fail("seed=0: xorshift needs a seed other than 0");
    unsigned lead = (unsigned)cmdline_ulong("lead", 0); /* zero slots before the preamble (sync=wait) */
    for (unsigned i = 0; i < lead + slots; i++) {
        uint64_t start = t0 + i * slot;
        sleep_until(start);
        ch->send(i < lead ? false : slot_bit(i - lead), start, start + slot);
    }
    printf("covert: send chan=%s slots=%u done\n", ch->name, slots);
    return 0;
}

/* sync=wait: the first slot is the baseline; the sender has started when a slot differs. */
static long wait_for_edge(const struct channel *ch, uint64_t t0, uint64_t slot, unsigned limit, uint64_t *start)
{
    uint64_t base = 0;
    for (unsigned i = 0; limit == 0 || i < limit; i++) {
        uint64_t s = t0 + i * slot;
        sleep_until(s);
        /* The baseline slot is measured from when the receiver woke: that wake-up's lateness (up
         * to a tick, by where the tick falls against the slot) is its own, not a sender's, and no
         * later slot has one (each starts where the previous measurement ended). */
        uint64_t now = now_ns(), from = i == 0 && now > s ? now : s;
        uint64_t v = ch->measure(from, s + slot);
        if (i == 0) {
            base = v;
        } else if (v != base) {
            *start = s; /* this slot was the preamble's first bit */
            values[0] = v;
            return 1;
        }
    }
    return 0;
}

static int run_receiver(const struct channel *ch, unsigned slots, uint64_t t0, uint64_t slot)
{
    unsigned first = 0;
    char sync[16] = "clock";
    cmdline_get("sync", sync, sizeof(sync));
    uint64_t tsc0 = rdtsc(), ns0 = now_ns();
    if (!strcmp(sync, "wait")) {
        unsigned limit = (unsigned)cmdline_ulong("wait", 64);
        if (!wait_for_edge(ch, t0, slot, limit, &t0)) {
            printf("covert: timeout: chan=%s: no edge from the sender in %u slots\n", ch->name, limit);
            return 0;
        }
        first = 1;
        tsc0 = rdtsc();
        ns0 = t0;
    }
    for (unsigned i = first; i < slots; i++) {
        uint64_t start = t0 + i * slot;
        sleep_until(start);
        if (i == 0) {
            tsc0 = rdtsc();
            ns0 = now_ns();
        }
        values[i] = ch->measure(start, start + slot);
    }
    sleep_until(t0 + slots * slot);
    uint64_t tsc1 = rdtsc(), ns1 = now_ns();
    printf("covert: recv chan=%s slots=%u tsc0=%lu tsc1=%lu ns0=%lu ns1=%lu\n", ch->name, slots,
           (unsigned long)tsc0, (unsigned long)tsc1, (unsigned long)ns0, (unsigned long)ns1);
    for (unsigned i = 0; i < slots; i += 10) {
        printf("covert: m %u", i);
        for (unsigned k = i; k < slots && k < i + 10; k++)
            printf(" %lu", (unsigned long)values[k]);
        printf("\n");
    }
    printf("covert: done\n");
    return 0;
}

int main(const struct start_info *si)
{
    (void)si;
    char role[16] = "";
    cmdline_get("role", role, sizeof(role));
    if (!strcmp(role, "child"))
        for (;;)
            sched_block();
    if (!strcmp(role, "high"))
        return ni_high();
    if (!strcmp(role, "low"))
        return ni_low();
    bool sender = !strcmp(role, "send");
    if (!sender && strcmp(role, "recv"))
        fail("role=%s: expected send, recv, child, high or low", role);

    const struct channel *ch = find_channel();
    unsigned slots = PREAMBLE_BITS + (unsigned)cmdline_ulong("n", 64);
    uint64_t t0 = cmdline_ulong("t0", 50) * NS_PER_MS, slot = cmdline_ulong("slot", 20000) * NS_PER_US;
    if (slots > MAX_SLOTS || slot == 0)
        fail("n= at most %u, slot= at least 1", MAX_SLOTS - PREAMBLE_BITS);
    if (ch->setup) {
        long rc = ch->setup(sender);
        if (rc)
            fail("chan=%s: set-up failed: %ld", ch->name, rc);
    }
    if (now_ns() >= t0)
        fail("late: system time %lu ns is past t0=%lu ns (set-up took too long?)", (unsigned long)now_ns(),
             (unsigned long)t0);
    int rc = sender ? run_sender(ch, slots, t0, slot) : run_receiver(ch, slots, t0, slot);
    if (ch->teardown)
        ch->teardown(sender);
    return rc;
}
