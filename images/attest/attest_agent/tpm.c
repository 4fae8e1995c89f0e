// SPDX-License-Identifier: MIT
// The agent's TPM commands, marshalled with lib/tpm2.h and sent through lib/tpm_tis.h on the
// locality-0 page the hypervisor mapped for us. When the hypervisor needs the TPM (it measures a
// policy load, say) it seizes it from locality 2; our command then fails with TIS_SEIZED, and we
// may not know whether the TPM ran it. A command that only reads is simply sent again; one that
// makes something (a key, a session) or changes a session is redone as a whole operation, after
// flushing whatever the lost attempt may have left in the TPM.
#include <lib/tpm2.h>
#include <lib/tpm_tis.h>
#include <public/device.h>

#include "agent.h"

#define EK_CERT_NV_INDEX 0x01c00002u /* TCG EK Credential Profile: the RSA 2048 EK certificate */
#define NV_CHUNK 512
#define RETRIES 20
/* Whole operations (making a key, activating a credential) redone after a seize. Each seize is one
 * measured load by a domain allowed to load policies, and making an RSA key can take longer than
 * the gap between two loads on a busy host: so redo up to a bound well above a burst of loads
 * (the storm test makes 24), and only a label that loads without end can starve the agent, which
 * then says so (an error, never a false verdict). */
#define REDO_LIMIT 64

static uint64_t guest_now_us(void) { return now_ns() / 1000; }
/* Between two polls of the TPM: yield for the first millisecond of a wait (most commands are done
 * by then), then sleep a millisecond at a time: making an RSA key takes swtpm tens to hundreds of
 * milliseconds, which a vCPU spinning on the status register would take from it on a busy host.
 * Polls of one wait follow each other within microseconds; a longer gap starts a new wait. */
#define RELAX_SPIN_NS NS_PER_MS
#define RELAX_GAP_NS (NS_PER_MS / 2)
static void guest_relax(void)
{
    static uint64_t wait_start, last;
    uint64_t now = now_ns();
    if (now - last > RELAX_GAP_NS)
        wait_start = now;
    if (now - wait_start < RELAX_SPIN_NS)
        sched_yield();
    else
        sleep_ns(NS_PER_MS);
    last = now_ns();
}

static const struct tis tis = {
    .regs = (volatile uint8_t *)GUEST_TPM_VA,
    .now_us = guest_now_us,
    .relax = guest_relax,
};

static const char SEIZED[] = "the hypervisor took the TPM (seize)";
static unsigned long seizes;
static uint32_t ek_handle, ak_handle;
static uint8_t rsp[TPM_MAX_RESPONSE];
static char reason[96];

static const char *why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return reason;
}

/* Sends one command; on success r reads the response (after its header) and *rc is its code.
 * A read-only command is sent again after a seize; any other returns SEIZED. */
static const char *xmit(const uint8_t *cmd, size_t len, struct tpm2_rsp *r, uint32_t *rc, bool reads_only)
{
    if (!len)
        return "command too big for its buffer";
    for (unsigned i = 0; i < RETRIES; i++) {
        enum tis_result t = tis_request_locality(&tis, false);
        size_t got = 0;
        if (t == TIS_TIMEOUT)
            continue; /* the hypervisor is using the TPM: ask again */
        if (t == TIS_OK)
            t = tis_transmit(&tis, cmd, len, rsp, sizeof(rsp), &got, TIS_TIMEOUT_COMMAND_US);
        if (t == TIS_SEIZED || t == TIS_TIMEOUT) {
            seizes++;
            if (!reads_only)
                return SEIZED;
            continue;
        }
        if (t != TIS_OK)
            return why("TIS: %s", tis_result_name(t));
        *rc = tpm2_rsp_begin(r, rsp, got);
        if (*rc == TPM2_RC_RETRY || *rc == TPM2_RC_YIELDED || *rc == TPM2_RC_TESTING)
            continue; /* the TPM did not start the command: send it again */
        return *rc == TPM2_RC_MALFORMED ? "malformed TPM response" : NULL;
    }
    return "the TPM stayed busy (locality not granted)";
}

