// SPDX-License-Identifier: MIT
// Measured launch: each measurement is one TCG_PCR_EVENT2 record in moat's log (public/measure.h)
// and one PCR_Extend of the same digest, in that order of checks: room in the log first, then the
// extend, then the record, so the log never claims an extend that did not happen. Boot
// measurements go to PCRs 20 (the hypervisor) and 21 (what it boots), run-time changes to 22.
#include <lib/sha256.h>
#include <moat/arch.h>
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/measure.h>
#include <moat/nospec.h>
#include <moat/sched.h>
#include <moat/tpm.h>
#include <public/device.h>
#include <public/measure.h>

#define LOG_SIZE (64u * 1024u)

extern char _image_start_phys[], _load_end_phys[];

static uint8_t log_buf[LOG_SIZE];
static size_t log_len;
static bool tpm_ok;        /* a TPM answered at boot: measurements are extended */
static bool booted;        /* boot measurements are complete: domains go to PCR 22 */
static unsigned events;
static uint64_t hashed_bytes, hash_tsc;

static struct measure_image hv_image;
static uint8_t module_digest[MAX_MODULES][SHA256_DIGEST_SIZE];
static bool module_hashed[MAX_MODULES];

static paddr_t fwlog_pa;
static size_t fwlog_len;

/* Hashing, with its cost counted for the boot figure. */
static void hash(const void *data, size_t n, uint8_t out[SHA256_DIGEST_SIZE])
{
    uint64_t t0 = arch_cycles();
    sha256(data, n, out);
    hash_tsc += arch_cycles() - t0;
    hashed_bytes += n;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/*
 * An event is written straight into the log's free space and committed there: reserve() says
 * where its data goes (or that the log is full), the caller writes the data, and commit() hashes
 * it in place, extends the PCR and writes the record's header. Until log_len moves past it the log
 * does not include it (a reader stops at log_len), so a refused extend leaves nothing behind; and
 * no event is copied twice on its way into the log.
 */
#define RECORD_HEAD 50 /* pcr, type, digest count, algorithm, digest, event size */

static uint8_t *reserve(uint32_t size)
{
    if (LOG_SIZE - log_len < RECORD_HEAD + (size_t)size) {
        printk("measure: the event log is full: refusing to proceed unmeasured\n");
        return NULL;
    }
    return log_buf + log_len + RECORD_HEAD;
}

/* The reserved event of `size` bytes: the extend (when there is a TPM), then the record. */
static long commit(uint32_t pcr, uint32_t type, uint32_t size)
{
    uint8_t *p = log_buf + log_len;
    uint8_t *digest = p + 14;
    hash(p + RECORD_HEAD, size, digest);
    if (tpm_ok) {
        long err = tpm_pcr_extend(pcr, digest);
        if (err)
            return err;
    }
    put32(p, pcr);
    put32(p + 4, type);
    put32(p + 8, 1); /* one digest: SHA-256 */
    p[12] = 0x0b, p[13] = 0x00;
    put32(p + 46, size);
    log_len += RECORD_HEAD + size;
    events++;
    return 0;
}

/* One event: room in the log, the extend (when there is a TPM), then the record. */
static long record(uint32_t pcr, uint32_t type, const void *data, uint32_t size)
{
    uint8_t *p = reserve(size);
    if (!p)
        return -XEN_ENOSPC;
    memcpy(p, data, size);
    return commit(pcr, type, size);
}

/* An EV_EVENT_TAG event: TCG_PCClientTaggedEvent {tag, size, data}, digest over all of it. Room
 * for its data, after the tag and the size, or NULL (too big, or the log is full: *err says). */
#define TAGGED_MAX 512
static uint8_t *reserve_tagged(uint32_t tag, uint32_t size, long *err)
{
    *err = -XEN_E2BIG;
    if (size > TAGGED_MAX)
        return NULL;
    *err = -XEN_ENOSPC;
    uint8_t *p = reserve(8 + size);
    if (!p)
        return NULL;
    put32(p, tag);
    put32(p + 4, size);
    return p + 8;
}

static long tagged(uint32_t pcr, uint32_t tag, const void *data, uint32_t size)
{
    long err;
    uint8_t *p = reserve_tagged(tag, size, &err);
    if (!p)
        return err;
    memcpy(p, data, size);
    return commit(pcr, EV_EVENT_TAG, 8 + size);
}

static void spec_id_header(void)
{
    /* TCG_PCClientPCREvent (SHA-1 format) holding TCG_EfiSpecIDEventStruct: one bank, SHA-256. */
    static const uint8_t spec[33] = {
        'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v', 'e', 'n', 't', '0', '3', 0,
        0, 0, 0, 0,             /* platformClass: client */
        0, 2, 0, 2,             /* spec version 2.0, errata 0, uintnSize 2 (64-bit) */
        1, 0, 0, 0,             /* numberOfAlgorithms */
        0x0b, 0x00, 32, 0x00,   /* SHA-256, 32 bytes */
        0,                      /* vendorInfoSize */
    };
    memset(log_buf, 0, 28);
    put32(log_buf + 4, EV_NO_ACTION);
    put32(log_buf + 28, sizeof(spec));
    memcpy(log_buf + 32, spec, sizeof(spec));
    log_len = 32 + sizeof(spec);
}

void measure_hypervisor_image(void)
{
    /* The image as the loader put it: [load_addr, load_end_addr), i.e. build/hv/moat.bin. */
    paddr_t load_start = (paddr_t)_image_start_phys, load_end = (paddr_t)_load_end_phys; /* linker symbols */
    const uint8_t *start = (const uint8_t *)(load_start + KERNEL_VBASE);
    size_t size = (size_t)(load_end - load_start);
    hash(start, size, hv_image.sha256);
    hv_image.size = (uint32_t)size;
    strlcpy(hv_image.name, "moat " MOAT_VERSION, sizeof(hv_image.name));
}

void measure_init(void)
{
    spec_id_header();
    tpm_ok = tpm_init();
    if (tpm_ok) {
        for (uint32_t pcr = MEASURE_PCR_HYPERVISOR; pcr <= MEASURE_PCR_RUNTIME && tpm_ok; pcr++)
            tpm_ok = tpm_pcr_reset(pcr) == 0;
        if (!tpm_ok)
            printk("measure: the TPM refused to reset PCRs 20-22 from locality 2: boot not measured\n");
    } else {
        printk("measure: no TPM: boot not measured\n");
    }
    if (fwlog_find(&fwlog_pa, &fwlog_len))
        printk("measure: firmware event log: %lu bytes at 0x%lx\n", (uint64_t)fwlog_len, fwlog_pa);
    tagged(MEASURE_PCR_HYPERVISOR, MEASURE_TAG_HYPERVISOR, &hv_image, sizeof(hv_image));
    /* The command line without the loader's first word (the image's path, which QEMU and GRUB
     * spell differently): what the hypervisor is told to do, not where it was loaded from. */
    const char *args = boot_info.cmdline;
    while (*args && *args != ' ')
        args++;
    while (*args == ' ')
        args++;
    tagged(MEASURE_PCR_HYPERVISOR, MEASURE_TAG_CMDLINE, args, (uint32_t)strnlen(args, sizeof(boot_info.cmdline)));
}

bool measure_tpm_present(void) { return tpm_ok; }

static uint32_t pcr_now(void) { return booted ? MEASURE_PCR_RUNTIME : MEASURE_PCR_BOOT; }

long measure_policy(const void *blob, size_t size, const char *name, int32_t major, int32_t minor, uint32_t mode)
{
    struct measure_policy m;
    memset(&m, 0, sizeof(m));
    hash(blob, size, m.sha256);
    m.size = (uint32_t)size;
    m.version_major = major;
    m.version_minor = minor;
    m.mode = mode;
    strlcpy(m.name, name, sizeof(m.name));
    return tagged(pcr_now(), MEASURE_TAG_POLICY, &m, sizeof(m));
}

long measure_manifest(const void *data, size_t size)
{
    struct measure_image m;
    memset(&m, 0, sizeof(m));
    hash(data, size, m.sha256);
    m.size = (uint32_t)size;
    strlcpy(m.name, "manifest", sizeof(m.name));
    return tagged(MEASURE_PCR_BOOT, MEASURE_TAG_MANIFEST, &m, sizeof(m));
}

long measure_domain(const struct domain *d, const struct domain *creator, const char *cmdline, const void *image,
                    size_t image_size)
{
    struct measure_domain m;
    memset(&m, 0, sizeof(m));
    uint32_t mod = d->image_module;
    if (mod < MAX_MODULES && module_hashed[mod]) {
        memcpy(m.image_sha256, module_digest[mod], SHA256_DIGEST_SIZE);
    } else {
        hash(image, image_size, m.image_sha256);
        if (mod < MAX_MODULES) {
            memcpy(module_digest[mod], m.image_sha256, SHA256_DIGEST_SIZE);
            module_hashed[mod] = true;
        }
    }
    m.image_size = (uint32_t)image_size;
    m.domid = d->domid;
    m.ssidref = d->ssidref;
    m.memory_kib = (uint32_t)(d->nr_pages * 4);
    m.devices = d->devices;
    m.flags = d->flags;
    m.creator = creator ? creator->domid : 0xffffffffu;
    strlcpy(m.name, d->name, sizeof(m.name));
    strlcpy(m.cmdline, cmdline ? cmdline : "", sizeof(m.cmdline));
    return tagged(pcr_now(), MEASURE_TAG_DOMAIN, &m, sizeof(m));
}

long measure_relabel(const struct domain *d, uint32_t new_ssidref)
{
    /* Every relabel is measured: written in place, field by field (struct measure_relabel has no
     * padding: three words and the name). The name is copied whole: domain_create clears the slot
     * and strlcpy()s the name into it, so its bytes after the NUL are zeros, as strlcpy into a
     * cleared record would leave them. */
    _Static_assert(sizeof(struct measure_relabel) == 12 + sizeof(d->name), "no padding in the record");
    long err;
    uint8_t *p = reserve_tagged(MEASURE_TAG_RELABEL, sizeof(struct measure_relabel), &err);
    if (!p)
        return err;
    put32(p + offsetof(struct measure_relabel, domid), d->domid);
    put32(p + offsetof(struct measure_relabel, old_ssidref), d->ssidref);
    put32(p + offsetof(struct measure_relabel, new_ssidref), new_ssidref);
    __builtin_memcpy(p + offsetof(struct measure_relabel, name), d->name, sizeof(d->name));
    return commit(MEASURE_PCR_RUNTIME, EV_EVENT_TAG, 8 + sizeof(struct measure_relabel));
}

void measure_boot_done(void)
{
    static const uint8_t sep[4] = {0, 0, 0, 0};
    record(MEASURE_PCR_HYPERVISOR, EV_SEPARATOR, sep, sizeof(sep));
    record(MEASURE_PCR_BOOT, EV_SEPARATOR, sep, sizeof(sep));
    booted = true;
    printk("measure: boot: %u events%s, %lu bytes hashed in %lu tsc\n", events,
           tpm_ok ? " extended into PCRs 20-21" : " logged, not extended", hashed_bytes, hash_tsc);
}

long do_measure_op(uint64_t cmd, uint64_t which, uint64_t offset, uint64_t buf, uint64_t size)
{
    struct domain *d = current_domain();
    if (!device_holds(d, DEVICE_TPM))
        return -XEN_EPERM;
    const uint8_t *data;
    size_t len;
    if (which == MEASURE_LOG_HYPERVISOR) {
        data = log_buf;
        len = log_len;
    } else if (which == MEASURE_LOG_FIRMWARE) {
        data = fwlog_len ? phys_to_virt(fwlog_pa) : NULL;
        len = fwlog_len;
    } else {
        return -XEN_EINVAL;
    }
    if (cmd == MEASUREOP_log_size)
        return (long)len;
    if (cmd != MEASUREOP_read_log)
        return -XEN_ENOSYS;
    if (offset >= len)
        return 0;
    offset = array_index_nospec(offset, len); /* a guest's index into our buffer (moat/nospec.h) */
    size_t n = MIN(MIN((size_t)size, len - (size_t)offset), (size_t)(1u << 20));
    if (n == 0)
        return 0;
    if (copy_to_guest(buf, data + offset, n))
        return -XEN_EFAULT;
    return (long)n;
}
