// SPDX-License-Identifier: MIT
// Copies what the multiboot loader gave us (command line, memory map, modules) into boot_info,
// before any of that memory can be reused. The boot page tables map physical 0-1 GiB at
// DIRECTMAP_BASE, so loader structures are read through the direct map from the start.
#include <moat/boot_info.h>
#include <moat/console.h>
#include <moat/frame.h>
#include <moat/lib.h>
#include <moat/multiboot.h>

struct boot_info boot_info;

#define BOOT_WINDOW (1ULL << 30) /* what the boot page tables map */

/* A loader string, if it lies inside the boot window; copied bounded and terminated. */
static void copy_loader_string(char *dst, size_t size, uint32_t pa)
{
    dst[0] = '\0';
    if (pa == 0 || pa >= BOOT_WINDOW - size)
        return;
    strlcpy(dst, phys_to_virt(pa), size);
    for (char *p = dst; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?'; /* keep the console line readable and parseable */
}

bool multiboot_parse(uint32_t magic, paddr_t mbi_pa)
{
    if (magic != MULTIBOOT_LOADER_MAGIC) {
        printk("moat: not started by a multiboot loader (magic 0x%x)\n", magic);
        return false;
    }
    if (mbi_pa >= BOOT_WINDOW - sizeof(struct multiboot_info)) {
        printk("moat: multiboot information at 0x%lx is out of reach\n", mbi_pa);
        return false;
    }
    const struct multiboot_info *mbi = phys_to_virt(mbi_pa);

    if (mbi->flags & MBI_FLAG_CMDLINE)
        copy_loader_string(boot_info.cmdline, sizeof(boot_info.cmdline), mbi->cmdline);

    if (!(mbi->flags & MBI_FLAG_MMAP)) {
        printk("moat: the loader gave no memory map\n");
        return false;
    }
    uint64_t off = 0;
    while (off + sizeof(struct multiboot_mmap_entry) <= mbi->mmap_length && boot_info.mem_count < MAX_MEM_RANGES) {
        const struct multiboot_mmap_entry *e = phys_to_virt((paddr_t)mbi->mmap_addr + off);
        if (e->len && e->addr + e->len > e->addr) {
            struct mem_range *r = &boot_info.mem[boot_info.mem_count++];
            r->start = e->addr;
            r->end = e->addr + e->len;
            r->type = e->type;
        }
        off += (uint64_t)e->size + sizeof(e->size);
    }

    if (mbi->flags & MBI_FLAG_MODS) {
        const struct multiboot_module *mods = phys_to_virt(mbi->mods_addr);
        for (uint32_t i = 0; i < mbi->mods_count; i++) {
            if (boot_info.module_count == MAX_MODULES) {
                printk("moat: more than %d modules; the rest are ignored\n", MAX_MODULES);
                break;
            }
            if (mods[i].mod_end < mods[i].mod_start || mods[i].mod_end > BOOT_WINDOW) {
                printk("moat: module %u has a bad range; ignored\n", i);
                continue;
            }
            struct boot_module *m = &boot_info.modules[boot_info.module_count++];
            m->start = mods[i].mod_start;
            m->end = mods[i].mod_end;
            copy_loader_string(m->cmdline, sizeof(m->cmdline), mods[i].string);
        }
    }
    return true;
}

bool cmdline_number(const char *word, uint64_t max, uint64_t *value)
{
    uint64_t v = 0;
    const char *p = word;
    /* Bounded before each digit, so the value never wraps: a long number stops just over max. */
    for (; *p >= '0' && *p <= '9' && v <= max; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (p == word || *p || v > max)
        return false;
    *value = v;
    return true;
}

bool cmdline_get(const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    const char *p = boot_info.cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - word) > klen && !strncmp(word, key, klen) && word[klen] == '=') {
            size_t vlen = (size_t)(p - word) - klen - 1;
            if (size) {
                size_t n = vlen < size - 1 ? vlen : size - 1;
                memcpy(buf, word + klen + 1, n);
                buf[n] = '\0';
            }
            return true;
        }
    }
    return false;
}

static const char *mem_type_name(uint32_t type)
{
    switch (type) {
    case MMAP_AVAILABLE: return "available";
    case MMAP_ACPI: return "acpi";
    case MMAP_NVS: return "nvs";
    case MMAP_BAD: return "bad";
    default: return "reserved";
    }
}

void boot_print_info(void)
{
    printk("cmdline: %s\n", boot_info.cmdline);
    printk("memory map (%u entries):\n", boot_info.mem_count);
    for (unsigned i = 0; i < boot_info.mem_count; i++) {
        const struct mem_range *r = &boot_info.mem[i];
        printk("  mem [0x%016lx-0x%016lx) %s\n", r->start, r->end, mem_type_name(r->type));
    }
    printk("modules: %u\n", boot_info.module_count);
    for (unsigned i = 0; i < boot_info.module_count; i++) {
        const struct boot_module *m = &boot_info.modules[i];
        printk("module %u: [0x%lx-0x%lx) %lu bytes '%s'\n", i, m->start, m->end, m->end - m->start, m->cmdline);
    }
}
