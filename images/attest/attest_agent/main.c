// SPDX-License-Identifier: MIT
// The attestation agent's line protocol on COM2 (docs/attestation.md, "The protocol"). The
// verifier sends one request line and reads one response line; bytes are ASCII, binary values
// lowercase hex, fields separated by one space, lines end with \n. The agent says READY once it
// listens, and exits after BYE (or after `idle=<seconds>` without a request, default 120).
//
//   HELLO                              OK moat-attest 1 <domid> <name>
//   EK                                 EK <TPM2B_PUBLIC> <certificate DER>
//   AK                                 AK <TPM2B_PUBLIC>
//   ACTIVATE <TPM2B_ID_OBJECT> <TPM2B_ENCRYPTED_SECRET>    SECRET <the credential>
//   QUOTE <nonce> <PCR mask, hex>      QUOTE <TPM2B_ATTEST> <TPMT_SIGNATURE> <PCR values>
//   LOG <hv|fw> <offset, decimal>      DATA <total size> <offset> <up to 1024 bytes>
//   BYE                                BYE
//   (anything that fails)              ERR <reason>
#include <public/device.h>
#include <public/measure.h>

#include "agent.h"

#define LINE_MAX 8192
#define LOG_CHUNK 1024

static char line[LINE_MAX + 1];
static char out[2 * 4096 + 2 * 2048 + 64];
static uint8_t buf_a[4096], buf_b[2048], buf_c[1024];


static void send(const char *s) { uart_write(s, strlen(s)); }

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    send(out);
    send("\n");
}

static char *hex(char *dst, const uint8_t *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *dst++ = digits[src[i] >> 4];
        *dst++ = digits[src[i] & 15];
    }
    *dst = '\0';
    return dst;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the hex word at *p (advancing past it and one space); -1 if it is not hex or too long. */
