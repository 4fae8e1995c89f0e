// SPDX-License-Identifier: MIT
// Hypercall fuzzer: thousands of hypercalls with random numbers, commands and hostile arguments
// (NULL, unmapped, read-only, hypervisor, non-canonical and straddling addresses, huge sizes,
// and buffers of random bytes). The hypervisor must answer every one with an error or a result
// and go on; the scenario's other domains must finish undisturbed, and no frame may leak.
//   seed=N calls=N
// Calls that would legitimately end or stall this guest are not made: iret (it would jump to a
// random frame), set_callbacks (a random callback), SCHEDOP_block/poll/send_poll/shutdown, VCPUOP_down (it
// could take down the fuzzer's own vCPU), and the grant copy/setup_table ops that write into the
// caller's own pages.
//
// At the end it reports what it saw, for `moat soak` and the tests: the calls made and every
// distinct (op, result) pair, where op is the hypercall number, with ".<cmd>" for the hypercalls
// whose first argument is a command (".*" for a command above 15), and result is 0, "+" (any
// positive value) or the negative error code:
//   hcfuzz: seed S: N hypercalls, E errors (X ENOSYS), P (op, result) pairs, still running
//   hcfuzz: pairs OP: R R R ...        (as many lines as it takes)
#include <moat/test.h>
#include <public/event_channel.h>
#include <public/grant_table.h>
#include <public/sched.h>
#include <public/vcpu.h>

#define FUZZ_BUF 65536
#define SLACK 8192 /* results written back at the buffer's end land here, not on our globals */
#define MAX_BATCH 64 /* 64 grant ops of at most 40 bytes fit the slack */

static uint8_t fuzz_buf[FUZZ_BUF + SLACK] __attribute__((aligned(4096)));
static uint64_t rng;

/* Which (op, result) pairs were seen, one bit each. op: the hypercall number (48 for any number
 * from MOAT_NR_HYPERCALLS up) and a command slot (0-15, or 16: above 15 or no command). result:
 * 0, positive, -1 .. -128, or below -128. */
#define OP_NUMBERS (MOAT_NR_HYPERCALLS + 1)
#define CMD_SLOTS 17
#define RESULTS 131
static uint8_t seen[OP_NUMBERS * CMD_SLOTS][(RESULTS + 7) / 8];

static bool takes_command(uint64_t nr)
{
    switch (nr) {
    case __HYPERVISOR_memory_op:
    case __HYPERVISOR_xen_version:
    case __HYPERVISOR_console_io:
    case __HYPERVISOR_grant_table_op:
    case __HYPERVISOR_sched_op:
    case __HYPERVISOR_event_channel_op:
    case __HYPERVISOR_vcpu_op:
        return true;
    default:
        return false;
    }
}

static unsigned result_slot(long rc)
{
    if (rc >= 0)
        return rc > 0;
    return rc >= -128 ? 1 + (unsigned)-rc : RESULTS - 1;
}

static unsigned record(uint64_t nr, uint64_t a1, long rc)
{
    unsigned number = nr < MOAT_NR_HYPERCALLS ? (unsigned)nr : MOAT_NR_HYPERCALLS;
    unsigned cmd = takes_command(nr) && a1 < CMD_SLOTS - 1 ? (unsigned)a1 : CMD_SLOTS - 1;
    unsigned op = number * CMD_SLOTS + cmd, r = result_slot(rc);
    unsigned fresh = !(seen[op][r / 8] & (1u << (r % 8)));
    seen[op][r / 8] |= (uint8_t)(1u << (r % 8));
    return fresh;
}

/* One line per op (more when it is long): "hcfuzz: pairs 20.0: -22 -14 0". */
static void print_pairs(void)
{
    for (unsigned op = 0; op < OP_NUMBERS * CMD_SLOTS; op++) {
        unsigned number = op / CMD_SLOTS, cmd = op % CMD_SLOTS;
        char name[16];
        if (number == MOAT_NR_HYPERCALLS)
            snprintf(name, sizeof(name), "%u+", number);
        else if (!takes_command(number))
            snprintf(name, sizeof(name), "%u", number);
        else if (cmd == CMD_SLOTS - 1)
            snprintf(name, sizeof(name), "%u.*", number);
        else
            snprintf(name, sizeof(name), "%u.%u", number, cmd);
        unsigned on_line = 0;
        for (unsigned r = 0; r < RESULTS; r++) {
            if (!(seen[op][r / 8] & (1u << (r % 8))))
                continue;
            if (on_line == 0)
                printf("hcfuzz: pairs %s:", name);
            if (r == 0)
                printf(" 0");
            else if (r == 1)
                printf(" +");
            else if (r == RESULTS - 1)
                printf(" <-128");
            else
                printf(" -%u", r - 1);
            if (++on_line == 20) {
                printf("\n");
                on_line = 0;
            }
        }
        if (on_line)
            printf("\n");
    }
}

