// SPDX-License-Identifier: MIT
// Host check of hv/arch/x86_64/include/moat/nospec.h: array_index_nospec() gives the index itself below the
// bound and 0 at and above it, for the boundary values of both (tests/attacks/test_nospec.py).
#include <stdint.h>
#include <stdio.h>

#include <moat/nospec.h>

int main(void)
{
    static const uint64_t values[] = {0, 1, 2, 31, 32, 63, 64, 4095, 4096, 0x7ff0, 0xffff, 0xffffffffu,
                                      0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX};
    unsigned n = sizeof(values) / sizeof(values[0]), bad = 0, checked = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            uint64_t index = values[i], size = values[j];
            uint64_t want = index < size ? index : 0, got = array_index_nospec(index, size);
            uint64_t mask = array_index_mask_nospec(index, size);
            checked++;
            if (got != want || mask != (index < size ? UINT64_MAX : 0)) {
                printf("array_index_nospec(%#llx, %#llx) = %#llx, mask %#llx\n", (unsigned long long)index,
                       (unsigned long long)size, (unsigned long long)got, (unsigned long long)mask);
                bad++;
            }
        }
    printf("%u pairs, %u wrong\n", checked, bad);
    return bad != 0;
}
