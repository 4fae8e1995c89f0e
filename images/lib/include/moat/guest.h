/* SPDX-License-Identifier: MIT */
/*
 * The guest runtime: start-up, the start-info and shared-info pages, and how a guest ends.
 *
 * A guest defines exactly one entry point:
 *   - test images (images/tests/): void test_main(void), see moat/test.h;
 *   - other images (images/demo/):  int main(const struct start_info *si); returning 0 shuts the
 *     domain down with reason poweroff, anything else with reason crash.
 */
#ifndef MOAT_GUEST_GUEST_H
#define MOAT_GUEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <public/hv.h>

#include <moat/console.h>
#include <moat/hypercall.h>
#include <moat/printf.h>
#include <moat/string.h>
#include <moat/time.h>

extern const struct start_info *start_info;
extern struct shared_info *shared_info;
extern uint64_t start_rsp; /* rsp as the hypervisor entered _start */

/* The multiboot module index of the image called name (start_info.image_names), or -1. */
int find_image(const char *name);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Flushes the console and shuts down: poweroff for status 0, crash otherwise. */
__attribute__((noreturn)) void exit(int status);

/* Prints "PANIC: <message>" and shuts down with reason crash. */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* The value of key=value in the command line (words separated by spaces), copied into buf. */
bool cmdline_get(const char *key, char *buf, size_t size);
/* The number (decimal or 0x-hex) given as key=N, or dflt when absent or malformed. */
unsigned long cmdline_ulong(const char *key, unsigned long dflt);
/* Whether the command line holds the word `word` (exactly, or as `word=...`). */
bool cmdline_has(const char *word);

/* Compiler barrier: keeps the compiler from caching memory across it. */
#define barrier() __asm__ volatile("" ::: "memory")

#endif