/* xmit, and any response code but success is an error. */
static const char *exec(const uint8_t *cmd, size_t len, struct tpm2_rsp *r, const char *what, bool reads_only)
{
    uint32_t rc;
    const char *err = xmit(cmd, len, r, &rc, reads_only);
    if (err)
        return err;
    return rc == TPM2_RC_SUCCESS ? NULL : why("%s: TPM response code 0x%x", what, rc);
}

/* A command that only reads (or flushes): safe to send twice. */
static const char *run(const uint8_t *cmd, size_t len, struct tpm2_rsp *r, const char *what)
{
    return exec(cmd, len, r, what, true);
}

/* A command that makes or changes something: SEIZED means "redo the whole operation". */
static const char *run_once(const uint8_t *cmd, size_t len, struct tpm2_rsp *r, const char *what)
{
    return exec(cmd, len, r, what, false);
}

static void flush(uint32_t handle);

#define HANDLES_TRANSIENT 0x80000000u
#define HANDLES_LOADED_SESSION 0x02000000u
#define HANDLES_POLICY_SESSION 0x03000000u

/* Flushes every handle of a range but `keep`: keys or sessions left by a previous agent that was
 * destroyed, or by one of our own attempts whose answer a seize swallowed. */
static void flush_all(uint32_t range, uint32_t keep)
{
    uint8_t cmd[32];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
    tpm2_u32(&c, 0x00000001);  /* TPM_CAP_HANDLES */
    tpm2_u32(&c, range);
    tpm2_u32(&c, 16);
    uint32_t handles[16], n = 0;
    if (run(cmd, tpm2_end(&c), &r, "GetCapability"))
        return;
    tpm2_get_u8(&r);  /* moreData */
    tpm2_get_u32(&r); /* capability */
    uint32_t count = tpm2_get_u32(&r);
    for (uint32_t i = 0; i < count && n < 16 && !r.bad; i++)
        handles[n++] = tpm2_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++)
        if (handles[i] >> 24 == range >> 24 && handles[i] != keep)
            flush(handles[i]);
}

const char *tpm_open(void)
{
    if (!tis_present(&tis))
        return "no TPM registers at the device page";
    enum tis_result t = tis_request_locality(&tis, false);
    if (t != TIS_OK)
        return why("locality 0: %s", tis_result_name(t));
    flush_all(HANDLES_TRANSIENT, 0);
    flush_all(HANDLES_LOADED_SESSION, 0);
    flush_all(HANDLES_POLICY_SESSION, 0);
    return NULL;
}

unsigned long tpm_seizes(void) { return seizes; }

void tpm_close(void)
{
    flush(ek_handle);
    flush(ak_handle);
    ek_handle = ak_handle = 0;
}

const char *tpm_ek_cert(uint8_t *cert, size_t cap, size_t *len)
{
    uint8_t cmd[64];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, TPM2_CC_NV_READ_PUBLIC);
    tpm2_u32(&c, EK_CERT_NV_INDEX);
    const char *err = run(cmd, tpm2_end(&c), &r, "NV_ReadPublic");
    if (err)
        return err;
    /* TPM2B_NV_PUBLIC: size, nvIndex, nameAlg, attributes, authPolicy (TPM2B), dataSize. */
    tpm2_get_u16(&r);
    tpm2_skip(&r, 4 + 2 + 4);
    uint16_t pol;
    tpm2_get_b(&r, &pol);
    uint16_t size = tpm2_get_u16(&r);
    if (r.bad || size > cap)
        return "EK certificate index: bad public area or too big";
    for (uint16_t off = 0; off < size;) {
        uint16_t n = (uint16_t)(size - off < NV_CHUNK ? size - off : NV_CHUNK);
        tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_SESSIONS, TPM2_CC_NV_READ);
        tpm2_u32(&c, TPM2_RH_OWNER);
        tpm2_u32(&c, EK_CERT_NV_INDEX);
        tpm2_pw_sessions(&c, 1);
        tpm2_u16(&c, n);
        tpm2_u16(&c, off);
        if ((err = run(cmd, tpm2_end(&c), &r, "NV_Read")) != NULL)
            return err;
        tpm2_get_u32(&r); /* parameterSize */
        uint16_t got;
        const uint8_t *data = tpm2_get_b(&r, &got);
        if (!data || got == 0 || got > n)
            return "NV_Read: short or bad data";
        memcpy(cert + off, data, got);
        off = (uint16_t)(off + got);
    }
    *len = size;
    return NULL;
}

