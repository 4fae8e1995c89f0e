// SPDX-License-Identifier: MIT
// Host driver for hv/lib/sha256.c: `sha256_check CHUNK FILE...` prints the SHA-256 of each file,
// fed to sha256_update CHUNK bytes at a time (0: the whole file in one call; `one`: to sha256(),
// the one-call digest, whose short messages take their own one-block path), as lowercase hex.
// tests/attest/test_sha256.py compares it with hashlib and the NIST vectors.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/sha256.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CHUNK FILE...\n", argv[0]);
        return 2;
    }
    bool one_call = !strcmp(argv[1], "one");
    size_t chunk = one_call ? 0 : strtoul(argv[1], NULL, 0);
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t cap = 1 << 16, len = 0;
        unsigned char *buf = malloc(cap);
        size_t got;
        while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
            len += got;
            if (len < cap)
                continue;
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
        fclose(f);
        if (!buf) {
            perror("out of memory");
            return 1;
        }
        unsigned char d[SHA256_DIGEST_SIZE];
        if (one_call) {
            sha256(buf, len, d);
        } else {
            struct sha256_ctx c;
            sha256_init(&c);
            size_t step = chunk ? chunk : (len ? len : 1);
            for (size_t off = 0; off < len; off += step)
                sha256_update(&c, buf + off, len - off < step ? len - off : step);
            sha256_final(&c, d);
        }
        for (int j = 0; j < SHA256_DIGEST_SIZE; j++)
            printf("%02x", d[j]);
        printf("\n");
        free(buf);
    }
    return 0;
}
