// SPDX-License-Identifier: MIT
// The hypercall ABI as seen from an unprivileged guest: the start-up state, unknown hypercall
// numbers (-ENOSYS), registers preserved across `syscall`, version and memory_op answers, and
// domctl refused with -EPERM.
#include <moat/test.h>
#include <moat/vcpu.h>

/*
 * Each image name is NUL-terminated and zero after its NUL, and the entries past nr_images are
 * all zero: the hypervisor copies at most 31 bytes of a module's base name and nothing else.
 * Each entry is printed too (`image <i>: <64 hex digits>`), so tests/domains/test_start_info.py
 * can compare them with the names the modules' strings give.
 */
static void check_image_names(const struct start_info *si)
{
    for (unsigned i = 0; i < START_MAX_IMAGES; i++) {
        const char *n = si->image_names[i];
        size_t len = strnlen(n, sizeof(si->image_names[i]));
        bool clean = len < sizeof(si->image_names[i]) && (i < si->nr_images || len == 0);
        for (size_t b = len; b < sizeof(si->image_names[i]); b++)
            clean &= n[b] == 0;
        char hex[2 * sizeof(si->image_names[i]) + 1];
        for (size_t b = 0; b < sizeof(si->image_names[i]); b++) {
            hex[2 * b] = "0123456789abcdef"[(uint8_t)n[b] >> 4];
            hex[2 * b + 1] = "0123456789abcdef"[(uint8_t)n[b] & 15];
        }
        hex[sizeof(hex) - 1] = '\0';
        printf("image %u: %s\n", i, hex);
        xtf_check(clean, "image_names[%u] (of %u) is not one terminated name, zero-padded", i, si->nr_images);
    }
}

/*
 * Events start masked on each of our vCPUs (the one we have) until we unmask them, and the
 * vcpu_info records of vCPUs we do not have are all zero; vCPU 0 is up and initialised (up again:
 * 0), and there is no vCPU 1.
 */
static void check_event_masks(void)
{
    xtf_check_eq(shared_info->vcpu_info[0].evtchn_upcall_mask, 1);
    for (unsigned v = 1; v < MOAT_LEGACY_VCPUS; v++) {
        const uint8_t *b = (const uint8_t *)&shared_info->vcpu_info[v];
        bool zero = true;
        for (size_t i = 0; i < sizeof(shared_info->vcpu_info[v]); i++)
            zero &= b[i] == 0;
        xtf_check(zero, "vcpu_info[%u] of a domain of one vCPU is not zero", v);
    }
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL), 1);
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_up, 0, NULL), 0);
    xtf_check_eq(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), -XEN_ENOENT);
}

static void check_start_state(void)
{
    const struct start_info *si = start_info;
    uint64_t ram_end = si->ram_va + si->nr_pages * GUEST_PAGE_SIZE;

    xtf_check(memcmp(si->magic, MOAT_START_MAGIC, sizeof(MOAT_START_MAGIC)) == 0, "magic");
    xtf_check_eq(si->ram_va, GUEST_RAM_VA);
    xtf_check_eq(si->shared_info_va, GUEST_SHARED_INFO_VA);
    xtf_check_eq(si->stack_top, ram_end);
    xtf_check_eq(start_rsp, si->stack_top);
    xtf_check_eq(start_rsp % 16, 0);
    xtf_check(si->heap_start % GUEST_PAGE_SIZE == 0 && si->heap_start >= (uint64_t)&start_rsp &&
              si->heap_start < ram_end, "heap_start %#lx", (unsigned long)si->heap_start);
    xtf_check(strcmp(si->name, "abi") == 0, "name '%s'", si->name);
    xtf_check(cmdline_has("abi-test"), "cmdline '%s'", si->cmd_line);
    xtf_check_eq(si->flags & SIF_PRIVILEGED, 0);
    xtf_check(si->ssidref != 0, "ssidref 0: the domain has no label");
    xtf_check(si->nr_images >= 2 && strcmp(si->image_names[0], "manifest") == 0 &&
              find_image("abi") >= 1, "image names: %u, '%s'", si->nr_images, si->image_names[0]);
    check_image_names(si);
    xtf_check_eq(si->nr_links, 0); /* no [[link]] in these scenarios: nothing overran image_names */
    check_event_masks();
}

static void check_unknown_hypercalls(void)
{
    static const unsigned long numbers[] = {
        0, 1, 2, 3, 47, MOAT_NR_HYPERCALLS, 1000, (unsigned long)-1, 1UL << 32,
        (1UL << 32) | __HYPERVISOR_console_io,  // upper bits must not be ignored
    };
    for (unsigned i = 0; i < ARRAY_SIZE(numbers); i++) {
        long rc = hypercall5(numbers[i], 1, 2, 3, 4, 5);
        xtf_check(rc == -XEN_ENOSYS, "hypercall %#lx returned %ld, expected -ENOSYS",
                  numbers[i], rc);
    }
}

