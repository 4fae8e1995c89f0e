// SPDX-License-Identifier: MIT
// The TIS FIFO protocol (TCG PC Client Platform TPM Profile, FIFO interface): become the active
// locality, put the TPM in the ready state, write the command while the burst count allows, set
// go, wait for data, read the response's header and then the rest, and return the TPM to ready.
// Every wait is bounded by the caller's clock; every register access is a volatile MMIO access.
#include <lib/tpm_tis.h>

static uint8_t rd8(const struct tis *t, unsigned reg) { return t->regs[reg]; }
static void wr8(const struct tis *t, unsigned reg, uint8_t v) { t->regs[reg] = v; }
static uint32_t rd32(const struct tis *t, unsigned reg) { return *(volatile uint32_t *)(t->regs + reg); }

static bool active(const struct tis *t)
{
    uint8_t a = rd8(t, TIS_REG_ACCESS);
    return (a & (TIS_ACCESS_VALID | TIS_ACCESS_ACTIVE_LOCALITY)) == (TIS_ACCESS_VALID | TIS_ACCESS_ACTIVE_LOCALITY);
}

/* Waits until (STS & mask) == want; TIS_SEIZED as soon as the locality is lost. */
static enum tis_result wait_sts(const struct tis *t, uint32_t mask, uint32_t want, uint64_t timeout_us)
{
    uint64_t start = t->now_us();
    for (;;) {
        if (!active(t))
            return TIS_SEIZED;
        if ((rd32(t, TIS_REG_STS) & mask) == want)
            return TIS_OK;
        if (t->now_us() - start > timeout_us)
            return TIS_TIMEOUT;
        t->relax();
    }
}

/* The burst count: how many bytes the FIFO takes or gives now (waits for a nonzero one). */
static enum tis_result burst(const struct tis *t, uint32_t *count)
{
    uint64_t start = t->now_us();
    for (;;) {
        if (!active(t))
            return TIS_SEIZED;
        *count = (rd32(t, TIS_REG_STS) >> 8) & 0xffff;
        if (*count)
            return TIS_OK;
        if (t->now_us() - start > TIS_TIMEOUT_LONG_US)
            return TIS_TIMEOUT;
        t->relax();
    }
}

bool tis_present(const struct tis *t)
{
    uint32_t id = rd32(t, TIS_REG_DID_VID);
    return id != 0xffffffffu && id != 0;
}

enum tis_result tis_request_locality(const struct tis *t, bool seize)
{
    if (!tis_present(t))
        return TIS_ABSENT;
    if (active(t))
        return TIS_OK;
    wr8(t, TIS_REG_ACCESS, seize ? TIS_ACCESS_SEIZE : TIS_ACCESS_REQUEST_USE);
    uint64_t start = t->now_us();
    while (!active(t)) {
        if (t->now_us() - start > TIS_TIMEOUT_SHORT_US)
            return TIS_TIMEOUT;
        t->relax();
    }
    return TIS_OK;
}

void tis_release_locality(const struct tis *t)
{
    /* Writing activeLocality relinquishes it; beenSeized is cleared by writing it too. */
    wr8(t, TIS_REG_ACCESS, TIS_ACCESS_ACTIVE_LOCALITY | TIS_ACCESS_BEEN_SEIZED);
}

static enum tis_result ready(const struct tis *t)
{
    wr8(t, TIS_REG_STS, TIS_STS_COMMAND_READY);
    return wait_sts(t, TIS_STS_COMMAND_READY, TIS_STS_COMMAND_READY, TIS_TIMEOUT_LONG_US);
}

static enum tis_result read_fifo(const struct tis *t, uint8_t *dst, size_t n)
{
    while (n) {
        uint32_t count;
        enum tis_result r = burst(t, &count);
        if (r != TIS_OK)
            return r;
        for (; count && n; count--, n--)
            *dst++ = rd8(t, TIS_REG_DATA_FIFO);
    }
    return TIS_OK;
}

enum tis_result tis_transmit(const struct tis *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap,
                             size_t *rsp_len, uint64_t timeout_us)
{
    enum tis_result r;
    *rsp_len = 0;
    if (len < 10 || cap < 10)
        return TIS_PROTOCOL;
    if (!active(t))
        return TIS_SEIZED;
    if ((r = ready(t)) != TIS_OK)
        return r;

    /* All but the last byte; the TPM must still expect more, then no more after the last. */
    size_t sent = 0;
    while (sent < len - 1) {
        uint32_t count;
        if ((r = burst(t, &count)) != TIS_OK)
            return r;
        for (; count && sent < len - 1; count--)
            wr8(t, TIS_REG_DATA_FIFO, cmd[sent++]);
        if ((r = wait_sts(t, TIS_STS_VALID, TIS_STS_VALID, TIS_TIMEOUT_SHORT_US)) != TIS_OK)
            return r;
        if (!(rd32(t, TIS_REG_STS) & TIS_STS_EXPECT))
            return TIS_PROTOCOL;
    }
    wr8(t, TIS_REG_DATA_FIFO, cmd[len - 1]);
    if ((r = wait_sts(t, TIS_STS_VALID | TIS_STS_EXPECT, TIS_STS_VALID, TIS_TIMEOUT_SHORT_US)) != TIS_OK)
        return r == TIS_TIMEOUT ? TIS_PROTOCOL : r;

    wr8(t, TIS_REG_STS, TIS_STS_GO);
    r = wait_sts(t, TIS_STS_VALID | TIS_STS_DATA_AVAIL, TIS_STS_VALID | TIS_STS_DATA_AVAIL, timeout_us);
    if (r != TIS_OK)
        return r;

    /* The header (tag, size, code), then as many bytes as it says. */
    if ((r = read_fifo(t, rsp, 10)) != TIS_OK)
        return r;
    uint32_t size = ((uint32_t)rsp[2] << 24) | ((uint32_t)rsp[3] << 16) | ((uint32_t)rsp[4] << 8) | rsp[5];
    if (size < 10) {
        ready(t);
        return TIS_PROTOCOL;
    }
    if (size > cap) {
        ready(t);
        return TIS_TOO_BIG;
    }
    if ((r = read_fifo(t, rsp + 10, size - 10)) != TIS_OK)
        return r;
    *rsp_len = size;
    ready(t); /* back to idle: the TPM may drop the response now */
    return TIS_OK;
}

const char *tis_result_name(enum tis_result r)
{
    switch (r) {
    case TIS_OK: return "ok";
    case TIS_ABSENT: return "no TPM";
    case TIS_TIMEOUT: return "timeout";
    case TIS_SEIZED: return "locality seized";
    case TIS_PROTOCOL: return "FIFO protocol error";
    case TIS_TOO_BIG: return "response too big";
    default: return "?";
    }
}