/* TPM2_CreatePrimary in the endorsement hierarchy from a TPMT_PUBLIC template. */
static const char *create_primary(const uint8_t *tmpl, size_t tmpl_len, uint32_t *handle, uint8_t *pub, size_t cap,
                                  size_t *len)
{
    uint8_t cmd[512];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_SESSIONS, TPM2_CC_CREATE_PRIMARY);
    tpm2_u32(&c, TPM2_RH_ENDORSEMENT);
    tpm2_pw_sessions(&c, 1);
    tpm2_u16(&c, 4); /* TPM2B_SENSITIVE_CREATE: empty userAuth and data */
    tpm2_u16(&c, 0);
    tpm2_u16(&c, 0);
    tpm2_b(&c, tmpl, (uint16_t)tmpl_len); /* TPM2B_PUBLIC */
    tpm2_u16(&c, 0);                      /* outsideInfo */
    tpm2_u32(&c, 0);                      /* creationPCR: none */
    const char *err = run_once(cmd, tpm2_end(&c), &r, "CreatePrimary");
    if (err)
        return err;
    *handle = tpm2_get_u32(&r);
    tpm2_get_u32(&r); /* parameterSize */
    uint16_t n;
    const uint8_t *p = tpm2_get_b(&r, &n);
    if (!p || (size_t)n + 2 > cap)
        return "CreatePrimary: bad public area";
    pub[0] = (uint8_t)(n >> 8);
    pub[1] = (uint8_t)n;
    memcpy(pub + 2, p, n);
    *len = (size_t)n + 2;
    return NULL;
}

static void flush(uint32_t handle)
{
    if (!handle)
        return;
    uint8_t cmd[16];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, TPM2_CC_FLUSH_CONTEXT);
    tpm2_u32(&c, handle);
    uint32_t rc;
    xmit(cmd, tpm2_end(&c), &r, &rc, true);
}

/* Creates a primary key, again after a seize (flushing any key the lost attempt made, but the
 * other key we hold). */
static const char *create_primary_retrying(const uint8_t *tmpl, size_t tmpl_len, uint32_t *handle, uint32_t other,
                                           uint8_t *pub, size_t cap, size_t *len)
{
    const char *err = SEIZED;
    for (unsigned i = 0; i < REDO_LIMIT && err == SEIZED; i++) {
        err = create_primary(tmpl, tmpl_len, handle, pub, cap, len);
        if (err == SEIZED)
            flush_all(HANDLES_TRANSIENT, other);
    }
    return err;
}

