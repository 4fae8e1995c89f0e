/* SPDX-License-Identifier: MIT */
/* The boot manifest module (public/manifest.h): which domains to build at boot. */
#ifndef MOAT_MANIFEST_H
#define MOAT_MANIFEST_H

#include <moat/types.h>

/*
 * Finds the manifest among the modules, validates all of it, and builds its domains. Returns
 * false if there is no manifest. A malformed manifest stops the machine (nothing is built).
 */
bool manifest_boot(void);
/* Why a manifest is malformed, or NULL if it is fine (also used by the host-side tests). */
const char *manifest_check(const void *data, size_t size, unsigned module_count, unsigned self_index);

#endif