// Every register but rax (result), rcx and r11 (taken by syscall itself) must survive: hypercall
// nr with the first argument 0, so that an answer from the hypervisor's fast path, a -ENOSYS of
// an empty slot or of a number past the table, and a yield (which leaves through the scheduler)
// are all checked. With the hypercall's other registers holding guest patterns, a hypervisor
// value left in any of them (a leak) fails the check as well.
static uint64_t preserved_nr;  // static: read by the asm RIP-relative, after its pushes
static void check_registers_preserved(uint64_t nr)
{
    static const uint64_t pattern = 0x1122334455667700ULL;
    static uint64_t out[13];  // static: the pushes below must not land on it
    preserved_nr = nr;
    __asm__ volatile(
        "push %%rbx; push %%rbp; push %%r12; push %%r13; push %%r14; push %%r15\n\t"
        "push %%rdi\n\t"                     // out[]
        "mov %1, %%rbx; lea 1(%%rbx), %%rbp; lea 2(%%rbx), %%r12; lea 3(%%rbx), %%r13\n\t"
        "lea 4(%%rbx), %%r14; lea 5(%%rbx), %%r15; lea 6(%%rbx), %%rsi; lea 7(%%rbx), %%rdx\n\t"
        "lea 8(%%rbx), %%r10; lea 9(%%rbx), %%r8; lea 10(%%rbx), %%r9\n\t"
        "mov $0, %%edi\n\t"                  // XENVER_version, SCHEDOP_yield
        "mov %2, %%rax\n\t"
        "syscall\n\t"
        "mov %%rdi, %%rax\n\t"
        "pop %%rdi\n\t"
        "mov %%rbx, 0(%%rdi); mov %%rbp, 8(%%rdi); mov %%r12, 16(%%rdi); mov %%r13, 24(%%rdi)\n\t"
        "mov %%r14, 32(%%rdi); mov %%r15, 40(%%rdi); mov %%rsi, 48(%%rdi); mov %%rdx, 56(%%rdi)\n\t"
        "mov %%r10, 64(%%rdi); mov %%r8, 72(%%rdi); mov %%r9, 80(%%rdi); mov %%rax, 88(%%rdi)\n\t"
        "mov %%rsp, 96(%%rdi)\n\t"
        "pop %%r15; pop %%r14; pop %%r13; pop %%r12; pop %%rbp; pop %%rbx\n\t"
        : : "D"(out), "r"(pattern), "m"(preserved_nr)
        : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory");
    static const char *const names[] = { "rbx", "rbp", "r12", "r13", "r14", "r15", "rsi", "rdx",
                                         "r10", "r8", "r9" };
    for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
        xtf_check(out[i] == pattern + i, "%s changed across hypercall %lu: %#lx, expected %#lx",
                  names[i], (unsigned long)nr, (unsigned long)out[i], (unsigned long)(pattern + i));
    xtf_check_eq(out[11], 0);  // rdi held 0
    // rsp: the asm pushed 6 registers + out before the call; after the pops it is where it was.
    xtf_check(out[12] % 8 == 0, "rsp %#lx", (unsigned long)out[12]);
}

static void check_queries(void)
{
    long version = HYPERVISOR_xen_version(XENVER_version, NULL);
    long features = HYPERVISOR_xen_version(XENVER_get_features, NULL);
    printf("version %ld.%ld, features %#lx\n", version >> 16, version & 0xffff, features);
    xtf_check(version >= 0, "XENVER_version returned %ld", version);
    xtf_check(features >= 0, "XENVER_get_features returned %ld", features);
    xtf_check_eq(memory_current_reservation(), start_info->nr_pages);
    domid_t self = DOMID_SELF;
    long max = HYPERVISOR_memory_op(XENMEM_maximum_reservation, &self);
    xtf_check(max >= (long)start_info->nr_pages, "maximum_reservation %ld", max);
    xtf_check_eq(HYPERVISOR_memory_op(0x7777, &self), -XEN_ENOSYS);
}

static void check_domctl_denied(void)
{
    struct domctl_create_args args = { .image = 1, .memory_kib = 256, .name = "sneaky" };
    struct moat_domctl_info info;
    domid_t domid = 0;
    domid_t other = (domid_t)cmdline_ulong("partner", 0);  // a domain that exists (abi.toml)

    xtf_check_eq(domctl_create(&args, &domid), -XEN_EPERM);
    xtf_check_eq(domctl_destroy(other), -XEN_EPERM);
    xtf_check_eq(domctl_pause(other), -XEN_EPERM);
    xtf_check_eq(domctl_unpause(other), -XEN_EPERM);
    xtf_check_eq(domctl_getinfo(other, &info), -XEN_EPERM);
    xtf_check_eq(domctl_destroy(start_info->domid), -XEN_EPERM);
    /* Without the permission, a missing domain looks like any other: no probing for ids. */
    xtf_check_eq(domctl_getinfo(MOAT_MAX_DOMAINS - 1, &info), -XEN_EPERM);
    xtf_check_eq(domctl_destroy(MOAT_MAX_DOMAINS - 1), -XEN_EPERM);
    xtf_check_eq(domctl_pause(1000), -XEN_EPERM);
    // Reading its own record is allowed.
    xtf_check_eq(domctl_getinfo(DOMID_SELF, &info), 0);
    xtf_check(strcmp(info.name, "abi") == 0, "own name '%s'", info.name);
    bool padded = true; /* the record is cleared first: no byte of an earlier name or of the stack */
    for (size_t b = sizeof("abi"); b < sizeof(info.name); b++)
        padded &= info.name[b] == 0;
    xtf_check(padded, "own name not zero-padded");
    xtf_check_eq(info.state, DOMSTATE_RUNNABLE); /* our one vCPU runs this very call */
    xtf_check_eq(info.nr_pages, start_info->nr_pages);
    xtf_check_eq(info.ssidref, start_info->ssidref);
}

void test_main(void)
{
    check_start_state();
    check_unknown_hypercalls();
    check_registers_preserved(__HYPERVISOR_xen_version);
    check_registers_preserved(1);                         // an empty slot: -ENOSYS
    check_registers_preserved(MOAT_NR_HYPERCALLS + 1000); // past the table: -ENOSYS
    check_registers_preserved(__HYPERVISOR_sched_op);     // SCHEDOP_yield: through the scheduler
    check_queries();
    check_domctl_denied();
    xtf_success(NULL);
}
