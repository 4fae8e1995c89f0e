/* SPDX-License-Identifier: MIT */
/* Freestanding basic types: gcc's own stdint/stddef/stdbool, plus the few helpers everyone needs. */
#ifndef MOAT_TYPES_H
#define MOAT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t paddr_t;
typedef uint64_t vaddr_t;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The attribute rather than C11 _Noreturn: the same for the compilers, and cppcheck 2.10 knows only
 * the attribute (with _Noreturn it reads every BUG_ON(!p) as "p may be NULL below"). */
#define noreturn __attribute__((__noreturn__))
#define noinline __attribute__((noinline))
#define unused __attribute__((unused))
#define packed __attribute__((packed))
#define aligned(n) __attribute__((aligned(n)))
#define section(s) __attribute__((section(s)))
#define printf_like(f, a) __attribute__((format(printf, f, a)))
/*
 * A function that keeps no frame-pointer link (the build keeps one everywhere, for backtraces):
 * only for a noreturn function entered from assembly that has cleared rbp, whose own link would
 * end the chain anyway (its callees' frames still name it by their return addresses). GCC only:
 * the attribute is GCC's, and clang (the second compiler of `moat check`) does not take it.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_FRAME_POINTER __attribute__((optimize("omit-frame-pointer")))
#else
#define NO_FRAME_POINTER
#endif

#endif