static long unhex(char **p, uint8_t *dst, size_t cap)
{
    char *s = *p;
    size_t n = 0;
    while (s[0] && s[0] != ' ') {
        int hi = nibble(s[0]), lo = s[1] ? nibble(s[1]) : -1;
        if (hi < 0 || lo < 0 || n >= cap)
            return -1;
        dst[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    if (*s == ' ')
        s++;
    *p = s;
    return (long)n;
}

/* How long the agent looks at the line without sleeping: after a byte (the rest of a line follows
 * at once) and after its own answer (the verifier's next request often does too). Past that it
 * sleeps a millisecond between looks: an agent waiting for its verifier leaves its CPU (under QEMU,
 * a host core) to others instead of spinning through the verifier's work. */
#define SPIN_NS (2 * NS_PER_MS)

/* Reads one line into `line`; false after `idle_ns` without any byte. Overlong lines are cut
 * and reported as such (the rest is read and dropped). */
static bool read_line(uint64_t idle_ns, bool *overlong)
{
    size_t n = 0;
    uint64_t last = now_ns();
    *overlong = false;
    for (;;) {
        int c = uart_read();
        if (c < 0) {
            uint64_t quiet = now_ns() - last;
            if (quiet > idle_ns)
                return false;
            if (quiet < SPIN_NS)
                sched_yield();
            else
                sleep_ns(NS_PER_MS);
            continue;
        }
        last = now_ns();
        if (c == '\n') {
            line[n] = '\0';
            return true;
        }
        if (c == '\r')
            continue;
        if (n < LINE_MAX)
            line[n++] = (char)c;
        else
            *overlong = true;
    }
}

static bool word(char **p, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(*p, w, n) || ((*p)[n] != ' ' && (*p)[n] != '\0'))
        return false;
    *p += n + ((*p)[n] == ' ');
    return true;
}

static void do_ek(void)
{
    size_t pub_len, cert_len;
    const char *err = tpm_create_ek(buf_a, sizeof(buf_a), &pub_len);
    if (!err)
        err = tpm_ek_cert(buf_b, sizeof(buf_b), &cert_len);
    if (err) {
        reply("ERR %s", err);
        return;
    }
    char *o = out + snprintf(out, sizeof(out), "EK ");
    o = hex(o, buf_a, pub_len);
    *o++ = ' ';
    hex(o, buf_b, cert_len);
    send(out);
    send("\n");
}

static void do_ak(void)
{
    size_t len;
    const char *err = tpm_create_ak(buf_a, sizeof(buf_a), &len);
    if (err) {
        reply("ERR %s", err);
        return;
    }
    char *o = out + snprintf(out, sizeof(out), "AK ");
    hex(o, buf_a, len);
    send(out);
    send("\n");
}

static void do_activate(char *p)
{
    long blob = unhex(&p, buf_a, sizeof(buf_a) / 2);
    long secret = unhex(&p, buf_a + sizeof(buf_a) / 2, sizeof(buf_a) / 2);
    if (blob < 0 || secret < 0 || *p) {
        reply("ERR ACTIVATE wants two hex words");
        return;
    }
    size_t len;
    const char *err = tpm_activate(buf_a, (size_t)blob, buf_a + sizeof(buf_a) / 2, (size_t)secret, buf_c,
                                   sizeof(buf_c), &len);
    if (err) {
        reply("ERR %s", err);
        return;
    }
    char *o = out + snprintf(out, sizeof(out), "SECRET ");
    hex(o, buf_c, len);
    send(out);
    send("\n");
}

static void do_quote(char *p)
{
    uint8_t nonce[64];
    long n = unhex(&p, nonce, sizeof(nonce));
    char *end;
    unsigned long mask = 0;
    for (end = p; nibble(*end) >= 0; end++)
        mask = mask << 4 | (unsigned long)nibble(*end);
    if (n < 0 || end == p || *end || mask == 0 || mask >> 24) {
        reply("ERR QUOTE wants a hex nonce and a hex PCR mask");
        return;
    }
    size_t alen, slen, plen;
    const char *err = tpm_quote(nonce, (size_t)n, (uint32_t)mask, buf_a, &alen, buf_b, &slen, buf_c, &plen);
    if (err) {
        reply("ERR %s", err);
        return;
    }
    lie_quote(buf_a, &alen, buf_b, &slen, buf_c, &plen);
    char *o = out + snprintf(out, sizeof(out), "QUOTE ");
    o = hex(o, buf_a, alen);
    *o++ = ' ';
    o = hex(o, buf_b, slen);
    *o++ = ' ';
    hex(o, buf_c, plen);
    send(out);
    send("\n");
}

long measure_op(unsigned cmd, unsigned which, uint64_t offset, void *dst, size_t size)
{
    return hypercall5(__HYPERVISOR_measure_op, cmd, which, offset, (unsigned long)dst, size);
}

static void do_log(char *p)
{
    int which = word(&p, "hv") ? MEASURE_LOG_HYPERVISOR : word(&p, "fw") ? MEASURE_LOG_FIRMWARE : -1;
    uint64_t offset = 0;
    char *s = p;
    for (; *s >= '0' && *s <= '9' && offset < (1u << 30); s++)
        offset = offset * 10 + (uint64_t)(*s - '0');
    if (which < 0 || s == p || *s) {
        reply("ERR LOG wants hv or fw and a decimal offset");
        return;
    }
    long total = measure_op(MEASUREOP_log_size, (unsigned)which, 0, NULL, 0);
    long got = lie_log(which, offset, buf_c, LOG_CHUNK);
    if (got < 0)
        got = measure_op(MEASUREOP_read_log, (unsigned)which, offset, buf_c, LOG_CHUNK);
    if (total < 0 || got < 0) {
        reply("ERR measure_op: %ld", total < 0 ? total : got);
        return;
    }
    char *o = out + snprintf(out, sizeof(out), "DATA %ld %lu ", total, (unsigned long)offset);
    hex(o, buf_c, (size_t)got);
    send(out);
    send("\n");
}

int main(const struct start_info *si)
{
    uint64_t idle = cmdline_ulong("idle", 120) * NS_PER_SEC;
    const char *err = tpm_open();
    if (err) {
        printf("attest agent: %s\n", err);
        return 1;
    }
    uart_init();
    lie_at_start();
    printf("attest agent: listening on COM2 (TPM locality 0 at 0x%lx)\n", (unsigned long)GUEST_TPM_VA);
    send("READY moat-attest 1\n");
    for (;;) {
        bool overlong;
        if (!read_line(idle, &overlong)) {
            printf("attest agent: no request for %lu s: leaving\n", (unsigned long)(idle / NS_PER_SEC));
            return 0;
        }
        char *p = line;
        if (overlong)
            reply("ERR line longer than %u bytes", LINE_MAX);
        else if (word(&p, "HELLO") && !*p)
            reply("OK moat-attest 1 %u %s", si->domid, si->name);
        else if (word(&p, "EK") && !*p)
            do_ek();
        else if (word(&p, "AK") && !*p)
            do_ak();
        else if (word(&p, "ACTIVATE"))
            do_activate(p);
        else if (word(&p, "QUOTE"))
            do_quote(p);
        else if (word(&p, "LOG"))
            do_log(p);
        else if (word(&p, "BYE") && !*p) {
            tpm_close();
            reply("BYE");
            printf("attest agent: the verifier said bye (%lu TPM commands sent again after a seize)\n",
                   tpm_seizes());
            return 0;
        } else
            reply("ERR unknown request");
    }
}
