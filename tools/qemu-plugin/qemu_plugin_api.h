/* SPDX-License-Identifier: MIT */
/*
 * The part of QEMU's TCG plugin interface that moat's coverage plugin calls, declared here
 * because Debian's QEMU packages ship no qemu-plugin.h. The functions live in the QEMU binary
 * that loads the plugin; the ones declared here have kept their signatures from API version 1
 * (QEMU 7.2) to 4 (QEMU 10). qemu_plugin_insn_data is not declared: it returned a pointer up to
 * API 1 and copies into a buffer from API 3, and moat_cov.c finds which at load time.
 */
#ifndef MOAT_QEMU_PLUGIN_API_H
#define MOAT_QEMU_PLUGIN_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOAT_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The API versions the plugin speaks: QEMU 7.2 accepts 0 and 1, QEMU 10 accepts 2 to 4. */
#define MOAT_QEMU_PLUGIN_API_OLD 1
#define MOAT_QEMU_PLUGIN_API_NEW 3

typedef uint64_t qemu_plugin_id_t;

/* What QEMU tells the plugin about itself at install time (valid only during the call). */
typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;   /* a block being translated: valid only in the translation callback */
struct qemu_plugin_insn; /* one of its instructions */

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

/* Exported by the plugin and looked up by QEMU when it loads it. */
MOAT_PLUGIN_EXPORT extern int qemu_plugin_version;
MOAT_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* Provided by QEMU. */
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

#endif
