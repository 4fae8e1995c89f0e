// SPDX-License-Identifier: MIT
// Self-tests (CONFIG_SELFTEST build only) of the shared code in hv/lib/ whose error and edge
// paths the hypervisor's ordinary work never takes: SHA-256 fed in pieces (the hypervisor hashes
// each object in one call), and the TPM driver (TPM 2.0 marshalling, the TIS FIFO protocol, the
// hypervisor's own TPM commands) with bad buffers, garbled responses, a locality held or seized
// by another, a TPM that refuses a command, and a TIS that breaks the protocol. The real TPM
// (swtpm behind QEMU's tpm-tis, when the test gives one) is used wherever it can show a path;
// only what a correct TPM never does comes from `fake`, a register page in RAM (below).
#include <lib/sha256.h>
#include <lib/string.h>
#include <lib/tpm2.h>
#include <lib/tpm_tis.h>
#include <moat/arch.h>
#include <moat/config.h>
#include <moat/console.h>
#include <moat/paging.h>
#include <moat/selftest.h>
#include <moat/timer.h>
#include <moat/tpm.h>
#include <public/hv.h>

#ifdef CONFIG_SELFTEST

/* ---- SHA-256 ---- */

static bool digest_is(const uint8_t d[SHA256_DIGEST_SIZE], const char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < SHA256_DIGEST_SIZE; i++)
        if (hex[2 * i] != digits[d[i] >> 4] || hex[2 * i + 1] != digits[d[i] & 15])
            return false;
    return true;
}

/* FIPS 180-4's examples: the empty message, one block, the 56-byte message whose padding needs a
 * second block, and the 112-byte one whose padding fits its second block. */
static const struct {
    const char *msg;
    const char *digest;
} sha_vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

/* Each vector whole and in pieces of every size that puts a piece across a block boundary, at it,
 * or inside the buffered part: 1, 3, 55, 56, 63, 64, 65. */
