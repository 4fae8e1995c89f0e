// SPDX-License-Identifier: MIT
// A lying attestation agent, for the tests only: the agent's own sources with lie_*() hooks that
// do what `lie=<how>[,<how>...]` on the command line says. Each lie is one a compromised TPM-holding
// domain could tell; tests/attest/ shows the verifier refuses every one.
//   lie=replay      answer every quote after the first with the first (an old nonce)
//   lie=log         change a domain's image digest in the hypervisor's log, and the event's digest
//                   with it, so that the log is consistent in itself
//   lie=extend-fw   extend PCR 7 (a firmware PCR, which locality 0 may extend) at start
//   lie=extend-hv   try to extend PCR 21 (the hypervisor's; the TPM must refuse locality 0)
//   lie=bad-calls   pass measure_op an unknown log, an unknown op, an offset past the log's end
//                   and a buffer outside its RAM (the hypervisor must answer each with its code)
#include <lib/sha256.h>
#include <lib/tpm2.h>
#include <public/measure.h>

#include "../attest_agent/main.c"
#include "../attest_agent/tpm.c"
#include "../attest_agent/uart.c"

static char how[64];
static uint8_t first_attest[4096], first_sig[2048], first_pcrs[1024];
static size_t first_alen, first_slen, first_plen;
static bool have_first;
static uint8_t fake_log[64 * 1024];
static long fake_len = -1;

/* Whether `lie=` names this lie (one of its comma-separated words). */
static bool lying(const char *lie)
{
    size_t n = strlen(lie);
    for (const char *w = how; *w;) {
        if (!strncmp(w, lie, n) && (w[n] == ',' || !w[n]))
            return true;
        while (*w && *w != ',')
            w++;
        if (*w == ',')
            w++;
    }
    return false;
}

void lie_at_start(void)
{
    cmdline_get("lie", how, sizeof(how));
    printf("attest liar: lie=%s\n", how[0] ? how : "(none)");
    uint8_t digest[32];
    memset(digest, 0x5a, sizeof(digest));
    if (lying("extend-fw"))
        printf("attest liar: extended PCR 7 from locality 0: rc 0x%x\n", tpm_extend(7, digest));
    if (lying("extend-hv"))
        printf("attest liar: tried to extend PCR %u from locality 0: rc 0x%x\n", MEASURE_PCR_BOOT,
               tpm_extend(MEASURE_PCR_BOOT, digest));
    if (lying("bad-calls")) {
        /* Only the TPM holder gets past measure_op's first check, so only it can reach these. */
        uint8_t one[8];
        long size = measure_op(MEASUREOP_log_size, MEASURE_LOG_HYPERVISOR, 0, NULL, 0);
        printf("attest liar: measure_op: unknown log rc %ld, unknown op rc %ld, past the end rc %ld, "
               "into a bad buffer rc %ld, nothing asked rc %ld, one byte rc %ld\n",
               measure_op(MEASUREOP_log_size, 7, 0, NULL, 0),
               measure_op(99, MEASURE_LOG_HYPERVISOR, 0, one, sizeof(one)),
               measure_op(MEASUREOP_read_log, MEASURE_LOG_HYPERVISOR, (uint64_t)size, one, sizeof(one)),
               measure_op(MEASUREOP_read_log, MEASURE_LOG_HYPERVISOR, 0, (void *)GUEST_VA_LIMIT, sizeof(one)),
               measure_op(MEASUREOP_read_log, MEASURE_LOG_HYPERVISOR, 0, one, 0),
               measure_op(MEASUREOP_read_log, MEASURE_LOG_HYPERVISOR, (uint64_t)size - 1, one, sizeof(one)));
    }
}

bool lie_quote(uint8_t *attest, size_t *alen, uint8_t *sig, size_t *slen, uint8_t *pcrs, size_t *plen)
{
    if (!lying("replay"))
        return false;
    if (!have_first) {
        memcpy(first_attest, attest, *alen), first_alen = *alen;
        memcpy(first_sig, sig, *slen), first_slen = *slen;
        memcpy(first_pcrs, pcrs, *plen), first_plen = *plen;
        have_first = true;
        return false;
    }
    memcpy(attest, first_attest, first_alen), *alen = first_alen;
    memcpy(sig, first_sig, first_slen), *slen = first_slen;
    memcpy(pcrs, first_pcrs, first_plen), *plen = first_plen;
    printf("attest liar: answered with the first quote again\n");
    return true;
}

static uint32_t rd32le(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The hypervisor's log with the first domain event's image digest changed, re-digested. */
static void forge(void)
{
    long n = measure_op(MEASUREOP_read_log, MEASURE_LOG_HYPERVISOR, 0, fake_log, sizeof(fake_log));
    if (n < 0)
        return;
    size_t off = 32 + rd32le(fake_log + 28);
    while (off + 50 <= (size_t)n) {
        uint8_t *ev = fake_log + off;
        uint32_t size = rd32le(ev + 46);
        uint8_t *data = ev + 50;
        if (off + 50 + size > (size_t)n)
            break;
        if (rd32le(ev + 4) == EV_EVENT_TAG && size >= 8 && rd32le(data) == MEASURE_TAG_DOMAIN) {
            data[8] ^= 0xff; /* the first byte of struct measure_domain: image_sha256 */
            sha256(data, size, ev + 14);
            printf("attest liar: forged the log entry of domain '%s'\n",
                   (const char *)(data + 8 + offsetof(struct measure_domain, name)));
            break;
        }
        off += 50 + size;
    }
    fake_len = n;
}

long lie_log(int which, uint64_t offset, uint8_t *dst, size_t size)
{
    if (!lying("log") || which != MEASURE_LOG_HYPERVISOR)
        return -1;
    if (fake_len < 0)
        forge();
    if (fake_len < 0 || offset >= (uint64_t)fake_len)
        return fake_len < 0 ? -1 : 0;
    size_t n = (size_t)fake_len - offset < size ? (size_t)fake_len - offset : size;
    memcpy(dst, fake_log + offset, n);
    return (long)n;
}
