// SPDX-License-Identifier: MIT
// clear_page (moat/lib.h): one rep stosq of 512 quadwords, where memset's byte loop would be 4,096
// stores (and 4,096 counted instructions under -icount).
#include <moat/config.h>
#include <moat/lib.h>

void clear_page(void *page)
{
    size_t words = PAGE_SIZE / 8;
    __asm__ volatile("rep stosq" : "+D"(page), "+c"(words) : "a"(0UL) : "memory");
}
