// SPDX-License-Identifier: MIT
// The agent as shipped: it never lies. (images/attest/attest_liar builds the same agent with
// lie_*() hooks that do, so the tests can show that the verifier catches each lie.)
#include "agent.h"

void lie_at_start(void) {}

bool lie_quote(uint8_t *attest, size_t *alen, uint8_t *sig, size_t *slen, uint8_t *pcrs, size_t *plen)
{
    (void)attest, (void)alen, (void)sig, (void)slen, (void)pcrs, (void)plen;
    return false;
}

long lie_log(int which, uint64_t offset, uint8_t *dst, size_t size)
{
    (void)which, (void)offset, (void)dst, (void)size;
    return -1;
}
