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
 * symbol table in memory (dynsym.c, which cxx.c uses too): the GNU hash
 * table, then the version table to pick the requested version.  No
 * allocation, no lock but the one dladdr takes (recursive) to find libc's
 * base address.
 *
 * Context: any program thread, once per symbol (callers cache the result).
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include "dynsym.h"
#include "real.h"

extern void *__libc_malloc(size_t);

/* libc's program headers, as dl_iterate_phdr would describe them: the
 * bounds of every read of its tables. */
static struct dl_phdr_info libc_phdrs;

struct libc_dyn {
	struct dynsym sym;
	bool ok;
};

static struct libc_dyn dyn;

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
	uintptr_t bias = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = base - ph[i].p_vaddr;
	}
	libc_phdrs.dlpi_addr = bias;
	libc_phdrs.dlpi_name = info.dli_fname;
	libc_phdrs.dlpi_phdr = ph;
	libc_phdrs.dlpi_phnum = eh->e_phnum;
	struct libc_dyn t;
	if (!dynsym_open(&t.sym, &libc_phdrs) || !t.sym.gnu_hash || !t.sym.versym || !t.sym.verdef)
		return false;
	t.ok = true;
	dyn = t;
	return true;
}

/* The name of version ndx, or NULL. */
static const char *version_name(const struct dynsym *d, ElfW(Half) ndx)
{
	const ElfW(Verdef) *v = d->verdef;
	for (;;) {
		if (!dynsym_mapped(d->info, v, sizeof(*v)))
			return NULL;
		if (v->vd_ndx == ndx) {
			const ElfW(Verdaux) *a = (const ElfW(Verdaux) *)((const char *)v + v->vd_aux);
			if (!dynsym_mapped(d->info, a, sizeof(*a)) || a->vda_name >= d->strsz ||
			    !memchr(d->strtab + a->vda_name, '\0', d->strsz - a->vda_name))
				return NULL;
			return d->strtab + a->vda_name;
		}
		if (!v->vd_next)
			return NULL;
		v = (const ElfW(Verdef) *)((const char *)v + v->vd_next);
	}
}

/* Is symbol i the definition of `name` at the version `arg` names?  (A
 * dynsym_match_fn.) */
static bool defines_version(const struct dynsym *d, uint32_t i, const char *name, size_t len, void *arg)
{
	const ElfW(Sym) *sym = dynsym_named(d, i, name, len);
	if (!sym || sym->st_shndx == SHN_UNDEF || !dynsym_mapped(d->info, &d->versym[i], sizeof(d->versym[i])))
		return false;
	const char *v = version_name(d, d->versym[i] & 0x7fff);
	return v && strcmp(v, (const char *)arg) == 0;
}

void *libc_lookup(const char *name, const char *version)
{
	uint32_t i;
	if (!init_dyn() || !dynsym_lookup(&dyn.sym, name, defines_version, (void *)version, &i))
		return NULL;
	return (void *)(dyn.sym.info->dlpi_addr + dyn.sym.symtab[i].st_value);
}
