/* SPDX-License-Identifier: MIT */
/* Guest ELF images: validation, loading, and symbol lookup for crash records. */
#ifndef MOAT_ELF_H
#define MOAT_ELF_H

#include <moat/types.h>

struct domain;

struct elf_image {
    const uint8_t *data;
    size_t size;
};

/*
 * Checks what loading relies on: ELF64 x86-64 executable, program headers inside the file,
 * every PT_LOAD inside [lo, hi), filesz <= memsz, no segment both writable and executable, no
 * two segments sharing a page, the entry inside an executable segment. Returns NULL or the reason.
 */
const char *elf_check(const struct elf_image *img, uint64_t lo, uint64_t hi, uint64_t *entry, uint64_t *end);
/* Copies the PT_LOAD segments into the domain's RAM and sets page permissions from their flags. */
bool elf_load(const struct elf_image *img, struct domain *d);
/* The function containing addr, from the image's symbol table: writes "name+0xoff", or "". */
void elf_symbolize(const struct elf_image *img, uint64_t addr, char *buf, size_t size);

#endif
