// SPDX-License-Identifier: MIT
// SHA-256 as FIPS 180-4 defines it: the 64-word message schedule kept as a 16-word ring, the
// rounds unrolled by eight so the working variables rotate by name instead of by moves, and whole
// blocks compressed straight from the input (no copy). Shared by the hypervisor and the guests.
#include <lib/sha256.h>
#include <lib/string.h>

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Big-endian stores of the length and the digest: one byte swap and one store each, not a shift
 * and a byte store per byte (the finish of every hash, short ones included, such as a relabel's
 * measurement). __builtin_memcpy of a constant size is a plain move even under -fno-builtin, and
 * makes no assumption about the destination's alignment. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TO_BE32(v) __builtin_bswap32(v)
#define TO_BE64(v) __builtin_bswap64(v)
#else
#define TO_BE32(v) (v)
#define TO_BE64(v) (v)
#endif

static inline void store_be32(uint8_t *p, uint32_t v)
{
    v = TO_BE32(v);
    __builtin_memcpy(p, &v, sizeof(v));
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    v = TO_BE64(v);
    __builtin_memcpy(p, &v, sizeof(v));
}

/* The Sigma functions as nested rotations: ror(x, 2) ^ ror(x, 13) ^ ror(x, 22) is
 * ror(x ^ ror(x ^ ror(x, 9), 11), 2), three rotations and two xors with no copy of x kept aside. */
#define S0(x) ror((x) ^ ror((x) ^ ror(x, 9), 11), 2)
#define S1(x) ror((x) ^ ror((x) ^ ror(x, 14), 5), 6)
#define s0(x) (ror((x) ^ ror(x, 11), 7) ^ ((x) >> 3))
#define s1(x) (ror((x) ^ ror(x, 2), 17) ^ ((x) >> 10))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))

/* One round, with the eight working variables named by their role in this round: unrolling by
 * eight lets the roles rotate instead of moving eight values every round. Maj(a, b, c) is
 * b ^ ((a ^ b) & (b ^ c)), and this round's b ^ c is the previous round's a ^ b: ab and bc carry
 * it from one round to the next. */
#define ROUND(a, b, c, d, e, f, g, h, t, wt, ab, bc)                                                                   \
    do {                                                                                                               \
        uint32_t t1_ = (h) + S1(e) + CH(e, f, g) + K[t] + (wt);                                                        \
        (ab) = (a) ^ (b);                                                                                              \
        (d) += t1_;                                                                                                    \
        (h) = t1_ + S0(a) + ((b) ^ ((ab) & (bc)));                                                                     \
    } while (0)

/* The message schedule as a 16-word ring: w[t] = s1(w[t-2]) + w[t-7] + s0(w[t-15]) + w[t-16]. */
#define W(t) (w[(t) & 15] = s1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] + s0(w[((t) - 15) & 15]) + w[(t) & 15])

/* Eight rounds, t0 to t0 + 7, on the words `wt(t)` gives. */
#define ROUNDS8(t0, wt)                                                                                                \
    do {                                                                                                               \
        ROUND(a, b, c, d, e, f, g, k, (t0) + 0, wt((t0) + 0), x, y);                                                   \
        ROUND(k, a, b, c, d, e, f, g, (t0) + 1, wt((t0) + 1), y, x);                                                   \
        ROUND(g, k, a, b, c, d, e, f, (t0) + 2, wt((t0) + 2), x, y);                                                   \
        ROUND(f, g, k, a, b, c, d, e, (t0) + 3, wt((t0) + 3), y, x);                                                   \
        ROUND(e, f, g, k, a, b, c, d, (t0) + 4, wt((t0) + 4), x, y);                                                   \
        ROUND(d, e, f, g, k, a, b, c, (t0) + 5, wt((t0) + 5), y, x);                                                   \
        ROUND(c, d, e, f, g, k, a, b, (t0) + 6, wt((t0) + 6), x, y);                                                   \
        ROUND(b, c, d, e, f, g, k, a, (t0) + 7, wt((t0) + 7), y, x);                                                   \
    } while (0)

/* The first sixteen words, loaded big-endian as the rounds use them. */
#define WIN(t) (w[t] = load_be32(block + 4 * (t)))

