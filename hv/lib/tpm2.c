// SPDX-License-Identifier: MIT
// TPM 2.0 marshalling: big-endian writers and readers bounded by their buffers, and the commands
// that measuring needs. Part 3 of the TPM 2.0 Library specification gives each command's layout:
// header (tag, size, command code), handles, [authorization area], parameters.
#include <lib/string.h>
#include <lib/tpm2.h>

void tpm2_begin(struct tpm2_cmd *c, uint8_t *buf, size_t cap, uint16_t tag, uint32_t code)
{
    c->buf = buf;
    c->cap = cap;
    c->len = 0;
    c->overflow = false;
    tpm2_u16(c, tag);
    tpm2_u32(c, 0); /* size, patched by tpm2_end */
    tpm2_u32(c, code);
}

void tpm2_bytes(struct tpm2_cmd *c, const void *p, size_t n)
{
    if (c->overflow || n > c->cap - c->len) {
        c->overflow = true;
        return;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

void tpm2_u8(struct tpm2_cmd *c, uint8_t v) { tpm2_bytes(c, &v, 1); }

void tpm2_u16(struct tpm2_cmd *c, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    tpm2_bytes(c, b, 2);
}

void tpm2_u32(struct tpm2_cmd *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    tpm2_bytes(c, b, 4);
}

void tpm2_b(struct tpm2_cmd *c, const void *p, uint16_t n)
{
    tpm2_u16(c, n);
    tpm2_bytes(c, p, n);
}

void tpm2_pw_sessions(struct tpm2_cmd *c, unsigned count)
{
    /* Each TPMS_AUTH_COMMAND: handle, empty nonce, attributes 0, empty password: 9 bytes. */
    tpm2_u32(c, 9 * count);
    for (unsigned i = 0; i < count; i++) {
        tpm2_u32(c, TPM2_RS_PW);
        tpm2_u16(c, 0);
        tpm2_u8(c, 0);
        tpm2_u16(c, 0);
    }
}

size_t tpm2_end(struct tpm2_cmd *c)
{
    if (c->overflow || c->len < 10)
        return 0;
    c->buf[2] = (uint8_t)(c->len >> 24);
    c->buf[3] = (uint8_t)(c->len >> 16);
    c->buf[4] = (uint8_t)(c->len >> 8);
    c->buf[5] = (uint8_t)c->len;
    return c->len;
}

static const uint8_t *take(struct tpm2_rsp *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->buf + r->off;
    r->off += n;
    return p;
}

uint8_t tpm2_get_u8(struct tpm2_rsp *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

uint16_t tpm2_get_u16(struct tpm2_rsp *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t tpm2_get_u32(struct tpm2_rsp *r)
{
    const uint8_t *p = take(r, 4);
    return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3] : 0;
}

const uint8_t *tpm2_get_b(struct tpm2_rsp *r, uint16_t *size)
{
    *size = tpm2_get_u16(r);
    const uint8_t *p = take(r, *size);
    if (!p)
        *size = 0;
    return p;
}

void tpm2_skip(struct tpm2_rsp *r, size_t n) { (void)take(r, n); }

uint32_t tpm2_rsp_begin(struct tpm2_rsp *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->off = 0;
    r->bad = false;
    uint16_t tag = tpm2_get_u16(r);
    uint32_t size = tpm2_get_u32(r);
    uint32_t rc = tpm2_get_u32(r);
    if (r->bad || size != len || (tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS)) {
        r->bad = true;
        return TPM2_RC_MALFORMED;
    }
    return rc;
}

size_t tpm2_cmd_startup(uint8_t *buf, size_t cap, uint16_t type)
{
    struct tpm2_cmd c;
    tpm2_begin(&c, buf, cap, TPM2_ST_NO_SESSIONS, TPM2_CC_STARTUP);
    tpm2_u16(&c, type);
    return tpm2_end(&c);
}

size_t tpm2_cmd_pcr_reset(uint8_t *buf, size_t cap, uint32_t pcr)
{
    struct tpm2_cmd c;
    tpm2_begin(&c, buf, cap, TPM2_ST_SESSIONS, TPM2_CC_PCR_RESET);
    tpm2_u32(&c, pcr);
    tpm2_pw_sessions(&c, 1);
    return tpm2_end(&c);
}

size_t tpm2_cmd_pcr_extend_sha256(uint8_t *buf, size_t cap, uint32_t pcr, const uint8_t digest[TPM2_SHA256_SIZE])
{
    struct tpm2_cmd c;
    tpm2_begin(&c, buf, cap, TPM2_ST_SESSIONS, TPM2_CC_PCR_EXTEND);
    tpm2_u32(&c, pcr);
    tpm2_pw_sessions(&c, 1);
    tpm2_u32(&c, 1); /* TPML_DIGEST_VALUES: one bank */
    tpm2_u16(&c, TPM2_ALG_SHA256);
    tpm2_bytes(&c, digest, TPM2_SHA256_SIZE);
    return tpm2_end(&c);
}
