/* SPDX-License-Identifier: MIT */
/* domctl (core/domctl.c): create, destroy, pause, unpause and inspect domains (public/domctl.h). */
#ifndef MOAT_DOMCTL_H
#define MOAT_DOMCTL_H

#include <moat/types.h>

long do_domctl(uint64_t arg, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