const char *tpm_create_ek(uint8_t *pub, size_t cap, size_t *len)
{
    /* TCG EK Credential Profile, template L-1: RSA 2048, AES-128-CFB, restricted decryption key,
     * whose policy is PolicySecret(TPM_RH_ENDORSEMENT); unique is 256 zero bytes. */
    static const uint8_t policy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                       0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                       0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};
    uint8_t t[400];
    struct tpm2_cmd c = {t, sizeof(t), 0, false};
    tpm2_u16(&c, TPM2_ALG_RSA);
    tpm2_u16(&c, TPM2_ALG_SHA256);
    tpm2_u32(&c, 0x000300b2); /* fixedTPM fixedParent sensitiveDataOrigin adminWithPolicy restricted decrypt */
    tpm2_b(&c, policy, sizeof(policy));
    tpm2_u16(&c, TPM2_ALG_AES);
    tpm2_u16(&c, 128);
    tpm2_u16(&c, TPM2_ALG_CFB);
    tpm2_u16(&c, TPM2_ALG_NULL); /* scheme */
    tpm2_u16(&c, 2048);
    tpm2_u32(&c, 0); /* exponent: the default 65537 */
    tpm2_u16(&c, 256);
    for (unsigned i = 0; i < 256; i++)
        tpm2_u8(&c, 0);
    if (c.overflow)
        return "EK template too big";
    flush(ek_handle);
    ek_handle = 0;
    return create_primary_retrying(t, c.len, &ek_handle, ak_handle, pub, cap, len);
}

const char *tpm_create_ak(uint8_t *pub, size_t cap, size_t *len)
{
    /* A restricted ECDSA P-256 signing key: it signs only what the TPM itself made (quotes). */
    uint8_t t[64];
    struct tpm2_cmd c = {t, sizeof(t), 0, false};
    tpm2_u16(&c, TPM2_ALG_ECC);
    tpm2_u16(&c, TPM2_ALG_SHA256);
    /* fixedTPM fixedParent sensitiveDataOrigin userWithAuth noDA restricted sign. noDA: the agent
     * is killed with the system, never shuts the TPM down in order, and an unordered power loss
     * after a dictionary-attack-protected authorization counts as a failed try. */
    tpm2_u32(&c, 0x00050472);
    tpm2_u16(&c, 0);          /* no policy */
    tpm2_u16(&c, TPM2_ALG_NULL); /* symmetric */
    tpm2_u16(&c, TPM2_ALG_ECDSA);
    tpm2_u16(&c, TPM2_ALG_SHA256);
    tpm2_u16(&c, TPM2_ECC_NIST_P256);
    tpm2_u16(&c, TPM2_ALG_NULL); /* kdf */
    tpm2_u16(&c, 0);             /* unique.x */
    tpm2_u16(&c, 0);             /* unique.y */
    if (c.overflow)
        return "AK template too big";
    flush(ak_handle);
    ak_handle = 0;
    return create_primary_retrying(t, c.len, &ak_handle, ek_handle, pub, cap, len);
}