static void test_sha256_vectors(void)
{
    static const size_t chunks[] = {0, 1, 3, 55, 56, 63, 64, 65};
    for (unsigned v = 0; v < ARRAY_SIZE(sha_vectors); v++) {
        const char *m = sha_vectors[v].msg;
        size_t n = strlen(m);
        for (unsigned c = 0; c < ARRAY_SIZE(chunks); c++) {
            uint8_t d[SHA256_DIGEST_SIZE];
            if (!chunks[c]) {
                sha256(m, n, d);
            } else {
                struct sha256_ctx ctx;
                sha256_init(&ctx);
                for (size_t off = 0; off < n; off += chunks[c])
                    sha256_update(&ctx, m + off, n - off < chunks[c] ? n - off : chunks[c]);
                sha256_final(&ctx, d);
            }
            CHECK(digest_is(d, sha_vectors[v].digest), "vector %u (%lu bytes) in pieces of %lu", v, (uint64_t)n,
                  (uint64_t)chunks[c]);
        }
    }
    /* A million 'a' in pieces of 1000, and an update of nothing in the middle of a block. */
    static char as[1000];
    memset(as, 'a', sizeof(as));
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    for (unsigned i = 0; i < 1000; i++) {
        sha256_update(&ctx, as, sizeof(as));
        sha256_update(&ctx, as, 0);
    }
    sha256_final(&ctx, d);
    CHECK(digest_is(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "a million 'a'");
}

/* ---- TPM 2.0 marshalling (hv/lib/tpm2.c) ---- */

static void test_tpm2_marshalling(void)
{
    uint8_t buf[96];
    uint8_t digest[TPM2_SHA256_SIZE];
    memset(digest, 0x5a, sizeof(digest));

    /* A PCR_Extend as Part 3 lays it out, its size patched in. */
    size_t n = tpm2_cmd_pcr_extend_sha256(buf, sizeof(buf), 23, digest);
    static const uint8_t head[] = {0x80, 0x02, 0, 0, 0, 65, 0, 0, 0x01, 0x82, 0, 0, 0, 23, 0, 0, 0, 9,
                                   0x40, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x0b};
    CHECK(n == 65 && !memcmp(buf, head, sizeof(head)) && !memcmp(buf + 33, digest, 32), "PCR_Extend: %lu bytes",
          (uint64_t)n);
    /* Commands that do not fit: nothing, never a truncated command (every later write refused too). */
    CHECK(tpm2_cmd_pcr_extend_sha256(buf, 64, 23, digest) == 0, "a 65-byte PCR_Extend fit 64 bytes");
    CHECK(tpm2_cmd_pcr_extend_sha256(buf, 20, 23, digest) == 0, "a 65-byte PCR_Extend fit 20 bytes");
    CHECK(tpm2_cmd_startup(buf, 12, TPM2_SU_CLEAR) == 12, "Startup in exactly 12 bytes");
    CHECK(tpm2_cmd_startup(buf, 11, TPM2_SU_CLEAR) == 0, "a 12-byte Startup fit 11 bytes");
    CHECK(tpm2_cmd_pcr_reset(buf, 8, 23) == 0, "a PCR_Reset's header fit 8 bytes");
    struct tpm2_cmd c;
    tpm2_begin(&c, buf, sizeof(buf), TPM2_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
    tpm2_b(&c, "xyz", 3);
    tpm2_u8(&c, 0x7f);
    CHECK(tpm2_end(&c) == 16 && buf[10] == 0 && buf[11] == 3 && !memcmp(buf + 12, "xyz", 3) && buf[15] == 0x7f,
          "a TPM2B and a byte");
    /* Every byte of a u16 and a u32 in its place (values whose bytes all differ). */
    tpm2_begin(&c, buf, sizeof(buf), TPM2_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
    tpm2_u16(&c, 0xabcd);
    tpm2_u32(&c, 0x12b4d6f8);
    static const uint8_t words[] = {0xab, 0xcd, 0x12, 0xb4, 0xd6, 0xf8};
    CHECK(tpm2_end(&c) == 16 && !memcmp(buf + 10, words, sizeof(words)), "a u16 and a u32");
    /* After a write that does not fit, nothing more is written, not even what would fit: a
     * PCR_Reset in 20 bytes stops at its session's handle (bytes 18-21), so bytes 18-19 keep
     * what they held. */
    memset(buf, 0xcc, sizeof(buf));
    CHECK(tpm2_cmd_pcr_reset(buf, 20, 23) == 0 && buf[18] == 0xcc && buf[19] == 0xcc,
          "a PCR_Reset in 20 bytes wrote after its overflow: %x %x", buf[18], buf[19]);
    /* The size field of long commands: 300 (0x12c) and 70000 (0x11170) bytes. */
    static uint8_t big[70000];
    static const uint32_t lengths[] = {300, 70000};
    for (unsigned i = 0; i < ARRAY_SIZE(lengths); i++) {
        memset(big, 0, sizeof(big));
        tpm2_begin(&c, big, sizeof(big), TPM2_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
        tpm2_bytes(&c, big + 10, lengths[i] - 10);
        uint32_t len = lengths[i];
        const uint8_t size[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
        CHECK(tpm2_end(&c) == len && !memcmp(big + 2, size, 4), "a %u-byte command: size %02x%02x%02x%02x", len,
              big[2], big[3], big[4], big[5]);
    }

    /* Responses: the header checks of tpm2_rsp_begin, then reads bounded by the response. */
    struct tpm2_rsp r;
    static const uint8_t ok[] = {0x80, 0x01, 0, 0, 0, 19, 0, 0, 0, 0, 0, 4, 'a', 'b', 'c', 'd', 0x12, 0x34, 0x56};
    CHECK(tpm2_rsp_begin(&r, ok, sizeof(ok)) == TPM2_RC_SUCCESS && !r.bad, "a good response refused");
    uint16_t size;
    const uint8_t *p = tpm2_get_b(&r, &size);
    CHECK(p && size == 4 && !memcmp(p, "abcd", 4), "TPM2B of 4: %u", size);
    CHECK(tpm2_get_u8(&r) == 0x12 && tpm2_get_u16(&r) == 0x3456 && !r.bad, "u8, u16");
    CHECK(tpm2_get_u8(&r) == 0 && r.bad, "a byte read past the end");
    CHECK(tpm2_rsp_begin(&r, ok, sizeof(ok)) == TPM2_RC_SUCCESS, "the same response again");
    tpm2_skip(&r, 3);
    uint32_t w = tpm2_get_u32(&r);
    CHECK(w == 0x62636412 && !r.bad, "a u32 of bytes that all differ: %x", w);
    CHECK(tpm2_rsp_begin(&r, ok, sizeof(ok)) == TPM2_RC_SUCCESS, "the same response again");
    tpm2_skip(&r, 6);
    CHECK(!r.bad && tpm2_get_u16(&r) == 0x1234, "skip 6");
    CHECK(tpm2_get_u16(&r) == 0 && r.bad, "a u16 with one byte left");
    CHECK(tpm2_get_u32(&r) == 0 && r.bad, "a u32 after a failed read");
    CHECK(tpm2_rsp_begin(&r, ok, sizeof(ok)) == TPM2_RC_SUCCESS, "the same response again");
    tpm2_skip(&r, 6);
    CHECK(tpm2_get_u32(&r) == 0 && r.bad, "a u32 with three bytes left");
    /* A TPM2B claiming more than the response holds: no pointer, size 0. */
    static const uint8_t long_b[] = {0x80, 0x01, 0, 0, 0, 14, 0, 0, 0, 0, 0, 9, 'a', 'b'};
    CHECK(tpm2_rsp_begin(&r, long_b, sizeof(long_b)) == TPM2_RC_SUCCESS, "a good header refused");
    p = tpm2_get_b(&r, &size);
    CHECK(!p && size == 0 && r.bad, "a TPM2B of 9 in 2 bytes");
    static const uint8_t err[] = {0x80, 0x02, 0, 0, 0, 10, 0, 0, 0x09, 0x07};
    CHECK(tpm2_rsp_begin(&r, err, sizeof(err)) == TPM2_RC_LOCALITY && !r.bad, "an error code with sessions");
    static const uint8_t bad_tag[] = {0x80, 0x03, 0, 0, 0, 10, 0, 0, 0, 0};
    CHECK(tpm2_rsp_begin(&r, bad_tag, sizeof(bad_tag)) == TPM2_RC_MALFORMED && r.bad, "tag 0x8003 accepted");
    static const uint8_t bad_size[] = {0x80, 0x01, 0, 0, 0, 11, 0, 0, 0, 0};
    CHECK(tpm2_rsp_begin(&r, bad_size, sizeof(bad_size)) == TPM2_RC_MALFORMED && r.bad, "size 11 of 10 accepted");
    CHECK(tpm2_rsp_begin(&r, ok, 9) == TPM2_RC_MALFORMED && r.bad, "a 9-byte response accepted");
    CHECK(tpm2_rsp_begin(&r, ok, 0) == TPM2_RC_MALFORMED && r.bad, "an empty response accepted");
    /* A header cut at every length: the read that runs out (tag, size or code) spoils it. */
    for (size_t len = 0; len < sizeof(err); len++)
        CHECK(tpm2_rsp_begin(&r, err, len) == TPM2_RC_MALFORMED && r.bad, "a %lu-byte header accepted",
              (uint64_t)len);
}

/* Every capacity short of a command: nothing built and no byte at or past the capacity written,
 * wherever in the command the write that does not fit falls (each writer is refused there, and
 * every write after it too); at exactly its size the command is built whole. */
static void test_tpm2_every_capacity(void)
{
    uint8_t buf[80], digest[TPM2_SHA256_SIZE];
    memset(digest, 0x5a, sizeof(digest));
    static const size_t sizes[] = {12, 27, 65}; /* Startup, PCR_Reset, PCR_Extend (SHA-256) */
    for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++)
        for (size_t cap = 0; cap <= sizes[k]; cap++) {
            memset(buf, 0xcc, sizeof(buf));
            size_t n = k == 0   ? tpm2_cmd_startup(buf, cap, TPM2_SU_CLEAR)
                       : k == 1 ? tpm2_cmd_pcr_reset(buf, cap, 23)
                                : tpm2_cmd_pcr_extend_sha256(buf, cap, 23, digest);
            size_t untouched = cap;
            while (untouched < sizeof(buf) && buf[untouched] == 0xcc)
                untouched++;
            CHECK(n == (cap == sizes[k] ? sizes[k] : 0) && untouched == sizeof(buf),
                  "command %u in %lu bytes: %lu built, byte %lu written", k, (uint64_t)cap, (uint64_t)n,
                  (uint64_t)untouched);
        }
}

/* The writers one by one, as the library's other users call them (a command of every kind of
 * field, then one with two password sessions), at every capacity up to their size. */
static void test_tpm2_writers_every_capacity(void)
{
    uint8_t buf[40];
    struct tpm2_cmd c;
    for (unsigned k = 0; k < 2; k++) {
        size_t size = k == 0 ? 22 : 32;
        for (size_t cap = 0; cap <= size; cap++) {
            memset(buf, 0xcc, sizeof(buf));
            tpm2_begin(&c, buf, cap, TPM2_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
            if (k == 0) {
                tpm2_u8(&c, 1);
                tpm2_u16(&c, 2);
                tpm2_u32(&c, 3);
                tpm2_b(&c, "xy", 2);
                tpm2_bytes(&c, "z", 1);
            } else {
                tpm2_pw_sessions(&c, 2);
            }
            size_t n = tpm2_end(&c), untouched = cap;
            while (untouched < sizeof(buf) && buf[untouched] == 0xcc)
                untouched++;
            CHECK(n == (cap == size ? size : 0) && c.overflow == (cap < size) && untouched == sizeof(buf),
                  "writers %u in %lu bytes: %lu built, byte %lu written", k, (uint64_t)cap, (uint64_t)n,
                  (uint64_t)untouched);
        }
    }
}

/* After a read that failed, every reader answers nothing, even one that would fit. */
static void test_tpm2_reads_after_a_failure(void)
{
    static const uint8_t rsp[] = {0x80, 0x01, 0, 0, 0, 13, 0, 0, 0, 0, 0xab, 0xcd, 0xef};
    struct tpm2_rsp r;
    uint16_t size = 7;
    CHECK(tpm2_rsp_begin(&r, rsp, sizeof(rsp)) == TPM2_RC_SUCCESS && tpm2_get_u32(&r) == 0 && r.bad,
          "a u32 in three bytes");
    CHECK(tpm2_get_u8(&r) == 0 && tpm2_get_u16(&r) == 0 && !tpm2_get_b(&r, &size) && size == 0 && r.bad,
          "a read after a failed one");
    tpm2_skip(&r, 0);
    CHECK(r.bad && r.off == 10, "a skip after a failed read moved to %lu", (uint64_t)r.off);
    /* A TPM2B whose size does not fit: no size, no pointer. */
    CHECK(tpm2_rsp_begin(&r, rsp, sizeof(rsp)) == TPM2_RC_SUCCESS, "the header refused");
    tpm2_skip(&r, 2);
    CHECK(!tpm2_get_b(&r, &size) && size == 0 && r.bad, "a TPM2B's size in one byte");
}

/* ---- The TIS FIFO protocol against a TIS that breaks it ----
 * `fake` is a locality's register page in RAM and a clock: every call of the clock (each wait of
 * tpm_tis.c reads it before it first looks at the registers, and again on each further poll) is a
 * tick at which the device looks at what the driver wrote and sets the registers a misbehaving
 * TIS would show. The clock moves `step` (100 ms) a tick, so a wait that is never satisfied ends
 * after a few ticks. The device follows the protocol's phases from the driver's writes:
 * commandReady written to STS starts a command; the command's last byte (FAKE_LAST, which no
 * other byte of the test's command is) in the FIFO ends it; go written to STS starts the response.
 * In `slow` mode it is a correct TIS with a burst count of 1: it counts the command's bytes (the
 * FIFO holds FAKE_NO_BYTE after each tick, so a byte written since shows), expects more until it
 * has them all, and gives the response one byte per tick. `late[phase]`: the tick of the phase
 * from which the awaited state appears (a locality granted, room for a byte, data available). */
#define FAKE_LAST 0xee
#define FAKE_NO_BYTE 0xaa

enum fake_phase { FAKE_IDLE, FAKE_RECEIVING, FAKE_SENT, FAKE_EXECUTING };

static const uint8_t fake_cmd[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, FAKE_LAST};

static struct {
    uint8_t regs[PAGE_SIZE] aligned(PAGE_SIZE);
    enum fake_phase phase;
    unsigned ticks;    /* ticks in this phase */
    unsigned received; /* slow: command bytes received */
    int served;        /* slow: the response byte in the FIFO (below 0: none yet) */
    uint64_t now, step;
    /* The case: the STS bits and burst count shown in each phase, the byte the FIFO gives, and
     * from which tick of which phase the locality is lost (seize_tick 0: never). */
    uint8_t sts[4];
    uint16_t burst[4];
    uint8_t fifo;
    enum fake_phase seize_phase;
    unsigned seize_tick;
    bool slow;
    unsigned late[4];
    uint32_t rsp_size; /* slow: the response's size (its header says so; then bytes i & 0xff) */
} fake;

/* Byte i of the slow TIS's response: a header (no sessions, rsp_size, rc 0), then i's low byte. */
static uint8_t fake_rsp_byte(uint32_t i)
{
    static const uint8_t tag[2] = {0x80, 0x01};
    if (i < 2)
        return tag[i];
    if (i < 6)
        return (uint8_t)(fake.rsp_size >> (8 * (5 - i)));
    return i < 10 ? 0 : (uint8_t)i;
}

static void fake_set_sts(uint8_t bits, uint16_t burst)
{
    fake.regs[TIS_REG_STS] = bits;
    fake.regs[TIS_REG_STS + 1] = (uint8_t)burst;
    fake.regs[TIS_REG_STS + 2] = (uint8_t)(burst >> 8);
}

static uint64_t fake_now_us(void)
{
    /* The device's own writes to STS byte 0 always include stsValid; a byte without it is the
     * driver's write (commandReady or go). */
    uint8_t written = fake.regs[TIS_REG_STS], byte = fake.regs[TIS_REG_DATA_FIFO];
    enum fake_phase next = fake.phase;
    if (written == TIS_STS_COMMAND_READY) {
        next = FAKE_RECEIVING;
        fake.received = 0;
    } else if (written == TIS_STS_GO) {
        next = FAKE_EXECUTING;
        fake.served = -2; /* the first tick with data is the wait's; the reads follow the next ones */
    } else if (fake.phase == FAKE_RECEIVING) {
        fake.received += fake.slow && byte != FAKE_NO_BYTE;
        if (fake.slow ? fake.received == sizeof(fake_cmd) : byte == FAKE_LAST)
            next = FAKE_SENT;
    }
    if (next != fake.phase) {
        fake.phase = next;
        fake.ticks = 0;
    }
    fake.ticks++;
    bool late = fake.ticks < fake.late[fake.phase];
    uint8_t sts = fake.sts[fake.phase];
    uint16_t burst = fake.slow && fake.phase != FAKE_IDLE ? 1 : fake.burst[fake.phase];
    if (late && fake.phase == FAKE_RECEIVING)
        burst = 0;
    if (late && fake.phase == FAKE_EXECUTING)
        sts &= (uint8_t)~TIS_STS_DATA_AVAIL;
    fake_set_sts(sts, burst);
    uint8_t fifo = 0;
    if (fake.phase == FAKE_RECEIVING && fake.slow)
        fifo = FAKE_NO_BYTE;
    if (fake.phase == FAKE_EXECUTING)
        fifo = fake.fifo;
    if (fake.phase == FAKE_EXECUTING && fake.slow && !late) {
        fake.served++;
        fifo = fake_rsp_byte(fake.served < 0 ? 0 : (uint32_t)fake.served);
        /* All read (at least a header): no data, no burst count, as a drained TIS shows. */
        if (fake.served >= (int)(fake.rsp_size > 10 ? fake.rsp_size : 10))
            fake_set_sts(sts & (uint8_t)~TIS_STS_DATA_AVAIL, 0);
    }
    fake.regs[TIS_REG_DATA_FIFO] = fifo;
    bool seized = fake.seize_tick && fake.phase == fake.seize_phase && fake.ticks >= fake.seize_tick;
    bool granted = !(late && fake.phase == FAKE_IDLE);
    fake.regs[TIS_REG_ACCESS] = TIS_ACCESS_VALID | (seized    ? TIS_ACCESS_BEEN_SEIZED
                                                    : granted ? TIS_ACCESS_ACTIVE_LOCALITY
                                                              : 0);
    fake.now += fake.step;
    return fake.now;
}

static void fake_relax(void) {}

static const struct tis fake_tis = {.regs = fake.regs, .now_us = fake_now_us, .relax = fake_relax};

/* A ready TIS: valid, commandReady, room for a whole command, expecting bytes until the last. */
static void fake_reset(void)
{
    memset(fake.regs, 0, sizeof(fake.regs));
    fake.regs[TIS_REG_DID_VID] = 0x14;
    fake.regs[TIS_REG_ACCESS] = TIS_ACCESS_VALID | TIS_ACCESS_ACTIVE_LOCALITY;
    fake.phase = FAKE_IDLE;
    fake.ticks = 0;
    fake.step = 100000;
    fake.seize_tick = 0;
    fake.fifo = 0;
    fake.slow = false;
    fake.rsp_size = 10;
    const uint8_t ready = TIS_STS_VALID | TIS_STS_COMMAND_READY;
    fake.sts[FAKE_IDLE] = ready;
    fake.sts[FAKE_RECEIVING] = ready | TIS_STS_EXPECT;
    fake.sts[FAKE_SENT] = TIS_STS_VALID;
    fake.sts[FAKE_EXECUTING] = TIS_STS_VALID | TIS_STS_DATA_AVAIL;
    for (unsigned i = 0; i < 4; i++) {
        fake.burst[i] = 64;
        fake.late[i] = 0;
    }
    fake_set_sts(ready, 64);
}

static enum tis_result fake_transmit(size_t cap)
{
    uint8_t rsp[64];
    size_t got = 99;
    enum tis_result r = tis_transmit(&fake_tis, fake_cmd, sizeof(fake_cmd), rsp, cap, &got, TIS_TIMEOUT_LONG_US);
    CHECK(got == 0, "a failed transmit returned %lu bytes", (uint64_t)got);
    return r;
}

static void expect_result(const char *what, enum tis_result got, enum tis_result want)
{
    CHECK(got == want, "%s: %s, expected %s", what, tis_result_name(got), tis_result_name(want));
}

/* A transmit that must succeed: the slow TIS's response, whole, into a buffer of cap bytes, and
 * nothing written past it. */
static void expect_response(const char *what, size_t cap)
{
    static uint8_t rsp[0x10100];
    memset(rsp, 0xcc, sizeof(rsp));
    size_t got = 0;
    enum tis_result r = tis_transmit(&fake_tis, fake_cmd, sizeof(fake_cmd), rsp, cap, &got, TIS_TIMEOUT_LONG_US);
    bool same = got == fake.rsp_size;
    for (uint32_t i = 0; same && i < fake.rsp_size; i++)
        same = rsp[i] == fake_rsp_byte(i);
    CHECK(r == TIS_OK && same && rsp[fake.rsp_size] == 0xcc, "%s: %s, %lu of %u bytes", what, tis_result_name(r),
          (uint64_t)got, fake.rsp_size);
}

static void test_tis_misbehaving(void)
{
    /* No TPM: all ones, or all zeros, at the vendor id. */
    fake_reset();
    memset(fake.regs + TIS_REG_DID_VID, 0xff, 4);
    CHECK(!tis_present(&fake_tis), "a vendor id of all ones is a TPM");
    expect_result("request with no TPM", tis_request_locality(&fake_tis, false), TIS_ABSENT);
    memset(fake.regs + TIS_REG_DID_VID, 0, 4);
    CHECK(!tis_present(&fake_tis), "a vendor id of 0 is a TPM");

    fake_reset();
    uint8_t rsp[16];
    size_t got;
    /* Refused before the TPM is touched (no tick, no commandReady) ... */
    expect_result("too short a command", tis_transmit(&fake_tis, fake_cmd, 9, rsp, sizeof(rsp), &got, 1), TIS_PROTOCOL);
    expect_result("too small a buffer", tis_transmit(&fake_tis, fake_cmd, 12, rsp, 9, &got, 1), TIS_PROTOCOL);
    CHECK(fake.ticks == 0 && fake.phase == FAKE_IDLE, "a refused command reached the TIS");
    /* ... while a 10-byte command and a 10-byte buffer are sent: protocol errors too, but after
     * the TIS saw them (this device never sees the end of a command without FAKE_LAST, and
     * answers with a header of size 0). */
    expect_result("a 10-byte command", tis_transmit(&fake_tis, fake_cmd, 10, rsp, sizeof(rsp), &got, 1), TIS_PROTOCOL);
    CHECK(fake.ticks > 0 && fake.phase == FAKE_RECEIVING, "a 10-byte command was not sent");
    fake_reset();
    fake.slow = true;
    expect_response("a 10-byte response into 10 bytes", 10);

    /* The response's size from its header, each byte in its place: 266 (0x10a) and 65546
     * (0x1000a) bytes read whole, and one byte more than the buffer refused; a header saying 9
     * (less than itself) is a protocol error. */
    static const struct {
        uint32_t size, cap;
        enum tis_result want;
    } sizes[] = {{266, 300, TIS_OK},          {266, 265, TIS_TOO_BIG},     {0x1000a, 0x10100, TIS_OK},
                 {0x1000a, 0x10009, TIS_TOO_BIG}, {0x100000a, 0x10100, TIS_TOO_BIG}, {9, 64, TIS_PROTOCOL}};
    for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
        fake_reset();
        fake.slow = true;
        fake.rsp_size = sizes[i].size;
        if (sizes[i].want == TIS_OK) {
            expect_response("a long response", sizes[i].cap);
            continue;
        }
        static uint8_t big[0x10100];
        size_t n = 0;
        enum tis_result r = tis_transmit(&fake_tis, fake_cmd, sizeof(fake_cmd), big, sizes[i].cap, &n, TIS_TIMEOUT_LONG_US);
        CHECK(r == sizes[i].want, "a response of %u bytes into %u: %s", sizes[i].size, sizes[i].cap, tis_result_name(r));
    }

    /* A correct TIS with a burst count of 1: one byte per burst, each way. */
    fake_reset();
    fake.slow = true;
    expect_response("burst count 1", 64);

    /* A wait lasts its whole timeout: a state that appears at exactly the timeout is taken, one
     * tick later is a timeout. The locality (timeout 750 ms, ticks of 250 ms): granted at tick 4
     * of the request (750 ms after its start), or 5. */
    for (unsigned t = 4; t <= 5; t++) {
        fake_reset();
        fake.step = 250000;
        fake.regs[TIS_REG_ACCESS] = TIS_ACCESS_VALID;
        fake.late[FAKE_IDLE] = t;
        expect_result(t == 4 ? "granted at the timeout" : "granted after the timeout",
                      tis_request_locality(&fake_tis, false), t == 4 ? TIS_OK : TIS_TIMEOUT);
    }
    /* Room for the first byte (timeout 2 s, ticks of 100 ms; the burst wait starts at the
     * phase's second tick): at tick 22, or 23. The response (timeout 2 s): data available at
     * tick 21 of the command's execution, or 22. */
    static const struct {
        enum fake_phase phase;
        unsigned tick;
        const char *in_time, *too_late;
    } lates[] = {{FAKE_RECEIVING, 22, "room at the timeout", "room after the timeout"},
                 {FAKE_EXECUTING, 21, "a response at the timeout", "a response after the timeout"}};
    for (unsigned i = 0; i < ARRAY_SIZE(lates); i++) {
        for (unsigned t = lates[i].tick; t <= lates[i].tick + 1; t++) {
            fake_reset();
            fake.slow = true;
            fake.late[lates[i].phase] = t;
            if (t == lates[i].tick)
                expect_response(lates[i].in_time, 64);
            else
                expect_result(lates[i].too_late, fake_transmit(64), TIS_TIMEOUT);
        }
    }

    fake_reset();
    fake.sts[FAKE_RECEIVING] = TIS_STS_VALID; /* never commandReady */
    expect_result("never ready", fake_transmit(64), TIS_TIMEOUT);

    fake_reset();
    fake.burst[FAKE_RECEIVING] = 0; /* never room for a byte */
    expect_result("burst count 0", fake_transmit(64), TIS_TIMEOUT);

    fake_reset();
    fake.burst[FAKE_RECEIVING] = 4;
    fake.sts[FAKE_RECEIVING] = TIS_STS_VALID | TIS_STS_COMMAND_READY; /* no expect after 4 bytes */
    expect_result("stops expecting early", fake_transmit(64), TIS_PROTOCOL);

    fake_reset();
    fake.sts[FAKE_RECEIVING] = TIS_STS_COMMAND_READY | TIS_STS_EXPECT; /* stsValid never set */
    expect_result("status never valid", fake_transmit(64), TIS_TIMEOUT);

    fake_reset();
    fake.sts[FAKE_SENT] = TIS_STS_VALID | TIS_STS_EXPECT; /* still expecting after the last byte */
    expect_result("expects more than the command", fake_transmit(64), TIS_PROTOCOL);

    fake_reset();
    fake.seize_phase = FAKE_SENT;
    fake.seize_tick = 1;
    expect_result("seized after the last byte", fake_transmit(64), TIS_SEIZED);

    fake_reset();
    fake.sts[FAKE_EXECUTING] = TIS_STS_VALID; /* never an answer */
    expect_result("no response", fake_transmit(64), TIS_TIMEOUT);

    fake_reset();
    fake.fifo = 0x00; /* a response header of size 0 */
    expect_result("response size 0", fake_transmit(64), TIS_PROTOCOL);

    fake_reset();
    fake.fifo = 0x07; /* size 0x07070707 */
    expect_result("a huge response", fake_transmit(64), TIS_TOO_BIG);

    fake_reset();
    fake.burst[FAKE_EXECUTING] = 0; /* data available, but never a byte to read */
    expect_result("data that cannot be read", fake_transmit(64), TIS_TIMEOUT);

    fake_reset();
    fake.seize_phase = FAKE_RECEIVING;
    fake.seize_tick = 2; /* after commandReady, before the first burst count */
    expect_result("seized before the first byte", fake_transmit(64), TIS_SEIZED);

    fake_reset();
    fake.seize_phase = FAKE_EXECUTING;
    fake.seize_tick = 2; /* after data available, before its burst count */
    expect_result("seized before the response", fake_transmit(64), TIS_SEIZED);

    /* A locality that never becomes active. */
    fake_reset();
    fake.regs[TIS_REG_ACCESS] = TIS_ACCESS_VALID;
    fake.seize_phase = FAKE_IDLE;
    fake.seize_tick = 1;
    expect_result("a locality never granted", tis_request_locality(&fake_tis, false), TIS_TIMEOUT);
    CHECK(!strcmp(tis_result_name((enum tis_result)99), "?"), "an unknown result has a name");
}

/* ---- The real TPM ---- */
#define TPM2_CC_GET_RANDOM 0x0000017b
#define TPM2_RC_COMMAND_CODE 0x143

/* Slots of their own in the fixmap, beside the hypervisor's locality 2 page (tpm.c, slot 16). */
#define SELFTEST_LOC0_VA (FIXMAP_BASE + 17 * PAGE_SIZE)
#define SELFTEST_LOC2_VA (FIXMAP_BASE + 18 * PAGE_SIZE)

static uint64_t real_now_us(void)
{
    uint64_t mhz = tsc_khz() / 1000;
    return arch_cycles() / (mhz ? mhz : 1);
}

static void real_relax(void) { cpu_relax(); }

/* A clock ten times as fast, for the one wait that must run out: a locality the TPM never grants
 * while another holds it (the short timeout, 750 ms, passes in 75 ms of polling: the driver's
 * wait and its result are the same; the vCPU polls the TPM's page all through it). */
static uint64_t fast_now_us(void) { return real_now_us() * 10; }

static const struct tis loc0 = {.regs = (volatile uint8_t *)SELFTEST_LOC0_VA, .now_us = real_now_us, .relax = real_relax};
static const struct tis loc2 = {.regs = (volatile uint8_t *)SELFTEST_LOC2_VA, .now_us = real_now_us, .relax = real_relax};
static const struct tis loc2_fast = {.regs = (volatile uint8_t *)SELFTEST_LOC2_VA, .now_us = fast_now_us,
                                     .relax = real_relax};

static size_t get_random(uint8_t *buf, size_t cap, uint16_t bytes)
{
    struct tpm2_cmd c;
    tpm2_begin(&c, buf, cap, TPM2_ST_NO_SESSIONS, TPM2_CC_GET_RANDOM);
    tpm2_u16(&c, bytes);
    return tpm2_end(&c);
}

/* Sends cmd from `t` and returns the TPM's response code (TPM2_RC_MALFORMED: garbled). */
static enum tis_result real_command(const struct tis *t, const uint8_t *cmd, size_t len, size_t cap, uint32_t *rc,
                                    struct tpm2_rsp *rd, uint8_t *rsp)
{
    size_t got;
    enum tis_result r = tis_transmit(t, cmd, len, rsp, cap, &got, TIS_TIMEOUT_COMMAND_US);
    *rc = r == TIS_OK ? tpm2_rsp_begin(rd, rsp, got) : TPM2_RC_MALFORMED;
    return r;
}

static void test_tis_real(void)
{
    uint8_t cmd[32], rsp[64];
    uint32_t rc;
    struct tpm2_rsp rd;
    size_t len = get_random(cmd, sizeof(cmd), 8);

    /* The firmware may have left locality 0 active: give it up, then a command without it. */
    tis_release_locality(&loc0);
    CHECK(tis_transmit(&loc0, cmd, len, rsp, sizeof(rsp), &(size_t){0}, TIS_TIMEOUT_COMMAND_US) == TIS_SEIZED,
          "a command from an inactive locality was sent");

    expect_result("locality 0", tis_request_locality(&loc0, false), TIS_OK);
    expect_result("locality 0 again", tis_request_locality(&loc0, false), TIS_OK);
    /* Locality 2 asks while 0 holds the TPM: not granted within the short timeout. */
    expect_result("locality 2 while 0 holds it", tis_request_locality(&loc2_fast, false), TIS_TIMEOUT);
    tis_release_locality(&loc2); /* withdraws the pending request */

    expect_result("GetRandom(8)", real_command(&loc0, cmd, len, sizeof(rsp), &rc, &rd, rsp), TIS_OK);
    uint16_t n;
    const uint8_t *p = tpm2_get_b(&rd, &n);
    CHECK(rc == TPM2_RC_SUCCESS && p && n == 8 && rd.off == rd.len, "GetRandom(8): rc 0x%x, %u bytes", rc, n);

    /* A response larger than the buffer: refused, and the TPM is ready for the next command. */
    len = get_random(cmd, sizeof(cmd), 32);
    expect_result("a 44-byte response into 20 bytes", real_command(&loc0, cmd, len, 20, &rc, &rd, rsp), TIS_TOO_BIG);
    expect_result("GetRandom(32) after", real_command(&loc0, cmd, len, sizeof(rsp), &rc, &rd, rsp), TIS_OK);
    p = tpm2_get_b(&rd, &n);
    CHECK(rc == TPM2_RC_SUCCESS && p && n == 32, "GetRandom(32) after a refused response: rc 0x%x, %u bytes", rc, n);

    /* A command code the TPM does not know: a well-formed error response. */
    struct tpm2_cmd c;
    tpm2_begin(&c, cmd, sizeof(cmd), TPM2_ST_NO_SESSIONS, 0x1ff);
    len = tpm2_end(&c);
    expect_result("an unknown command", real_command(&loc0, cmd, len, sizeof(rsp), &rc, &rd, rsp), TIS_OK);
    CHECK(rc == TPM2_RC_COMMAND_CODE && !rd.bad, "an unknown command: rc 0x%x", rc);

    /* Locality 2 seizes the TPM from 0: 0's next command fails, and it must ask again. */
    expect_result("locality 2 seizes", tis_request_locality(&loc2, true), TIS_OK);
    CHECK(loc0.regs[TIS_REG_ACCESS] & TIS_ACCESS_BEEN_SEIZED, "locality 0 not told it was seized: 0x%x",
          loc0.regs[TIS_REG_ACCESS]);
    len = get_random(cmd, sizeof(cmd), 8);
    expect_result("locality 0 after the seizure", real_command(&loc0, cmd, len, sizeof(rsp), &rc, &rd, rsp),
                TIS_SEIZED);
    tis_release_locality(&loc2);
    tis_release_locality(&loc0);
    CHECK(!(loc0.regs[TIS_REG_ACCESS] & TIS_ACCESS_BEEN_SEIZED), "beenSeized not cleared");
    expect_result("locality 0 asks again", tis_request_locality(&loc0, false), TIS_OK);
    expect_result("GetRandom(8) again", real_command(&loc0, cmd, len, sizeof(rsp), &rc, &rd, rsp), TIS_OK);
    CHECK(rc == TPM2_RC_SUCCESS, "GetRandom(8) again: rc 0x%x", rc);
    tis_release_locality(&loc0);

    /* The hypervisor's own commands (tpm.c): a PCR that locality 2 may not reset is refused with
     * the TPM's code (-EIO); PCR 23 (resettable from any locality) is reset and extended. */
    CHECK(tpm_init(), "tpm_init found no TPM");
    long err = tpm_pcr_reset(0);
    CHECK(err == -XEN_EIO, "PCR_Reset(0) from locality 2: %ld", err);
    err = tpm_pcr_reset(23);
    CHECK(err == 0, "PCR_Reset(23): %ld", err);
    uint8_t d[32];
    memset(d, 0x33, sizeof(d));
    err = tpm_pcr_extend(23, d);
    CHECK(err == 0, "PCR_Extend(23): %ld", err);
}

static void test_tpm_absent(void)
{
    expect_result("locality 0 with no TPM", tis_request_locality(&loc0, false), TIS_ABSENT);
    CHECK(!tpm_init(), "tpm_init found a TPM");
    uint8_t d[32] = {0};
    CHECK(tpm_pcr_reset(23) == -XEN_ENOSYS && tpm_pcr_extend(23, d) == -XEN_ENOSYS, "PCR commands without a TPM");
}

/*
 * The firmware event log's length (measure_fwlog.c used_length) over crafted logs: a Spec ID header
 * (a TPM 1.2-style event naming the banks: SHA-1, 20 bytes, and SHA-256, 32) and TCG_PCR_EVENT2
 * records, each check of the walk met once. SeaBIOS's real log only ever takes the good path.
 */
static uint8_t fwlog[1024];

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* The header event with nalg banks (the first two real) and eventSize hdr_size; its length. */
static size_t fwlog_header(uint32_t nalg, uint32_t hdr_size)
{
    memset(fwlog, 0, sizeof(fwlog));
    put32(fwlog + 4, 3); /* EV_NO_ACTION */
    put32(fwlog + 28, hdr_size);
    memcpy(fwlog + 32, "Spec ID Event03", 16);
    put32(fwlog + 32 + 24, nalg);
    for (uint32_t i = 0; i < nalg && 28 + 4 * i + 4 <= hdr_size; i++) {
        put16(fwlog + 32 + 28 + 4 * i, i == 0 ? 0x0004 : i == 1 ? 0x000b : (uint16_t)(0x100 + i));
        put16(fwlog + 32 + 30 + 4 * i, i == 0 ? 20 : 32);
    }
    return 32 + hdr_size;
}

/* A TCG_PCR_EVENT2 at off with `count` digests (SHA-1 then SHA-256, or alg for the second) and
 * esize bytes of event data; returns its end. */
static size_t fwlog_event(size_t off, uint32_t count, uint16_t alg, uint32_t esize)
{
    put32(fwlog + off, 0);
    put32(fwlog + off + 4, 0xd);
    put32(fwlog + off + 8, count);
    off += 12;
    for (uint32_t k = 0; k < count; k++) {
        uint16_t a = k == 0 ? 0x0004 : alg;
        put16(fwlog + off, a);
        off += 2 + (a == 0x0004 ? 20 : 32);
    }
    put32(fwlog + off, esize);
    return off + 4 + esize;
}

static void expect_used(const char *what, size_t area, size_t want)
{
    size_t got = selftest_fwlog_used_length(fwlog, area);
    CHECK(got == want, "%s: %lu bytes used, not %lu", what, (uint64_t)got, (uint64_t)want);
}

static void test_fwlog(void)
{
    size_t h = fwlog_header(2, 24 + 4 + 8 + 1);
    size_t e1 = fwlog_event(h, 2, 0x000b, 5), e2 = fwlog_event(e1, 2, 0x000b, 0);
    expect_used("two events, then zeros", sizeof(fwlog), e2);
    expect_used("the area ends with the second event", e2, e2);
    expect_used("the area ends inside the second's header", e1 + 11, e1);
    expect_used("the area ends inside the second's digests", e1 + 12 + 2 + 20 + 1, e1);
    expect_used("the area ends before the second's size", e2 - 4 + 3, e1);
    expect_used("the area ends after the header", h, h);
    size_t e2_long = fwlog_event(e1, 2, 0x000b, 5);
    expect_used("the second's data runs past the area", e2_long - 1, e1);
    expect_used("the second's data ends the area", e2_long, e2_long);
    fwlog_event(e1, 0, 0, 0);
    expect_used("an event with no digests ends the log", sizeof(fwlog), e1);
    fwlog_event(e1, 3, 0x000b, 0);
    expect_used("an event with more digests than banks", sizeof(fwlog), e1);
    fwlog_event(e1, 2, 0x0012, 0);
    expect_used("an event with a digest of a bank not named", sizeof(fwlog), e1);

    expect_used("an area shorter than a header", 35, 0);
    fwlog_header(2, 24 + 4 + 8 + 1);
    fwlog[32] = 'X';
    expect_used("no Spec ID signature", sizeof(fwlog), 0);
    fwlog_header(2, 27);
    expect_used("a header too short for its bank count", sizeof(fwlog), 0);
    fwlog_header(2, 2000);
    expect_used("a header larger than the area", sizeof(fwlog), 0);
    fwlog_header(0, 24 + 4 + 1);
    expect_used("no banks", sizeof(fwlog), 0);
    fwlog_header(9, 24 + 4 + 36 + 1);
    expect_used("nine banks", sizeof(fwlog), 0);
    fwlog_header(8, 24 + 4 + 4 * 8 + 1);
    expect_used("eight banks, no events", sizeof(fwlog), 32 + 24 + 4 + 4 * 8 + 1);
    fwlog_header(3, 24 + 4 + 8);
    expect_used("three banks in a header with room for two", sizeof(fwlog), 0);
}

void selftest_fwlog(void)
{
    test_fwlog();
    printk("selftest: fwlog: %u checks\n", selftest_checks);
}

void selftest_sha256(void)
{
    test_sha256_vectors();
    printk("selftest: sha256: %u checks\n", selftest_checks);
}

void selftest_tpm(void)
{
    test_tpm2_marshalling();
    test_tpm2_every_capacity();
    test_tpm2_writers_every_capacity();
    test_tpm2_reads_after_a_failure();
    test_tis_misbehaving();
    printk("selftest: tpm: marshalling and a misbehaving TIS: %u checks\n", selftest_checks);
    if (!paging_map_page(SELFTEST_LOC0_VA, TIS_BASE, MAP_WRITABLE | MAP_UNCACHED | MAP_NOEXEC) ||
        !paging_map_page(SELFTEST_LOC2_VA, TIS_BASE + 2 * TIS_LOCALITY_SIZE, MAP_WRITABLE | MAP_UNCACHED | MAP_NOEXEC)) {
        printk("check failed: the TIS pages cannot be mapped\n");
        selftest_failures++;
        return;
    }
    unsigned before = selftest_checks;
    if (tis_present(&loc0)) {
        test_tis_real();
        printk("selftest: tpm: the real TPM: %u checks\n", selftest_checks - before);
    } else {
        test_tpm_absent();
        printk("selftest: tpm: no TPM: %u checks\n", selftest_checks - before);
    }
}

#endif
