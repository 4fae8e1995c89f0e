/* SPDX-License-Identifier: MIT */
/* What the vchan demo pair agrees on: the stream (xorshift64 bytes) and its checksum (FNV-1a). */
#ifndef VCHAN_DEMO_H
#define VCHAN_DEMO_H

#include <stddef.h>
#include <stdint.h>

#define DEMO_BYTES (16u << 20)
#define DEMO_SEED 0x9e3779b97f4a7c15ull
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static inline uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

/* Fills p with the next n bytes of the stream (n a multiple of 8). */
static inline void stream_fill(uint64_t *state, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        for (unsigned b = 0; b < 8; b++)
            p[i + b] = (uint8_t)(x >> (8 * b));
    }
}

#endif
