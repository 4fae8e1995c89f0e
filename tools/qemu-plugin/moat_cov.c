/* SPDX-License-Identifier: MIT */
/*
 * moat's coverage recorder, a QEMU TCG plugin (docs/coverage.md, "moat coverage").
 *
 * QEMU calls on_translate for every translation block (TB) it builds. A TB that starts inside one
 * of the address ranges given as arguments (the hypervisor's code) gets a record, shared by every
 * later translation of the same instructions, and an execution callback; every other TB (firmware,
 * guests) is left exactly as QEMU made it. The callback notes that the TB ran and, when the block
 * that ran before it on the same vCPU ended in a conditional jump, marks which of that jump's two
 * successors this block is. Anything else in between (an interrupt, an exception, a guest) makes
 * the next block some other address, which matches neither successor: it marks nothing, so an
 * outcome is never invented. At exit the records go, as text, to the file named by out=.
 *
 * Arguments (QEMU's -plugin FILE,out=PATH,range=LO-HI[,range=LO-HI...]): LO and HI in hex, HI
 * excluded. The callbacks are helper calls in the translated code, not guest instructions, so
 * under -icount the guest's instruction counts are unchanged.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jump_decode.h"
#include "qemu_plugin_api.h"

/* Set before QEMU reads it, by choose_api(): QEMU checks it right after loading the plugin. */
MOAT_PLUGIN_EXPORT int qemu_plugin_version = MOAT_QEMU_PLUGIN_API_OLD;

/*
 * The one entry point whose signature changed between the APIs this plugin speaks: QEMU 7.2 and
 * 8.x (API 1) hand out a pointer to an instruction's bytes; QEMU 9 and later (API 3 and up, which
 * no longer accept a plugin of API 1) copy them into the caller's buffer. The plugin runs inside
 * QEMU, so what QEMU exports tells which QEMU loaded it: the scoreboards came with API 3.
 */
typedef const void *insn_data_old_fn(const struct qemu_plugin_insn *insn);
typedef size_t insn_data_new_fn(const struct qemu_plugin_insn *insn, void *dest, size_t len);
static insn_data_old_fn *insn_data_old;
static insn_data_new_fn *insn_data_new;

__attribute__((constructor)) static void choose_api(void)
{
    void *data = dlsym(RTLD_DEFAULT, "qemu_plugin_insn_data");
    bool new_api = dlsym(RTLD_DEFAULT, "qemu_plugin_scoreboard_new") != NULL;
    /* POSIX: a function's address from dlsym is converted through its object pointer. */
    if (new_api) {
        memcpy(&insn_data_new, &data, sizeof(data));
    } else {
        memcpy(&insn_data_old, &data, sizeof(data));
    }
    qemu_plugin_version = new_api ? MOAT_QEMU_PLUGIN_API_NEW : MOAT_QEMU_PLUGIN_API_OLD;
}

/* The final instruction's bytes (at most 15 on x86), or NULL. */
static const uint8_t *insn_bytes(const struct qemu_plugin_insn *insn, uint8_t buf[16], size_t size)
{
    if (insn_data_new != NULL) {
        return size <= 16 && insn_data_new(insn, buf, size) == size ? buf : NULL;
    }
    return insn_data_old != NULL ? insn_data_old(insn) : NULL;
}

#define MAX_RANGES 16
#define MAX_VCPUS 256
#define HASH_BUCKETS 8192 /* a boot translates a few thousand distinct hypervisor blocks */
#define RECORD_FORMAT 1

struct block {
    uint64_t start; /* address of the first instruction */
    uint64_t last;  /* address of the last instruction */
    uint32_t insns;
    uint32_t bytes;
    int is_cond; /* the last instruction is a conditional jump: */
    struct cond_jump jump;
    /* Set by the execution callback, possibly from several vCPU threads at once (MTTCG): relaxed
     * atomics, each written once (0 to 1) and only read after that, so that vCPUs running the
     * same hot code do not pass its cache line back and forth (a run count would). */
    uint8_t ran;
    uint8_t took; /* the taken successor ran right after this block */
    uint8_t fell; /* the fall-through successor did */
    struct block *next; /* in its hash bucket */
    struct block *all;  /* in the list of every record, for the output */
};

struct range {
    uint64_t lo;
    uint64_t hi;
};

static struct range ranges[MAX_RANGES];
static unsigned n_ranges;
static const char *out_path;
/* Translation may run on several threads at once; records are only added, under this lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *buckets[HASH_BUCKETS];
static struct block *all_blocks;
static unsigned long n_blocks;
static unsigned long n_translations;
/* The hypervisor block each vCPU ran last. Only that vCPU's thread touches its slot, written on
 * every block it runs: one cache line each, or the vCPU threads would slow each other down. */
struct last_slot {
    _Alignas(64) struct block *block;
};
static struct last_slot last_block[MAX_VCPUS];

static int in_ranges(uint64_t addr)
{
    for (unsigned i = 0; i < n_ranges; i++) {
        if (addr >= ranges[i].lo && addr < ranges[i].hi) {
            return 1;
        }
    }
    return 0;
}

