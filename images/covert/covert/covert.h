/* SPDX-License-Identifier: MIT */
/*
 * Covert-channel pairs (docs/covert-channels.md, `moat covert`). One image plays every part,
 * chosen by its command line:
 *
 *   role=send chan=NAME seed=S n=N t0=MS slot=US [...]   encodes the preamble and N bits
 *   role=recv chan=NAME n=N t0=MS slot=US [...]          measures one value per slot
 *   role=child                                           a created domain: blocks until destroyed
 *   role=high secret=X / role=low                        the noninterference pair (ni.c)
 *
 * Time is cut into slots of `slot` microseconds from system time `t0` milliseconds: slot i
 * carries bit i, the preamble's 16 bits first (known to both, so the decoder can find its
 * threshold), then N pseudo-random bits from `seed` (xorshift64; tools/moat/covert/pairs.py
 * computes the same). The two ends share nothing but the clock every domain reads. The
 * receiver keeps one number per slot and prints them at the end:
 *
 *   covert: recv chan=NAME slots=M tsc0=T tsc1=T ns0=NS ns1=NS
 *   covert: m FIRST V V V ...        (ten values a line)
 *   covert: done
 *
 * and the tool decodes them. A receiver that starts after t0 prints `covert: error: late` and
 * one that never sees its sender (sync=wait: it waits for the preamble's first edge) prints
 * `covert: timeout: ...` when its wait ends.
 */
#ifndef COVERT_H
#define COVERT_H

#include <moat/guest.h>

#define PREAMBLE_BITS 16
#define PREAMBLE 0xa5a5u /* sent most significant bit first */

struct channel {
    const char *name;
    /* Once, before t0 (may be NULL). Returns 0, or a negative error that ends the run. */
    long (*setup)(bool sender);
    /* The sender: encode bit in slot [start, end) (system time, ns); returns by about end. */
    void (*send)(bool bit, uint64_t start, uint64_t end);
    /* The receiver: one measurement of slot [start, end). */
    uint64_t (*measure)(uint64_t start, uint64_t end);
    /* After the last slot (may be NULL): gives back what setup took. */
    void (*teardown)(bool sender);
};

extern const struct channel chan_cpu, chan_timer, chan_tick, chan_console;
extern const struct channel chan_domid, chan_exist, chan_frames, chan_domtable, chan_chwall;

/* Spins (no hypercall) until system time deadline. */
void spin_until(uint64_t deadline);
/* A child domain of this image (role=child) with this label and size; 0 or -errno. */
long create_child(uint32_t ssidref, unsigned long kib, const char *name, domid_t *id);
/* Destroys a child; a failure ends the run (the pair would go on measuring garbage). */
void destroy_child(domid_t id);
/* The error exit: prints `covert: error: ...` and crashes the domain. */
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);

int ni_high(void);
int ni_low(void);

#endif
