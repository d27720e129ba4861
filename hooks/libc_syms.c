/*
 * libc_syms.c - glibc's own definitions, found without dlsym.
 *
 * Hooks other than the allocator's can run before cprof has resolved the
 * next definitions, and inside an allocator (jemalloc takes pthread mutexes
 * while it initialises).  dlsym may allocate (its error path always does),
 * which would re-enter that allocator and deadlock; a versioned reference
 * (`pthread_mutex_unlock@GLIBC_2.2.5`) cannot help either, because the
 * dynamic linker lets an unversioned definition earlier in the search
 * order - cprof's own hook - satisfy it.
 *
 * So this module looks the symbol up directly in libc.so.6's dynamic
 * symbol table in memory: the GNU hash table, then the version table to
 * pick the requested version.  No allocation, no lock but the one dladdr
 * takes (recursive) to find libc's base address.
 *
 * Context: any program thread, once per symbol (callers cache the result).
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include "real.h"

extern void *__libc_malloc(size_t);

struct libc_dyn {
	uintptr_t base;
	const ElfW(Sym) *symtab;
	const char *strtab;
	const uint32_t *gnu_hash;
	const ElfW(Half) *versym;
	const ElfW(Verdef) *verdef;
	bool ok;
};

static struct libc_dyn dyn;

static uintptr_t abs_addr(uintptr_t base, uintptr_t v)
{
	/* ld.so relocates these dynamic entries in place for most objects;
	 * relative values are offsets from the load address. */
	return v < base ? v + base : v;
}

static bool init_dyn(void)
{
	Dl_info info;
	if (dyn.ok)
		return true;
	if (!dladdr((void *)__libc_malloc, &info) || !info.dli_fbase)
		return false;
	uintptr_t base = (uintptr_t)info.dli_fbase;
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return false;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
	const ElfW(Dyn) *d = NULL;
	uintptr_t bias = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = base - ph[i].p_vaddr;
	}
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			d = (const ElfW(Dyn) *)(bias + ph[i].p_vaddr);
	if (!d)
		return false;
	struct libc_dyn t = {.base = bias};
	for (; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB: t.symtab = (const ElfW(Sym) *)abs_addr(bias, d->d_un.d_ptr); break;
		case DT_STRTAB: t.strtab = (const char *)abs_addr(bias, d->d_un.d_ptr); break;
		case DT_GNU_HASH: t.gnu_hash = (const uint32_t *)abs_addr(bias, d->d_un.d_ptr); break;
		case DT_VERSYM: t.versym = (const ElfW(Half) *)abs_addr(bias, d->d_un.d_ptr); break;
		case DT_VERDEF: t.verdef = (const ElfW(Verdef) *)abs_addr(bias, d->d_un.d_ptr); break;
		default: break;
		}
	}
	if (!t.symtab || !t.strtab || !t.gnu_hash || !t.versym || !t.verdef)
		return false;
	t.ok = true;
	dyn = t;
	return true;
}

static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

static const char *version_name(ElfW(Half) ndx)
{
	const ElfW(Verdef) *v = dyn.verdef;
	for (;;) {
		if (v->vd_ndx == ndx) {
			const ElfW(Verdaux) *a = (const ElfW(Verdaux) *)((const char *)v + v->vd_aux);
			return dyn.strtab + a->vda_name;
		}
		if (!v->vd_next)
			return NULL;
		v = (const ElfW(Verdef) *)((const char *)v + v->vd_next);
	}
}

void *libc_lookup(const char *name, const char *version)
{
	if (!init_dyn())
		return NULL;
	const uint32_t *h = dyn.gnu_hash;
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t hash = gnu_hash(name);
	if (!nbuckets)
		return NULL;
	uint32_t i = buckets[hash % nbuckets];
	if (i < symoffset)
		return NULL;
	for (;; i++) {
		uint32_t ch = chain[i - symoffset];
		if ((ch | 1) == (hash | 1)) {
			const ElfW(Sym) *sym = &dyn.symtab[i];
			if (sym->st_shndx != SHN_UNDEF && strcmp(dyn.strtab + sym->st_name, name) == 0) {
				const char *v = version_name(dyn.versym[i] & 0x7fff);
				if (v && strcmp(v, version) == 0)
					return (void *)(dyn.base + sym->st_value);
			}
		}
		if (ch & 1)
			return NULL;
	}
}
