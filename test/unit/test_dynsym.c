/*
 * test_dynsym.c - unit test of preload/base/dynsym.c and of its two users'
 * lookups: libc_syms.c (glibc's definitions by version) and the matching
 * rules cxx.c applies are checked through the same reader.
 *
 * Includes the modules into this translation unit (nothing interposed):
 * every answer is compared with what the dynamic loader says (dlsym,
 * dlvsym).  Objects with only a GNU hash table and only a System V one are
 * compiled with cc into a mkdtemp directory under /tmp (removed at exit);
 * without cc those cases are skipped.
 *
 * Covers: libc_lookup for current, older (hidden) and missing versions and
 * missing names; lookups through DT_GNU_HASH and DT_HASH, every symbol on
 * a chain offered to the match in order; reads confined to the object's
 * segments (a segment list cut short yields nothing, never a stray read).
 *
 * Exit status: 0 pass, 1 fail.
 */
#include "../../preload/base/dynsym.c"
#include "../../preload/base/libc_syms.c"
#include "unit.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <unistd.h>

#include "unit_tmp.h"
#define tmp unit_tmp

/* ---- libc_syms.c ------------------------------------------------------- */

static void test_libc_lookup(void)
{
	static const char *const cases[][2] = {
		{ "malloc", "GLIBC_2.2.5" },
		{ "free", "GLIBC_2.2.5" },
		{ "pthread_mutex_lock", "GLIBC_2.2.5" },
		{ "pthread_cond_wait", "GLIBC_2.3.2" },
		{ "pthread_cond_wait", "GLIBC_2.2.5" },   /* an older, hidden version */
		{ "pthread_create", "GLIBC_2.34" },
		{ "pthread_create", "GLIBC_2.2.5" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *want = dlvsym(RTLD_DEFAULT, cases[i][0], cases[i][1]);
		void *got = libc_lookup(cases[i][0], cases[i][1]);
		if (got != want)
			fprintf(stderr, "%s@%s: got %p, want %p\n", cases[i][0], cases[i][1], got, want);
		CHECK(want != NULL);
		CHECK(got == want);
	}
	CHECK(dlvsym(RTLD_DEFAULT, "pthread_cond_wait", "GLIBC_2.3.2") !=
	      dlvsym(RTLD_DEFAULT, "pthread_cond_wait", "GLIBC_2.2.5"));
	CHECK(libc_lookup("malloc", "GLIBC_9.9") == NULL);
	CHECK(libc_lookup("cprof_no_such_function", "GLIBC_2.2.5") == NULL);
	CHECK(libc_lookup("", "GLIBC_2.2.5") == NULL);
}

/* ---- dynsym.c on compiled objects ------------------------------------------ */

struct find {
	const char *name;
	struct dl_phdr_info info;
	ElfW(Phdr) phdr[32];
	bool found;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, f->name) || info->dlpi_phnum > 32)
		return 0;
	f->info = *info;
	memcpy(f->phdr, info->dlpi_phdr, info->dlpi_phnum * sizeof(ElfW(Phdr)));
	f->info.dlpi_phdr = f->phdr;
	f->found = true;
	return 1;
}

/* The object loaded from a path containing name; its program headers are
 * copied so a test may cut them short. */
static bool find_object(const char *name, struct find *f)
{
	memset(f, 0, sizeof(*f));
	f->name = name;
	dl_iterate_phdr(find_cb, f);
	return f->found;
}

struct offered {
	int calls;
	uint32_t last;
	bool ok;          /* every index offered carried the name's hash */
	int accept_nth;   /* accept the nth symbol named `name` (1-based); 0: any */
	int named;
};

/* Accepts a defined symbol with the name; records what it was offered. */
static bool match_defined(const struct dynsym *d, uint32_t i, const char *name, size_t len, void *arg)
{
	struct offered *o = arg;
	o->calls++;
	o->last = i;
	const ElfW(Sym) *s = dynsym_named(d, i, name, len);
	if (!s || s->st_shndx == SHN_UNDEF)
		return false;
	o->named++;
	return o->accept_nth == 0 || o->named == o->accept_nth;
}

