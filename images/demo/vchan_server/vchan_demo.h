/* SPDX-License-Identifier: MIT */
/* What the vchan demo pair agrees on: the stream (xorshift64, each state's 8 bytes little-endian)
 * and its checksum (FNV-1a over the stream's 64-bit words). Lengths are multiples of 8. Each
 * takes the stream a word at a time: a byte at a time, filling, comparing and hashing 16 MiB was
 * most of the demo's time under TCG, beside the vchan work it shows. */
#ifndef VCHAN_DEMO_H
#define VCHAN_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEMO_BYTES (16u << 20)
#define DEMO_SEED 0x9e3779b97f4a7c15ull
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static inline uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p + i, 8);
        h = (h ^ w) * FNV_PRIME;
    }
    return h;
}

static inline uint64_t stream_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Fills p with the next n bytes of the stream. */
static inline void stream_fill(uint64_t *state, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = stream_next(state);
        __builtin_memcpy(p + i, &x, 8);
    }
}

/* Whether p holds the next n bytes of the stream (which moves past them either way). */
static inline bool stream_matches(uint64_t *state, const uint8_t *p, size_t n)
{
    bool same = true;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p + i, 8);
        same &= w == stream_next(state);
    }
    return same;
}

#endif
