// SPDX-License-Identifier: MIT
// clear_page (moat/lib.h): one rep stosq of 512 quadwords, where memset's byte loop would be 4,096
// stores (and 4,096 counted instructions under -icount).
#include <moat/arch.h>
#include <moat/lib.h>

void clear_page(void *page) { arch_clear_page(page); }