static const char *activate_once(const uint8_t *blob, size_t blob_len, const uint8_t *secret, size_t secret_len,
                                 uint8_t *out, size_t cap, size_t *len)
{
    uint8_t cmd[1200];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    /* A policy session: the EK's policy is PolicySecret(endorsement). */
    uint8_t nonce[16];
    uint64_t t0 = rdtsc(), t1 = now_ns();
    memcpy(nonce, &t0, 8);
    memcpy(nonce + 8, &t1, 8);
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, TPM2_CC_START_AUTH_SESSION);
    tpm2_u32(&c, TPM2_RH_NULL); /* tpmKey: unsalted */
    tpm2_u32(&c, TPM2_RH_NULL); /* bind: unbound */
    tpm2_b(&c, nonce, sizeof(nonce));
    tpm2_u16(&c, 0);            /* encryptedSalt */
    tpm2_u8(&c, 0x01);          /* TPM_SE_POLICY */
    tpm2_u16(&c, TPM2_ALG_NULL);
    tpm2_u16(&c, TPM2_ALG_SHA256);
    const char *err = run_once(cmd, tpm2_end(&c), &r, "StartAuthSession");
    if (err)
        return err;
    uint32_t session = tpm2_get_u32(&r);

    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_SESSIONS, TPM2_CC_POLICY_SECRET);
    tpm2_u32(&c, TPM2_RH_ENDORSEMENT);
    tpm2_u32(&c, session);
    tpm2_pw_sessions(&c, 1);
    tpm2_u16(&c, 0); /* nonceTPM */
    tpm2_u16(&c, 0); /* cpHashA */
    tpm2_u16(&c, 0); /* policyRef */
    tpm2_u32(&c, 0); /* expiration */
    if ((err = run_once(cmd, tpm2_end(&c), &r, "PolicySecret")) != NULL) {
        flush(session);
        return err;
    }

    /* ActivateCredential(activateHandle = AK: password; keyHandle = EK: the policy session). */
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_SESSIONS, TPM2_CC_ACTIVATE_CREDENTIAL);
    tpm2_u32(&c, ak_handle);
    tpm2_u32(&c, ek_handle);
    tpm2_u32(&c, 9 + 9);
    tpm2_u32(&c, TPM2_RS_PW);
    tpm2_u16(&c, 0);
    tpm2_u8(&c, 0);
    tpm2_u16(&c, 0);
    tpm2_u32(&c, session);
    tpm2_u16(&c, 0);
    tpm2_u8(&c, 0); /* continueSession clear: the TPM flushes the session */
    tpm2_u16(&c, 0);
    tpm2_bytes(&c, blob, blob_len);     /* TPM2B_ID_OBJECT as the verifier sent it */
    tpm2_bytes(&c, secret, secret_len); /* TPM2B_ENCRYPTED_SECRET */
    if ((err = run_once(cmd, tpm2_end(&c), &r, "ActivateCredential")) != NULL) {
        flush(session);
        return err;
    }
    tpm2_get_u32(&r);
    uint16_t n;
    const uint8_t *p = tpm2_get_b(&r, &n);
    if (!p || n > cap)
        return "ActivateCredential: bad certInfo";
    memcpy(out, p, n);
    *len = n;
    return NULL;
}

static uint32_t bits_set(uint32_t v)
{
    uint32_t n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

const char *tpm_activate(const uint8_t *blob, size_t blob_len, const uint8_t *secret, size_t secret_len,
                         uint8_t *out, size_t cap, size_t *len)
{
    if (!ek_handle || !ak_handle)
        return "create the EK and the AK first";
    if (blob_len < 2 || secret_len < 2 || blob_len > 512 || secret_len > 512)
        return "credential or secret of a bad size";
    /* A seize anywhere in the sequence: start over with a new session, the old one flushed. */
    const char *err = SEIZED;
    for (unsigned i = 0; i < REDO_LIMIT && err == SEIZED; i++) {
        err = activate_once(blob, blob_len, secret, secret_len, out, cap, len);
        if (err == SEIZED) {
            flush_all(HANDLES_LOADED_SESSION, 0);
            flush_all(HANDLES_POLICY_SESSION, 0);
        }
    }
    return err;
}

static void selection(struct tpm2_cmd *c, uint32_t mask)
{
    tpm2_u32(c, 1); /* TPML_PCR_SELECTION: one bank */
    tpm2_u16(c, TPM2_ALG_SHA256);
    tpm2_u8(c, 3);  /* 24 PCRs */
    tpm2_u8(c, (uint8_t)mask);
    tpm2_u8(c, (uint8_t)(mask >> 8));
    tpm2_u8(c, (uint8_t)(mask >> 16));
}

/* The SHA-256 PCRs in mask, 32 bytes each in PCR order. A PCR_Read returns at most eight,
 * lowest first; ask again for the rest. */
static const char *read_pcrs(uint32_t mask, uint8_t *pcrs, size_t *pcrs_len)
{
    uint8_t cmd[64];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    uint16_t n;
    const char *err;
    *pcrs_len = 0;
    uint32_t left = mask;
    while (left) {
        tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, TPM2_CC_PCR_READ);
        selection(&c, left);
        if ((err = run(cmd, tpm2_end(&c), &r, "PCR_Read")) != NULL)
            return err;
        tpm2_get_u32(&r); /* pcrUpdateCounter */
        uint32_t banks = tpm2_get_u32(&r), got = 0;
        for (uint32_t b = 0; b < banks; b++) {
            tpm2_get_u16(&r);
            uint8_t sz = tpm2_get_u8(&r);
            for (uint8_t i = 0; i < sz; i++) {
                uint8_t bits = tpm2_get_u8(&r);
                if (i < 3)
                    got |= (uint32_t)bits << (8 * i);
            }
        }
        uint32_t count = tpm2_get_u32(&r);
        if (r.bad || banks != 1 || !got || (got & ~left) || count != bits_set(got))
            return "PCR_Read: bad response";
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *d = tpm2_get_b(&r, &n);
            if (!d || n != 32)
                return "PCR_Read: bad digest";
            memcpy(pcrs + *pcrs_len, d, 32);
            *pcrs_len += 32;
        }
        left &= ~got;
    }
    return NULL;
}

