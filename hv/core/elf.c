// SPDX-License-Identifier: MIT
// Guest ELF images. Every field read from the image is checked against the image's size first:
// an image is untrusted input (domctl lets a domain choose one).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/elf.h>
#include <moat/lib.h>

#define PT_LOAD 1
#define PF_X 1
#define PF_W 2
#define SHT_SYMTAB 2
#define STT_FUNC 2
#define MAX_PHDRS 16

struct elf64_ehdr {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    /* cppcheck-suppress unusedStructMember ; part of the header's layout, nothing to check for x86-64 */
    uint32_t flags;
    /* cppcheck-suppress unusedStructMember ; shstrndx: section names are not needed */
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct elf64_shdr {
    uint32_t name, type;
    uint64_t flags, addr, offset, size;
    uint32_t link, info;
    uint64_t addralign, entsize;
};

struct elf64_sym {
    uint32_t name;
    uint8_t info, other;
    uint16_t shndx;
    uint64_t value, size;
};

/* Is [off, off + len) inside the image, without overflow? */
static bool in_image(const struct elf_image *img, uint64_t off, uint64_t len)
{
    return off <= img->size && len <= img->size - off;
}

static const struct elf64_phdr *phdr(const struct elf_image *img, unsigned i)
{
    const struct elf64_ehdr *eh = (const void *)img->data;
    return (const void *)(img->data + eh->phoff + (uint64_t)i * sizeof(struct elf64_phdr));
}

const char *elf_check(const struct elf_image *img, uint64_t lo, uint64_t hi, uint64_t *entry, uint64_t *end)
{
    const struct elf64_ehdr *eh = (const void *)img->data;
    if (!in_image(img, 0, sizeof(*eh)))
        return "too small for an ELF header";
    if (memcmp(eh->ident, "\177ELF", 4) || eh->ident[4] != 2 || eh->ident[5] != 1)
        return "not a little-endian ELF64 file";
    if (eh->type != 2 || eh->machine != 62)
        return "not an x86-64 executable";
    if (eh->version != 1 || eh->ehsize != sizeof(*eh))
        return "not an ELF version 1 header";
    if (eh->phentsize != sizeof(struct elf64_phdr) || eh->phnum == 0 || eh->phnum > MAX_PHDRS)
        return "bad program header table size";
    if (!in_image(img, eh->phoff, (uint64_t)eh->phnum * sizeof(struct elf64_phdr)) || (eh->phoff & 7))
        return "program headers outside the file";

    bool entry_ok = false, any = false;
    uint64_t top = lo;
    for (unsigned i = 0; i < eh->phnum; i++) {
        const struct elf64_phdr *p = phdr(img, i);
        if (p->type != PT_LOAD || p->memsz == 0)
            continue;
        any = true;
        if (p->filesz > p->memsz)
            return "segment with filesz > memsz";
        if (!in_image(img, p->offset, p->filesz))
            return "segment data outside the file";
        if (p->vaddr < lo || p->vaddr >= hi || p->memsz > hi - p->vaddr)
            return "segment outside the guest's memory";
        if ((p->flags & PF_W) && (p->flags & PF_X))
            return "segment both writable and executable";
        for (unsigned j = 0; j < i; j++) {
            const struct elf64_phdr *q = phdr(img, j);
            if (q->type != PT_LOAD || q->memsz == 0)
                continue;
            /* Permissions are per page: two segments must not share one. */
            if (ALIGN_DOWN(p->vaddr, PAGE_SIZE) < ALIGN_UP(q->vaddr + q->memsz, PAGE_SIZE) &&
                ALIGN_DOWN(q->vaddr, PAGE_SIZE) < ALIGN_UP(p->vaddr + p->memsz, PAGE_SIZE))
                return "segments share a page";
        }
        if ((p->flags & PF_X) && eh->entry >= p->vaddr && eh->entry < p->vaddr + p->memsz)
            entry_ok = true;
        top = MAX(top, ALIGN_UP(p->vaddr + p->memsz, PAGE_SIZE));
    }
    if (!any)
        return "no loadable segment";
    if (!entry_ok)
        return "entry point not in an executable segment";
    *entry = eh->entry;
    *end = top;
    return NULL;
}

bool elf_load(const struct elf_image *img, struct domain *d)
{
    const struct elf64_ehdr *eh = (const void *)img->data;
    for (unsigned i = 0; i < eh->phnum; i++) {
        const struct elf64_phdr *p = phdr(img, i);
        if (p->type != PT_LOAD || p->memsz == 0)
            continue;
        uint64_t flags = (p->flags & PF_W ? MAP_WRITABLE : 0) | (p->flags & PF_X ? 0 : MAP_NOEXEC);
        for (uint64_t va = ALIGN_DOWN(p->vaddr, PAGE_SIZE); va < p->vaddr + p->memsz; va += PAGE_SIZE) {
            /* The segment's protections on the page, and the page itself (nothing runs in the
             * domain yet, so the order does not matter). */
            mfn_t m = gpt_protect_new(d, va, flags);
            if (m == INVALID_MFN)
                return false;
            uint8_t *page = mfn_to_virt(m);
            /* The bytes of this page that come from the file; the rest stays zero. */
            uint64_t seg_lo = MAX(va, p->vaddr), seg_hi = MIN(va + PAGE_SIZE, p->vaddr + p->filesz);
            if (seg_hi > seg_lo)
                memcpy(page + (seg_lo - va), img->data + p->offset + (seg_lo - p->vaddr), seg_hi - seg_lo);
        }
    }
    return true;
}

void elf_symbolize(const struct elf_image *img, uint64_t addr, char *buf, size_t size)
{
    buf[0] = '\0';
    const struct elf64_ehdr *eh = (const void *)img->data;
    if (!in_image(img, 0, sizeof(*eh)) || eh->shentsize != sizeof(struct elf64_shdr) ||
        !in_image(img, eh->shoff, (uint64_t)eh->shnum * sizeof(struct elf64_shdr)) || (eh->shoff & 7))
        return;
    const struct elf64_shdr *sh = (const void *)(img->data + eh->shoff);
    for (unsigned s = 0; s < eh->shnum; s++) {
        if (sh[s].type != SHT_SYMTAB || sh[s].link >= eh->shnum || sh[s].entsize != sizeof(struct elf64_sym))
            continue;
        const struct elf64_shdr *strtab = &sh[sh[s].link];
        if (!in_image(img, sh[s].offset, sh[s].size) || !in_image(img, strtab->offset, strtab->size) ||
            (sh[s].offset & 7))
            return;
        const struct elf64_sym *syms = (const void *)(img->data + sh[s].offset);
        const char *names = (const char *)img->data + strtab->offset;
        for (uint64_t i = 0; i < sh[s].size / sizeof(struct elf64_sym); i++) {
            const struct elf64_sym *sym = &syms[i];
            if ((sym->info & 0xf) != STT_FUNC || addr < sym->value || addr - sym->value >= MAX(sym->size, 1))
                continue;
            if (sym->name >= strtab->size)
                return;
            const char *name = names + sym->name;
            int len = (int)strnlen(name, strtab->size - sym->name);
            snprintf(buf, size, "%.*s+0x%lx", len, name, addr - sym->value);
            for (char *c = buf; *c; c++) /* the image's strings reach the console: nothing raw */
                if (*c < 0x20 || *c > 0x7e)
                    *c = '?';
            return;
        }
    }
}
