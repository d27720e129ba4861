/*
 * dynsym.c - reading a loaded object's dynamic symbols in memory (see
 * dynsym.h for who calls it and why).
 *
 * Owns: finding the dynamic section's tables, the GNU and System V hash
 * lookups, and the bounds every read is checked against.  What counts as
 * a definition (binding, visibility, version) is the caller's match.
 *
 * Context: any program thread, any time after the loader mapped the
 * object; no allocation, no lock, no system call.
 *
 * Invariants:
 *  - Every read of the object's tables (dynamic entries, hash table,
 *    chains, symbols, names) is first checked to lie inside one of its
 *    PT_LOAD segments (dynsym_mapped): the tables are the object's, not
 *    cprof's, and a malformed one yields no symbol, never a stray read.
 *    (The program headers themselves come from the loader.)
 *  - A lookup ends: a GNU chain ends at its end marker or the first entry
 *    outside the object; a System V walk takes at most nchain steps.
 */
#include <string.h>

#include "dynsym.h"

bool dynsym_mapped(const struct dl_phdr_info *info, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (a >= lo && a <= hi && len <= hi - a)
			return true;
	}
	return false;
}

bool dynsym_open(struct dynsym *d, const struct dl_phdr_info *info)
{
	const ElfW(Dyn) *dyn = NULL;
	size_t count = 0;
	uintptr_t base = info->dlpi_addr;

	memset(d, 0, sizeof(*d));
	d->info = info;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)(base + info->dlpi_phdr[i].p_vaddr);
			count = info->dlpi_phdr[i].p_memsz / sizeof(ElfW(Dyn));
		}
	}
	if (!dyn || !dynsym_mapped(info, dyn, count * sizeof(ElfW(Dyn))))
		return false;
	for (size_t i = 0; i < count && dyn[i].d_tag != DT_NULL; i++) {
		/* ld.so relocates these entries in place, except where the
		 * dynamic section is read-only (the vDSO): then they are
		 * offsets from the load address. */
		uintptr_t v = dyn[i].d_un.d_ptr;
		const void *p = (const void *)(v < base ? v + base : v);
		switch (dyn[i].d_tag) {
		case DT_SYMTAB: d->symtab = p; break;
		case DT_STRTAB: d->strtab = p; break;
		case DT_STRSZ: d->strsz = dyn[i].d_un.d_val; break;
		case DT_GNU_HASH: d->gnu_hash = p; break;
		case DT_HASH: d->sysv_hash = p; break;
		case DT_VERSYM: d->versym = p; break;
		case DT_VERDEF: d->verdef = p; break;
		default: break;
		}
	}
	return d->symtab && d->strtab && d->strsz && dynsym_mapped(info, d->strtab, d->strsz) &&
	       (d->gnu_hash || d->sysv_hash);
}

const ElfW(Sym) *dynsym_named(const struct dynsym *d, uint32_t i, const char *name, size_t len)
{
	const ElfW(Sym) *s = &d->symtab[i];
	if (!dynsym_mapped(d->info, s, sizeof(*s)))
		return NULL;
	if (s->st_name >= d->strsz || d->strsz - s->st_name <= len ||
	    memcmp(d->strtab + s->st_name, name, len + 1) != 0)
		return NULL;
	return s;
}

static bool gnu_lookup(const struct dynsym *d, const char *name, size_t len, dynsym_match_fn match,
		       void *arg, uint32_t *index)
{
	const uint32_t *h = d->gnu_hash;
	if (!dynsym_mapped(d->info, h, 4 * sizeof(uint32_t)))
		return false;
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
	if (!nbuckets || !dynsym_mapped(d->info, buckets, (size_t)nbuckets * sizeof(uint32_t)))
		return false;
	const uint32_t *chain = buckets + nbuckets;
	uint32_t hash = 5381;
	for (const char *s = name; *s; s++)
		hash = hash * 33 + (unsigned char)*s;
	uint32_t i = buckets[hash % nbuckets];
	if (i < symoffset)
		return false;
	for (;; i++) {
		const uint32_t *ch = &chain[i - symoffset];
		if (!dynsym_mapped(d->info, ch, sizeof(*ch)))
			return false;
		if ((*ch | 1) == (hash | 1) && match(d, i, name, len, arg)) {
			*index = i;
			return true;
		}
		if (*ch & 1)
			return false;
	}
}

static bool sysv_lookup(const struct dynsym *d, const char *name, size_t len, dynsym_match_fn match,
			void *arg, uint32_t *index)
{
	const uint32_t *h = d->sysv_hash;
	if (!dynsym_mapped(d->info, h, 2 * sizeof(uint32_t)))
		return false;
	uint32_t nbucket = h[0], nchain = h[1];
	if (!nbucket || !dynsym_mapped(d->info, h + 2, ((size_t)nbucket + nchain) * sizeof(uint32_t)))
		return false;
	uint32_t hash = 0;
	for (const char *s = name; *s; s++) {
		hash = (hash << 4) + (unsigned char)*s;
		uint32_t g = hash & 0xf0000000u;
		hash ^= g >> 24;
		hash &= ~g;
	}
	const uint32_t *chain = h + 2 + nbucket;
	uint32_t steps = 0;
	for (uint32_t i = h[2 + hash % nbucket]; i != STN_UNDEF && i < nchain && steps < nchain;
	     i = chain[i], steps++) {
		if (match(d, i, name, len, arg)) {
			*index = i;
			return true;
		}
	}
	return false;
}

bool dynsym_lookup(const struct dynsym *d, const char *name, dynsym_match_fn match, void *arg,
		   uint32_t *index)
{
	uint32_t i;
	size_t len = strlen(name);
	bool found = d->gnu_hash ? gnu_lookup(d, name, len, match, arg, &i)
				 : sysv_lookup(d, name, len, match, arg, &i);
	if (found && index)
		*index = i;
	return found;
}