static unsigned bucket_of(uint64_t start, uint64_t last)
{
    uint64_t h = (start ^ (last * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (unsigned)(h >> 40) % HASH_BUCKETS;
}

static void on_exec(unsigned int vcpu, void *udata)
{
    struct block *b = udata;

    if (!__atomic_load_n(&b->ran, __ATOMIC_RELAXED)) {
        __atomic_store_n(&b->ran, 1, __ATOMIC_RELAXED);
    }
    if (vcpu >= MAX_VCPUS) {
        return;
    }
    struct block *prev = last_block[vcpu].block;
    if (prev != NULL && prev->is_cond) {
        if (b->start == prev->jump.taken && !__atomic_load_n(&prev->took, __ATOMIC_RELAXED)) {
            __atomic_store_n(&prev->took, 1, __ATOMIC_RELAXED);
        }
        if (b->start == prev->jump.fall && !__atomic_load_n(&prev->fell, __ATOMIC_RELAXED)) {
            __atomic_store_n(&prev->fell, 1, __ATOMIC_RELAXED);
        }
    }
    last_block[vcpu].block = b;
}

/* The record of a block made of these instructions: an old one if QEMU translated it before. */
static struct block *record_for(uint64_t start, uint64_t last, uint32_t insns, uint32_t bytes,
                                const struct cond_jump *jump)
{
    unsigned h = bucket_of(start, last);
    struct block *b;

    pthread_mutex_lock(&lock);
    n_translations++;
    for (b = buckets[h]; b != NULL; b = b->next) {
        if (b->start == start && b->last == last && b->insns == insns) {
            break;
        }
    }
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        if (b != NULL) {
            b->start = start;
            b->last = last;
            b->insns = insns;
            b->bytes = bytes;
            if (jump != NULL) {
                b->is_cond = 1;
                b->jump = *jump;
            }
            b->next = buckets[h];
            buckets[h] = b;
            b->all = all_blocks;
            all_blocks = b;
            n_blocks++;
        }
    }
    pthread_mutex_unlock(&lock);
    return b;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    uint64_t start = qemu_plugin_tb_vaddr(tb);
    size_t n = qemu_plugin_tb_n_insns(tb);

    if (n == 0 || !in_ranges(start)) {
        return;
    }
    struct qemu_plugin_insn *final = qemu_plugin_tb_get_insn(tb, n - 1);
    uint64_t last = qemu_plugin_insn_vaddr(final);
    size_t size = qemu_plugin_insn_size(final);
    uint8_t buf[16];
    const uint8_t *code = insn_bytes(final, buf, size);
    struct cond_jump jump;
    int cond = code != NULL && decode_cond_jump(code, size, last, start < (1ull << 32), &jump);
    uint64_t bytes = last + size - start;

    struct block *b = record_for(start, last, (uint32_t)n, (uint32_t)bytes, cond ? &jump : NULL);
    if (b != NULL) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, b);
    }
}

/*
 * The record file: a header line, then one line per distinct block that ran:
 *   b START LAST INSNS BYTES RAN COND TAKEN FALL TOOK FELL
 * (addresses in hex; TAKEN and FALL 0 unless COND is 1). Written to PATH.tmp and renamed, so a
 * reader never sees half a file.
 */
static void on_exit_write(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    size_t len = strlen(out_path) + 5;
    char *tmp = malloc(len);
    if (tmp == NULL) {
        return;
    }
    snprintf(tmp, len, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "moat coverage plugin: cannot write %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return;
    }
    pthread_mutex_lock(&lock);
    fprintf(f, "moat-cov %d blocks %lu translations %lu\n", RECORD_FORMAT, n_blocks, n_translations);
    for (const struct block *b = all_blocks; b != NULL; b = b->all) {
        if (!__atomic_load_n(&b->ran, __ATOMIC_RELAXED)) {
            continue;
        }
        fprintf(f, "b %" PRIx64 " %" PRIx64 " %" PRIu32 " %" PRIu32 " 1 %d %" PRIx64 " %" PRIx64 " %d %d\n",
                b->start, b->last, b->insns, b->bytes, b->is_cond, b->is_cond ? b->jump.taken : 0,
                b->is_cond ? b->jump.fall : 0, __atomic_load_n(&b->took, __ATOMIC_RELAXED),
                __atomic_load_n(&b->fell, __ATOMIC_RELAXED));
    }
    pthread_mutex_unlock(&lock);
    int bad = ferror(f);
    bad |= fclose(f);
    if (bad || rename(tmp, out_path) != 0) {
        fprintf(stderr, "moat coverage plugin: cannot write %s\n", out_path);
    }
    free(tmp);
}

static int parse_range(const char *text, struct range *r)
{
    char *end;

    errno = 0;
    r->lo = strtoull(text, &end, 16);
    if (errno != 0 || end == text || *end != '-') {
        return -1;
    }
    const char *hi = end + 1;
    r->hi = strtoull(hi, &end, 16);
    if (errno != 0 || end == hi || *end != '\0' || r->hi <= r->lo) {
        return -1;
    }
    return 0;
}

MOAT_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    if (!info->system_emulation) {
        fprintf(stderr, "moat coverage plugin: only for system emulation\n");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "out=", 4) == 0 && arg[4] != '\0') {
            out_path = arg + 4;
        } else if (strncmp(arg, "range=", 6) == 0 && n_ranges < MAX_RANGES &&
                   parse_range(arg + 6, &ranges[n_ranges]) == 0) {
            n_ranges++;
        } else {
            fprintf(stderr, "moat coverage plugin: bad argument '%s' (expected out=PATH or range=LO-HI in hex, "
                            "at most %d ranges)\n", arg, MAX_RANGES);
            return -1;
        }
    }
    if (out_path == NULL || n_ranges == 0) {
        fprintf(stderr, "moat coverage plugin: needs out=PATH and at least one range=LO-HI\n");
        return -1;
    }
    if (info->system.max_vcpus > MAX_VCPUS) {
        fprintf(stderr, "moat coverage plugin: at most %d vCPUs\n", MAX_VCPUS);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_write, NULL);
    return 0;
}