static const char *quote_once(const uint8_t *nonce, size_t nonce_len, uint32_t mask, uint8_t *attest,
                              size_t *attest_len, uint8_t *sig, size_t *sig_len)
{
    uint8_t cmd[256];
    struct tpm2_cmd c;
    struct tpm2_rsp r;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_SESSIONS, TPM2_CC_QUOTE);
    tpm2_u32(&c, ak_handle);
    tpm2_pw_sessions(&c, 1);
    tpm2_b(&c, nonce, (uint16_t)nonce_len);
    tpm2_u16(&c, TPM2_ALG_NULL); /* the key's own scheme */
    selection(&c, mask);
    const char *err = run(cmd, tpm2_end(&c), &r, "Quote");
    if (err)
        return err;
    uint32_t params = tpm2_get_u32(&r);
    size_t start = r.off;
    uint16_t n;
    const uint8_t *q = tpm2_get_b(&r, &n);
    if (!q || params > r.len - start || r.off > start + params)
        return "Quote: bad response";
    memcpy(attest, q - 2, (size_t)n + 2);
    *attest_len = (size_t)n + 2;
    *sig_len = start + params - r.off;
    memcpy(sig, r.buf + r.off, *sig_len);

    return NULL;
}

const char *tpm_quote(const uint8_t *nonce, size_t nonce_len, uint32_t mask, uint8_t *attest, size_t *attest_len,
                      uint8_t *sig, size_t *sig_len, uint8_t *pcrs, size_t *pcrs_len)
{
    if (!ak_handle)
        return "create the AK first";
    if (nonce_len > 64 || !mask || (mask >> 24))
        return "bad nonce or PCR selection";
    /* The quote holds only a digest of the PCRs; the verifier wants their values too. PCRs only
     * grow, so values read before and after the quote that agree are the ones it covers: the
     * hypervisor may measure something in between, and then we try again. */
    static uint8_t before[24 * 32];
    for (unsigned i = 0; i < REDO_LIMIT; i++) {
        size_t before_len;
        const char *err = read_pcrs(mask, before, &before_len);
        if (!err)
            err = quote_once(nonce, nonce_len, mask, attest, attest_len, sig, sig_len);
        if (!err)
            err = read_pcrs(mask, pcrs, pcrs_len);
        if (err == SEIZED)
            continue; /* a load took the TPM: quote again */
        if (err)
            return err;
        if (*pcrs_len == before_len && !memcmp(before, pcrs, before_len))
            return NULL;
    }
    return "the PCRs kept changing around the quote";
}

uint32_t tpm_extend(uint32_t pcr, const uint8_t digest[32])
{
    uint8_t cmd[96];
    struct tpm2_rsp r;
    uint32_t rc;
    if (xmit(cmd, tpm2_cmd_pcr_extend_sha256(cmd, sizeof(cmd), pcr, digest), &r, &rc, false))
        return TPM2_RC_MALFORMED;
    return rc;
}
