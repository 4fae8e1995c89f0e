/* SPDX-License-Identifier: MIT */
/* The string functions guests need; the C library's names and semantics (strlcpy: BSD's). */
#ifndef MOAT_GUEST_STRING_H
#define MOAT_GUEST_STRING_H

#include <lib/string.h> /* one implementation for the hypervisor and guests: hv/lib/string.c */

#endif