static void compress(uint32_t h[8], const uint8_t *block)
{
    uint32_t w[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    uint32_t x, y = b ^ c; /* y: the first round's b ^ c */
    /* Written out, not looped: with constant t the ring's indices are constants, not arithmetic. */
    ROUNDS8(0, WIN);
    ROUNDS8(8, WIN);
    ROUNDS8(16, W);
    ROUNDS8(24, W);
    ROUNDS8(32, W);
    ROUNDS8(40, W);
    ROUNDS8(48, W);
    ROUNDS8(56, W);
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

/* n >= 1 whole blocks: the CPU's SHA instructions where the build and the machine have them. */
static void compress_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
#ifdef SHA256_ARCH_BLOCKS
    if (sha256_arch_blocks(h, p, n))
        return;
#endif
    for (; n; p += SHA256_BLOCK_SIZE, n--)
        compress(h, p);
}

/* The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

void sha256_init(struct sha256_ctx *c)
{
    memcpy(c->h, iv, sizeof(iv));
    c->bytes = 0;
    c->fill = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    c->bytes += n;
    if (c->fill) {
        size_t take = SHA256_BLOCK_SIZE - c->fill;
        if (take > n)
            take = n;
        memcpy(c->block + c->fill, p, take);
        c->fill += (uint32_t)take;
        p += take;
        n -= take;
        if (c->fill < SHA256_BLOCK_SIZE)
            return;
        compress_blocks(c->h, c->block, 1);
        c->fill = 0;
    }
    if (n >= SHA256_BLOCK_SIZE) {
        size_t whole = n / SHA256_BLOCK_SIZE;
        compress_blocks(c->h, p, whole);
        p += whole * SHA256_BLOCK_SIZE;
        n -= whole * SHA256_BLOCK_SIZE;
    }
    if (n) {
        memcpy(c->block, p, n);
        c->fill = (uint32_t)n;
    }
}

void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE])
{
    /* Padding: a 1 bit, zeros up to 56 mod 64, then the length in bits, big-endian. */
    uint64_t bits = c->bytes * 8;
    c->block[c->fill++] = 0x80;
    if (c->fill > 56) {
        memset(c->block + c->fill, 0, SHA256_BLOCK_SIZE - c->fill);
        compress_blocks(c->h, c->block, 1);
        c->fill = 0;
    }
    memset(c->block + c->fill, 0, 56 - c->fill);
    store_be64(c->block + 56, bits);
    compress_blocks(c->h, c->block, 1);
    for (unsigned i = 0; i < 8; i++)
        store_be32(digest + 4 * i, c->h[i]);
    memset(c, 0, sizeof(*c));
}

/* The digest of a message short enough that it, the padding's 0x80 and the 8-byte length fit in one
 * block (at most 55 bytes: a relabel's measured event, say): the block is laid out once and
 * compressed once, with none of the streaming context's bookkeeping. The block and the state are
 * cleared after (one clear: they are one object), as sha256_final clears the context. */
static void sha256_one_block(const uint8_t *data, size_t n, uint8_t digest[SHA256_DIGEST_SIZE])
{
    struct {
        uint32_t h[8];
        uint8_t block[SHA256_BLOCK_SIZE];
    } s;
    __builtin_memcpy(s.h, iv, sizeof(s.h));
    memcpy(s.block, data, n);
    s.block[n] = 0x80;
    memset(s.block + n + 1, 0, SHA256_BLOCK_SIZE - 8 - (n + 1));
    store_be64(s.block + SHA256_BLOCK_SIZE - 8, (uint64_t)n * 8);
    compress_blocks(s.h, s.block, 1);
#pragma GCC unroll 8
    for (unsigned i = 0; i < 8; i++)
        store_be32(digest + 4 * i, s.h[i]);
    memset(&s, 0, sizeof(s));
}

void sha256(const void *data, size_t n, uint8_t digest[SHA256_DIGEST_SIZE])
{
    if (n < SHA256_BLOCK_SIZE - 8) {
        sha256_one_block(data, n, digest);
        return;
    }
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(&c, digest);
}