static bool compile(const char *lib, const char *hash_style)
{
	char cmd[1024];
	const char *src =
		"int dyn_alpha(int x) { return x + 1; }\n"
		"int dyn_beta(int x) { return x * 2; }\n"
		"__attribute__((visibility(\"hidden\"))) int dyn_hidden(int x) { return x - 1; }\n"
		"int dyn_var = 7;\n"
		"int dyn_call_hidden(int x) { return dyn_hidden(x); }\n";
	snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' > '%s/src.c' && cc -shared -fPIC -O1 "
		 "-Wl,--hash-style=%s -o '%s' '%s/src.c' >/dev/null 2>&1", src, tmp, hash_style, lib, tmp);
	return system(cmd) == 0;
}

static void test_object(const char *hash_style)
{
	char lib[256];
	snprintf(lib, sizeof(lib), "%s/libdyn_%s.so", tmp, hash_style);
	if (!compile(lib, hash_style)) {
		printf("  (cc failed: %s hash case skipped)\n", hash_style);
		return;
	}
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL);
	if (!h)
		return;
	struct find f;
	char stem[64];
	snprintf(stem, sizeof(stem), "libdyn_%s.so", hash_style);
	CHECK(find_object(stem, &f));
	struct dynsym d;
	CHECK(dynsym_open(&d, &f.info));
	bool gnu = strcmp(hash_style, "gnu") == 0;
	CHECK(gnu ? d.gnu_hash != NULL && d.sysv_hash == NULL : d.sysv_hash != NULL && d.gnu_hash == NULL);

	static const char *const names[] = { "dyn_alpha", "dyn_beta", "dyn_var", "dyn_call_hidden" };
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		struct offered o = { 0 };
		uint32_t i = 0;
		CHECK(dynsym_lookup(&d, names[k], match_defined, &o, &i));
		CHECK_EQ(i, o.last);
		CHECK((void *)(f.info.dlpi_addr + d.symtab[i].st_value) == dlsym(h, names[k]));
		CHECK(o.calls >= 1);
	}
	/* Not exported, or not there: every candidate refused, false. */
	static const char *const absent[] = { "dyn_hidden", "dyn_gamma", "dyn_alph", "dyn_alphaa", "" };
	for (size_t k = 0; k < sizeof(absent) / sizeof(absent[0]); k++) {
		struct offered o = { 0 };
		uint32_t i = 12345;
		CHECK(!dynsym_lookup(&d, absent[k], match_defined, &o, &i));
		CHECK_EQ(i, 12345);
		CHECK_EQ(o.named, 0);
	}
	/* The match decides: refusing the only candidate finds nothing. */
	struct offered o = { .accept_nth = 2 };
	CHECK(!dynsym_lookup(&d, "dyn_alpha", match_defined, &o, NULL));
	CHECK_EQ(o.named, 1);

	/* Segments cut short: the tables fall outside them; nothing is read
	 * there and nothing is found. */
	struct find cut = f;
	cut.info.dlpi_phdr = cut.phdr;
	for (int i = 0; i < cut.info.dlpi_phnum; i++)
		if (cut.phdr[i].p_type == PT_LOAD)
			cut.phdr[i].p_memsz = 16;
	struct dynsym dc;
	CHECK(!dynsym_open(&dc, &cut.info));
	/* Tables found, then the segments shrunk under them. */
	struct find late = f;
	late.info.dlpi_phdr = late.phdr;
	struct dynsym dl;
	CHECK(dynsym_open(&dl, &late.info));
	for (int i = 0; i < late.info.dlpi_phnum; i++)
		if (late.phdr[i].p_type == PT_LOAD && late.phdr[i].p_offset == 0)
			late.phdr[i].p_memsz = 64;   /* the ELF header only */
	struct offered ol = { 0 };
	bool r = dynsym_lookup(&dl, "dyn_alpha", match_defined, &ol, NULL);
	/* The hash table lives in the first segment: nothing is offered. */
	CHECK(!r);
	CHECK_EQ(ol.calls, 0);
	/* No segments at all. */
	late.info.dlpi_phnum = 0;
	CHECK(!dynsym_open(&dl, &late.info));
	CHECK(!dynsym_mapped(&late.info, (void *)dynsym_mapped, 1));

	dlclose(h);
}

int main(void)
{
	if (!unit_tmp_make("dynsym"))
		return 1;

	test_libc_lookup();
	test_object("gnu");
	test_object("sysv");

	if (!unit_failures)
		printf("test_dynsym: ok\n");
	UNIT_DONE();
}
