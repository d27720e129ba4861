/*
 * dynsym.h - a loaded object's dynamic symbol table, read in memory.
 *
 * Two hooks must find a definition without dlsym: libc_syms.c (glibc's
 * own functions, from inside allocators, where dlsym's allocation would
 * deadlock) and cxx.c (operator new in a C++ runtime loaded with
 * RTLD_LOCAL, which dlsym(RTLD_NEXT) cannot see).  Both read the object's
 * dynamic section, then look the name up through its hash table (GNU's
 * DT_GNU_HASH, else the System V DT_HASH) and decide, symbol by symbol on
 * the name's hash chain, which one is theirs.
 *
 * Context: any program thread, possibly before cprof's constructor and
 * inside an allocator: no allocation, no lock, errno untouched.
 */
#ifndef CPROF_DYNSYM_H
#define CPROF_DYNSYM_H

#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dynsym {
	const struct dl_phdr_info *info;   /* its segments bound every read */
	const ElfW(Sym) *symtab;
	const char *strtab;
	size_t strsz;
	const uint32_t *gnu_hash, *sysv_hash;
	const ElfW(Half) *versym;          /* may be NULL */
	const ElfW(Verdef) *verdef;        /* may be NULL */
};

/* Whether [p, p + len) lies inside one of info's PT_LOAD segments. */
bool dynsym_mapped(const struct dl_phdr_info *info, const void *p, size_t len);

/* Reads the dynamic section of the object info describes (info must
 * outlive d).  False when it has no symbol table, string table or hash
 * table inside its segments. */
bool dynsym_open(struct dynsym *d, const struct dl_phdr_info *info);

/* Symbol i when it lies inside the object and is named `name` (len is
 * strlen(name)); NULL otherwise. */
const ElfW(Sym) *dynsym_named(const struct dynsym *d, uint32_t i, const char *name, size_t len);

/* Decides whether symbol i, on the hash chain of `name`, is the one
 * wanted. */
typedef bool (*dynsym_match_fn)(const struct dynsym *d, uint32_t i, const char *name, size_t len,
				void *arg);

/* Whether a symbol on name's hash chain, in chain order, satisfies match;
 * the first that does goes to *index (index may be NULL).  False when
 * none does or the table is malformed. */
bool dynsym_lookup(const struct dynsym *d, const char *name, dynsym_match_fn match, void *arg,
		   uint32_t *index);

#endif