static uint64_t next(void)
{
    /* xorshift64*: deterministic for a seed, so a failure can be replayed. */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t pick_pointer(void)
{
    uint64_t ram_end = GUEST_RAM_VA + start_info->nr_pages * GUEST_PAGE_SIZE;
    const uint64_t hostile[] = {
        0,
        1,
        0x1000,                            /* unmapped, below the info pages */
        GUEST_START_INFO_VA,               /* read-only */
        GUEST_START_INFO_VA + 4090,        /* read-only, straddling into shared-info */
        0x200000,                          /* unmapped */
        ram_end - 8,                       /* straddles the end of guest RAM */
        ram_end,                           /* just past it */
        GUEST_GRANT_VA,                    /* nothing mapped there */
        0x00007ffffffff000ULL,             /* top of the user half */
        0x0000800000000000ULL,             /* non-canonical */
        0xffff800000000000ULL,             /* the direct map */
        0xffffffff80100000ULL,             /* the hypervisor image */
        0xfffffffffffff000ULL,             /* wraps */
        next(),                            /* anything */
    };
    if (next() % 3 == 0)
        return hostile[next() % (sizeof(hostile) / sizeof(hostile[0]))];
    /* Somewhere in our own random buffer, right up to its end. */
    return (uint64_t)fuzz_buf + next() % FUZZ_BUF;
}

static uint64_t pick_value(void)
{
    switch (next() % 6) {
    case 0: return next() % 16;
    case 1: return next() % 4096;
    case 2: return (uint64_t)-1 - next() % 4;
    case 3: return 1ULL << (next() % 64);
    case 4: return pick_pointer();
    default: return next();
    }
}

/* Would this call end or stall the fuzzer itself (see the header)? */
static bool excluded(uint64_t nr, uint64_t a1)
{
    switch (nr) {
    case __HYPERVISOR_iret:
    case __HYPERVISOR_set_callbacks:
        return true;
    case __HYPERVISOR_sched_op:
        return a1 == SCHEDOP_block || a1 == SCHEDOP_poll || a1 == SCHEDOP_send_poll || a1 == SCHEDOP_shutdown;
    case __HYPERVISOR_grant_table_op:
        return a1 == GNTTABOP_copy || a1 == GNTTABOP_setup_table;
    case __HYPERVISOR_vcpu_op:
        return a1 == VCPUOP_down;
    default:
        return false;
    }
}

void test_main(void)
{
    rng = cmdline_ulong("seed", 1) * 0x9e3779b97f4a7c15ULL | 1;
    unsigned long calls = cmdline_ulong("calls", 10000);
    unsigned long made = 0, errors = 0, enosys = 0, pairs = 0;

    for (unsigned long i = 0; made < calls; i++) {
        if (i % 64 == 0) /* fresh garbage for the structures the hypervisor reads */
            for (unsigned w = 0; w < FUZZ_BUF / 8; w++)
                ((uint64_t *)fuzz_buf)[w] = next();
        static const uint64_t implemented[] = {
            __HYPERVISOR_set_callbacks, __HYPERVISOR_memory_op,      __HYPERVISOR_set_timer_op,
            __HYPERVISOR_xen_version,   __HYPERVISOR_console_io,     __HYPERVISOR_grant_table_op,
            __HYPERVISOR_iret,          __HYPERVISOR_xsm_op,         __HYPERVISOR_sched_op,
            __HYPERVISOR_event_channel_op, __HYPERVISOR_domctl,     __HYPERVISOR_vcpu_op,
        };
        /* Mostly the implemented calls (that is where the bugs would be), sometimes anything. */
        uint64_t nr = next() % 8 == 0 ? (next() % 4 ? next() % MOAT_NR_HYPERCALLS : next())
                                      : implemented[next() % (sizeof(implemented) / sizeof(implemented[0]))];
        uint64_t a1 = next() % 2 ? next() % 16 : pick_value();
        uint64_t a2 = pick_value(), a3 = pick_value(), a4 = pick_value(), a5 = pick_value();
        if (excluded(nr, a1))
            continue;
        if (nr == __HYPERVISOR_console_io)
            a2 %= 48; /* keep the log readable: garbage is sanitized, but need not be long */
        if (nr == __HYPERVISOR_grant_table_op && a3 > MAX_BATCH && a3 <= GNTTAB_MAX_BATCH)
            a3 %= MAX_BATCH; /* a valid but long batch would write its statuses past the slack */
        long rc = hypercall5(nr, a1, a2, a3, a4, a5);
        made++;
        errors += rc < 0;
        enosys += rc == -XEN_ENOSYS;
        pairs += record(nr, a1, rc);
    }
    printf("\nhcfuzz: seed %lu: %lu hypercalls, %lu errors (%lu ENOSYS), %lu (op, result) pairs, still running\n",
           cmdline_ulong("seed", 1), made, errors, enosys, pairs);
    print_pairs();
    xtf_check(errors > made / 2, "most random hypercalls should be refused (%lu of %lu were)", errors, made);
    xtf_success(NULL);
}
