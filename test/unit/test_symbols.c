/*
 * test_symbols.c - unit test of encoder/symbols.c.
 *
 * Includes the module (and the arena and log it uses) into this one
 * translation unit, so it never links the interposing library and can
 * reach the module's static helpers and debugfile.c's debug_root test seam.
 *
 * Covers: the test binary's own functions (start, middle, last byte), a
 * libc function through libc's debug file and through .dynsym alone, a
 * static function through .symtab, through a build-id debug file and
 * through .gnu_debuglink (and not through a stripped copy or a debug file
 * with the wrong CRC), a non-PIE executable (bias 0), the vDSO from memory,
 * a replaced file (build id mismatch), malformed and truncated files and
 * randomly corrupted copies, symbols_file_build_id against readelf, the
 * table helpers (sort, alias choice, sizeless and nested symbols), name
 * lifetime across symbolizer_free, and the speed of 100,000 lookups.
 *
 * Exit status: 0 pass, 77 skip, 1 fail (with one line saying why).
 * Temporary files live in a mkdtemp directory under /tmp, removed at exit.
 * Run it under valgrind too: `valgrind --error-exitcode=1 <this binary>`.
 */
#include "../../preload/base/arena.c"
#include "../../preload/base/log.c"
#include "../../encoder/debugfile.c"
#include "../../encoder/symbols.c"

#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include "unit_tmp.h"
#define tmp unit_tmp

#define FAIL(...)                                                           \
	do {                                                                \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);             \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		exit(1);                                                    \
	} while (0)

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond))                                                \
			FAIL("CHECK(%s) failed", #cond);                    \
	} while (0)

#define CHECK_STR(got, want)                                                \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		if (!g_ || strcmp(g_, w_) != 0)                             \
			FAIL("%s: got \"%s\", want \"%s\"", #got,           \
			     g_ ? g_ : "(null)", w_);                       \
	} while (0)

#define CHECK_U(got, want)                                                  \
	do {                                                                \
		unsigned long long g_ = (got), w_ = (want);                 \
		if (g_ != w_)                                               \
			FAIL("%s: got %#llx, want %#llx", #got, g_, w_);    \
	} while (0)

#define CHECK_NULL(got)                                                     \
	do {                                                                \
		const char *g_ = (got);                                     \
		if (g_)                                                     \
			FAIL("%s: got \"%s\", want NULL", #got, g_);        \
	} while (0)

/* ---- subjects ------------------------------------------------------------ */

__attribute__((noinline, noclone, used)) int cprof_symtest_alpha(int x)
{
	volatile int v = x;
	for (int i = 0; i < 8; i++)
		v = v * 3 + i;
	return v;
}

__attribute__((noinline, noclone, used)) int cprof_symtest_beta(int x)
{
	volatile int v = x;
	v ^= 0x55;
	v += cprof_symtest_alpha(v);
	return v;
}

__attribute__((noinline, noclone, used)) long cprof_symtest_gamma(long a, long b)
{
	volatile long v = a;
	for (long i = 0; i < b; i++)
		v += i * a;
	return v;
}

__attribute__((noinline, noclone, used)) static int symtest_static_helper(int x)
{
	volatile int v = x;
	v = v * 7 - 1;
	v = v ^ (v >> 3);
	return v;
}

/* ---- helpers ------------------------------------------------------------- */

/* Formats a shell command; the test fails rather than run a cut one. */
static const char *cmdf(const char *fmt, ...)
{
	static char buf[3 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		FAIL("command too long: %s", fmt);
	return buf;
}

/* Runs a formatted shell command that must succeed. */
#define SH(...)                                                             \
	do {                                                                \
		const char *c_ = cmdf(__VA_ARGS__);                         \
		int rc_ = system(c_);                                       \
		if (rc_ != 0)                                               \
			FAIL("command failed (%d): %s", rc_, c_);           \
	} while (0)

static bool have_tool(const char *tool)
{
	return system(cmdf("command -v %s >/dev/null 2>&1", tool)) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		FAIL("cannot write %s", path);
}

static void *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		FAIL("cannot open %s", path);
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf)
		FAIL("out of memory");
	*len = n;
	return buf;
}

/* Size of `name` in the symbol table of `file`, from nm (0 if unknown). */
static unsigned long nm_size(const char *file, const char *name)
{
	char line[1024];
	unsigned long size = 0;
	FILE *p = popen(cmdf("nm -S --defined-only '%s' 2>/dev/null", file), "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long a, sz;
		char t, n[512];
		if (sscanf(line, "%lx %lx %c %511s", &a, &sz, &t, n) == 4 && strcmp(n, name) == 0)
			size = sz;
	}
	pclose(p);
	return size;
}

static unsigned long nm_addr(const char *file, const char *name)
{
	char line[1024];
	unsigned long addr = 0;
	FILE *p = popen(cmdf("nm --defined-only '%s' 2>/dev/null", file), "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long a;
		char t, n[512];
		if (sscanf(line, "%lx %c %511s", &a, &t, n) == 3 && strcmp(n, name) == 0)
			addr = a;
	}
	pclose(p);
	return addr;
}

struct phdr_query {
	uintptr_t addr;      /* find the object containing this address */
	uintptr_t bias;
	char name[512];
	uintptr_t text_lo, text_hi;   /* its executable segment */
	int found;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct phdr_query *q = arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (q->addr >= lo && q->addr < hi) {
			q->bias = info->dlpi_addr;
			snprintf(q->name, sizeof(q->name), "%s", info->dlpi_name);
			for (int j = 0; j < info->dlpi_phnum; j++) {
				const ElfW(Phdr) *x = &info->dlpi_phdr[j];
				if (x->p_type == PT_LOAD && (x->p_flags & PF_X)) {
					q->text_lo = info->dlpi_addr + x->p_vaddr;
					q->text_hi = q->text_lo + x->p_memsz;
				}
			}
			q->found = 1;
			return 1;
		}
	}
	return 0;
}

static struct phdr_query object_of(const void *addr)
{
	struct phdr_query q;
	memset(&q, 0, sizeof(q));
	q.addr = (uintptr_t)addr;
	dl_iterate_phdr(phdr_cb, &q);
	if (!q.found)
		FAIL("no loaded object contains %p", addr);
	return q;
}

static uintptr_t main_bias;
/* The test binary's real path, for the tools it runs (in a child,
 * /proc/self/exe would be the tool itself). */
static char self_path[PATH_MAX];
static char self_bid[SYMBOLS_BUILD_ID_HEX_MAX];

static void path_in_tmp(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmp, name);
}

/* Looks pc up in a fresh symbolizer (so no cache hides anything). */
static const char *lookup_once(struct region *r, const char *path, uintptr_t bias,
			       const char *bid, const void *mem, uintptr_t pc,
			       uintptr_t *start)
{
	struct symbolizer *s = symbolizer_new(r);
	CHECK(s != NULL);
	const char *name = symbolizer_lookup(s, path, bias, bid, mem, pc, start);
	symbolizer_free(s);
	return name;
}

/* ---- tests ----------------------------------------------------------------- */

static const char *find_name(const struct symobj *o, uint64_t v)
{
	const struct sym *sy = table_find(o, v);
	return sy ? sy->name : NULL;
}

static void test_table_helpers(void)
{
	/* Radix sort (with region memory) and heapsort (without): random
	 * arrays, small and wide keys, come out ordered and complete. */
	static struct sym a[6000];
	struct region r = {0};
	srand(12345);
	for (int round = 0; round < 60; round++) {
		size_t n = (size_t)(rand() % (round < 40 ? 600 : 6000));
		uint64_t sum = 0, sum2 = 0, xsum = 0, xsum2 = 0;
		for (size_t i = 0; i < n; i++) {
			a[i].start = round % 3 == 0 ? (uint64_t)(rand() % 200)
				   : round % 3 == 1 ? (uint64_t)rand() << 20 | (uint64_t)rand()
						    : 0x7f0000000000ull + (uint64_t)(rand() % 100000) * 16;
			a[i].end = a[i].start * 3 + 1; /* travels with its start */
			sum += a[i].start;
			xsum ^= a[i].start * 0x9E3779B97F4A7C15ull;
		}
		if (round & 1)
			heapsort_syms(a, n);
		else
			sort_syms(&r, a, n);
		for (size_t i = 0; i < n; i++) {
			sum2 += a[i].start;
			xsum2 ^= a[i].start * 0x9E3779B97F4A7C15ull;
			CHECK(a[i].end == a[i].start * 3 + 1);
			if (i)
				CHECK(a[i - 1].start <= a[i].start);
		}
		CHECK_U(sum2, sum);
		CHECK_U(xsum2, xsum);
	}
	region_reset(&r);

	/* Alias choice: global > weak > local, then fewer underscores, then
	 * shorter, whatever the input order. */
	struct sym al[] = {
		{ 0x100, 0x140, UINT64_MAX, "__libc_write", 0 << 1 },
		{ 0x100, 0x140, UINT64_MAX, "write_local", 2 << 1 },
		{ 0x100, 0x140, UINT64_MAX, "__write", 1 << 1 },
		{ 0x100, 0x140, UINT64_MAX, "write", 1 << 1 },
		{ 0x100, 0x140, UINT64_MAX, "_write", 0 << 1 },
		{ 0x200, 0, 0x300, "sizeless", 0 },
		{ 0x250, 0x260, 0x300, "inner", 0 },
		{ 0x400, 0x500, 0x600, "outer", 0 },
		{ 0x410, 0x420, 0x600, "nested", 0 },
		{ 0x700, 0, 0x780, "last_sizeless", 0 },
	};
	size_t n = CPROF_ARRAY_LEN(al);
	heapsort_syms(al, n);
	n = finish_syms(al, n);
	CHECK_U(n, 6);
	struct symobj o;
	memset(&o, 0, sizeof(o));
	o.syms = al;
	o.nsyms = n;
	CHECK_STR(find_name(&o, 0x100), "_write");
	CHECK_STR(find_name(&o, 0x13f), "_write");
	CHECK(find_name(&o, 0x140) == NULL);
	CHECK(find_name(&o, 0xff) == NULL);
	CHECK_STR(find_name(&o, 0x24f), "sizeless");   /* to next symbol */
	CHECK_STR(find_name(&o, 0x255), "inner");
	CHECK(find_name(&o, 0x260) == NULL);
	CHECK_STR(find_name(&o, 0x415), "nested");
	CHECK_STR(find_name(&o, 0x420), "outer");      /* encloses */
	CHECK_STR(find_name(&o, 0x4ff), "outer");
	CHECK(find_name(&o, 0x500) == NULL);
	CHECK_STR(find_name(&o, 0x77f), "last_sizeless"); /* to section end */
	CHECK(find_name(&o, 0x780) == NULL);

	/* Ties on bind and underscores go to the shorter name. */
	struct sym b[] = {
		{ 0x10, 0x20, UINT64_MAX, "memcpy_impl", 0 },
		{ 0x10, 0x20, UINT64_MAX, "memcpy", 0 },
	};
	CHECK_U(finish_syms(b, 2), 1);
	CHECK_STR(b[0].name, "memcpy");
}

static void test_self(struct region *r)
{
	struct symbolizer *s = symbolizer_new(r);
	struct {
		const char *name;
		void *addr;
	} fns[] = {
		{ "cprof_symtest_alpha", (void *)cprof_symtest_alpha },
		{ "cprof_symtest_beta", (void *)cprof_symtest_beta },
		{ "cprof_symtest_gamma", (void *)cprof_symtest_gamma },
		{ "symtest_static_helper", (void *)symtest_static_helper },
	};
	const char *names[CPROF_ARRAY_LEN(fns)];

	for (size_t i = 0; i < CPROF_ARRAY_LEN(fns); i++) {
		uintptr_t pc = (uintptr_t)fns[i].addr, start = 1;
		unsigned long size = nm_size(self_path, fns[i].name);
		CHECK(size > 0);
		const char *got = symbolizer_lookup(s, "/proc/self/exe", main_bias, "", NULL, pc, &start);
		CHECK_STR(got, fns[i].name);
		CHECK_U(start, pc);
		names[i] = got;
		got = symbolizer_lookup(s, "/proc/self/exe", main_bias, "", NULL, pc + size / 2, &start);
		CHECK_STR(got, fns[i].name);
		CHECK_U(start, pc);
		/* Same entry: the name was copied once and is now reused. */
		CHECK(got == names[i]);
		got = symbolizer_lookup(s, "/proc/self/exe", main_bias, self_bid, NULL,
					pc + size - 1, &start);
		CHECK_STR(got, fns[i].name);
	}
	/* Outside any function. */
	uintptr_t start = 1;
	CHECK_NULL(symbolizer_lookup(s, "/proc/self/exe", main_bias, "", NULL, 16, &start));
	CHECK_U(start, 0);
	CHECK_NULL(symbolizer_lookup(s, "/proc/self/exe", main_bias, "", NULL, main_bias, NULL));

	/* A build id that is not the file's: the file was replaced, its
	 * symbols must not be trusted. */
	CHECK_NULL(symbolizer_lookup(s, "/proc/self/exe", main_bias,
				     "0123456789abcdef0123456789abcdef01234567", NULL,
				     (uintptr_t)cprof_symtest_alpha, NULL));

	/* Names stay valid after the files are unmapped; lookups stop. */
	symbolizer_free(s);
	for (size_t i = 0; i < CPROF_ARRAY_LEN(fns); i++)
		CHECK_STR(names[i], fns[i].name);
	CHECK_NULL(symbolizer_lookup(s, "/proc/self/exe", main_bias, "", NULL,
				     (uintptr_t)cprof_symtest_alpha, NULL));
}

/* libc's own write (RTLD_DEFAULT could find a sanitizer's interceptor). */
static void *libc_write(void)
{
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	void *w = h ? dlsym(h, "write") : NULL;
	if (!w)
		FAIL("cannot find libc's write: %s", dlerror());
	return w;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_libc(struct region *r)
{
	void *w = libc_write();
	CHECK(w != NULL);
	struct phdr_query q = object_of(w);
	Dl_info info;
	CHECK(dladdr(w, &info) != 0);
	CHECK(strstr(q.name, "libc.so") != NULL);

	uintptr_t start = 0;
	const char *name = lookup_once(r, q.name, q.bias, "", NULL, (uintptr_t)w + 3, &start);
	if (!name || !ends_with(name, "write"))
		FAIL("libc write resolved to \"%s\"", name ? name : "(null)");
	CHECK_U(start, (uintptr_t)w);

	/* Without any debug file: .dynsym alone still knows write. */
	const char *saved = debug_root;
	char nowhere[128];
	path_in_tmp(nowhere, sizeof(nowhere), "no-debug-here");
	debug_root = nowhere;
	name = lookup_once(r, q.name, q.bias, "", NULL, (uintptr_t)w + 3, &start);
	debug_root = saved;
	if (!name || !ends_with(name, "write"))
		FAIL("libc write (dynsym) resolved to \"%s\"", name ? name : "(null)");
	CHECK_U(start, (uintptr_t)w);

	/* With libc's debug file installed (libc6-dbg), its .symtab is used:
	 * more functions than .dynsym alone. */
	char bid0[SYMBOLS_BUILD_ID_HEX_MAX], dbgpath[PATH_MAX];
	CHECK(symbols_file_build_id(q.name, bid0, sizeof(bid0)) == 0);
	snprintf(dbgpath, sizeof(dbgpath), "%s/.build-id/%.2s/%s.debug", debug_root, bid0, bid0 + 2);
	if (access(dbgpath, R_OK) == 0) {
		struct symbolizer *full = symbolizer_new(r), *dyn = symbolizer_new(r);
		CHECK(symbolizer_lookup(full, q.name, q.bias, "", NULL, (uintptr_t)w, NULL));
		debug_root = nowhere;
		CHECK(symbolizer_lookup(dyn, q.name, q.bias, "", NULL, (uintptr_t)w, NULL));
		debug_root = saved;
		printf("  libc: %zu functions with the debug file, %zu from .dynsym\n",
		       full->last->nsyms, dyn->last->nsyms);
		CHECK(full->last->nsyms > dyn->last->nsyms);
		symbolizer_free(full);
		symbolizer_free(dyn);
	} else {
		printf("  (no debug file for libc: .symtab-from-debug-file case skipped)\n");
	}

	/* Path as dladdr spells it, build id as the file carries it. */
	char bid[SYMBOLS_BUILD_ID_HEX_MAX];
	CHECK(symbols_file_build_id(info.dli_fname, bid, sizeof(bid)) == 0);
	name = lookup_once(r, info.dli_fname, q.bias, bid, NULL, (uintptr_t)w, NULL);
	if (!name || !ends_with(name, "write"))
		FAIL("libc write (by build id) resolved to \"%s\"", name ? name : "(null)");
}

static void test_stripped_and_debug_files(struct region *r)
{
	char stripped[256], dbg[256], linked[256], dir[256];
	uintptr_t helper = (uintptr_t)symtest_static_helper;
	uintptr_t alpha = (uintptr_t)cprof_symtest_alpha;

	if (!have_tool("strip") || !have_tool("objcopy")) {
		printf("  (strip/objcopy missing: stripped and debug-file cases skipped)\n");
		return;
	}
	path_in_tmp(stripped, sizeof(stripped), "stripped");
	SH("strip -o '%s' '%s'", stripped, self_path);

	/* Only .dynsym is left: the static function must not get its name.
	 * (The test is not linked with -rdynamic, so the exported ones are
	 * not in .dynsym either.) */
	const char *name = lookup_once(r, stripped, main_bias, "", NULL, helper, NULL);
	CHECK(!name || strcmp(name, "symtest_static_helper") != 0);
	name = lookup_once(r, stripped, main_bias, self_bid, NULL, alpha, NULL);
	CHECK(!name || strcmp(name, "cprof_symtest_alpha") != 0);

	/* A debug file found by build id under debug_root. */
	path_in_tmp(dir, sizeof(dir), "root/.build-id");
	SH("mkdir -p '%s/%.2s' && objcopy --only-keep-debug '%s' '%s/%.2s/%s.debug'",
	   dir, self_bid, self_path, dir, self_bid, self_bid + 2);
	const char *saved = debug_root;
	char root[256];
	path_in_tmp(root, sizeof(root), "root");
	debug_root = root;
	CHECK_STR(lookup_once(r, stripped, main_bias, "", NULL, helper, NULL), "symtest_static_helper");
	CHECK_STR(lookup_once(r, stripped, main_bias, self_bid, NULL, alpha + 1, NULL),
		  "cprof_symtest_alpha");
	/* The file on disk gone: the debug file alone still answers. */
	char gone[256];
	path_in_tmp(gone, sizeof(gone), "deleted-object");
	CHECK_STR(lookup_once(r, gone, main_bias, self_bid, NULL, alpha, NULL), "cprof_symtest_alpha");
	debug_root = saved;

	/* .gnu_debuglink to <dir>/.debug/<name>, CRC checked. */
	path_in_tmp(linked, sizeof(linked), "dl/linked");
	path_in_tmp(dbg, sizeof(dbg), "dl/.debug/linked.dbg");
	SH("mkdir -p '%s/dl/.debug' && objcopy --only-keep-debug '%s' '%s' && "
	   "strip -o '%s' '%s' && objcopy --add-gnu-debuglink='%s' '%s'",
	   tmp, self_path, dbg, linked, self_path, dbg, linked);
	CHECK_STR(lookup_once(r, linked, main_bias, "", NULL, helper + 2, NULL), "symtest_static_helper");
	/* Same in the object's own directory. */
	SH("mv '%s' '%s/dl/linked.dbg'", dbg, tmp);
	CHECK_STR(lookup_once(r, linked, main_bias, "", NULL, helper + 2, NULL), "symtest_static_helper");
	/* A debug file that does not match the CRC is ignored. */
	SH("printf x >> '%s/dl/linked.dbg'", tmp);
	name = lookup_once(r, linked, main_bias, "", NULL, helper + 2, NULL);
	CHECK(!name || strcmp(name, "symtest_static_helper") != 0);
}

/* A non-PIE executable: ET_EXEC, symbols at their link addresses, bias 0. */
static void test_non_pie(struct region *r)
{
	char src[256], exe[256];

	path_in_tmp(src, sizeof(src), "nopie.c");
	path_in_tmp(exe, sizeof(exe), "nopie");
	const char *code = "__attribute__((noinline)) int nopie_func(int x) { return x * 5 + 3; }\n"
			   "int main(int c, char **v) { return nopie_func(c) == 0; }\n";
	write_file(src, code, strlen(code));
	if (system(cmdf("cc -O1 -no-pie -o '%s' '%s' >/dev/null 2>&1", exe, src)) != 0) {
		printf("  (no compiler: non-PIE case skipped)\n");
		return;
	}
	unsigned long addr = nm_addr(exe, "nopie_func");
	CHECK(addr != 0);
	uintptr_t start;
	CHECK_STR(lookup_once(r, exe, 0, "", NULL, addr + 1, &start), "nopie_func");
	CHECK_U(start, addr);
}

static void test_vdso(struct region *r)
{
	const void *vdso = (const void *)getauxval(AT_SYSINFO_EHDR);
	if (!vdso) {
		printf("  (no vDSO, e.g. under valgrind: vDSO case skipped)\n");
		return;
	}
	struct phdr_query q = object_of(vdso);
	void *h = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
	void *fn = h ? dlsym(h, "__vdso_clock_gettime") : NULL;
	if (!fn)
		fn = h ? dlsym(h, "clock_gettime") : NULL;
	if (!fn) {
		printf("  (vDSO clock_gettime not found by dlsym: vDSO case skipped)\n");
		return;
	}
	uintptr_t start;
	const char *name = lookup_once(r, "[vdso]", q.bias, "", vdso, (uintptr_t)fn + 4, &start);
	if (!name || !strstr(name, "clock_gettime"))
		FAIL("vDSO clock_gettime resolved to \"%s\"", name ? name : "(null)");
	CHECK_U(start, (uintptr_t)fn);

	/* Not an ELF image: nothing, no crash. */
	static const unsigned char zeros[4096] __attribute__((aligned(4096)));
	CHECK_NULL(lookup_once(r, "[fake]", 0, "", zeros, 0x100, NULL));
}

static void expect_nothing(struct region *r, const char *path)
{
	char bid[SYMBOLS_BUILD_ID_HEX_MAX];
	struct symbolizer *s = symbolizer_new(r);
	for (uintptr_t pc = 0x1000; pc < 0x40000; pc += 0x777)
		CHECK_NULL(symbolizer_lookup(s, path, 0, "", NULL, pc, NULL));
	CHECK_NULL(symbolizer_lookup(s, path, main_bias, "", NULL,
				     (uintptr_t)cprof_symtest_alpha, NULL));
	symbolizer_free(s);
	(void)symbols_file_build_id(path, bid, sizeof(bid));
}

/* Sets the 8-byte field at off of the file image to v. */
static void patch64(unsigned char *img, size_t off, uint64_t v)
{
	memcpy(img + off, &v, 8);
}

static void test_malformed(struct region *r)
{
	char path[256];
	size_t len;
	unsigned char *img = read_whole("/proc/self/exe", &len);
	unsigned char *copy = malloc(len);
	Elf64_Ehdr eh;
	CHECK(copy && len > sizeof(eh));
	memcpy(&eh, img, sizeof(eh));

	path_in_tmp(path, sizeof(path), "empty");
	write_file(path, "", 0);
	expect_nothing(r, path);

	path_in_tmp(path, sizeof(path), "does-not-exist");
	expect_nothing(r, path);
	expect_nothing(r, "");
	expect_nothing(r, tmp);   /* a directory */

	path_in_tmp(path, sizeof(path), "fifo");
	CHECK(mkfifo(path, 0600) == 0);
	expect_nothing(r, path);  /* must not block */

	path_in_tmp(path, sizeof(path), "random");
	unsigned char rnd[8192];
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (unsigned char)rand();
	write_file(path, rnd, sizeof(rnd));
	expect_nothing(r, path);
	memcpy(rnd, img, 64);   /* a valid header over random bytes */
	path_in_tmp(path, sizeof(path), "random-with-header");
	write_file(path, rnd, sizeof(rnd));
	expect_nothing(r, path);

	path_in_tmp(path, sizeof(path), "header-only");
	write_file(path, img, sizeof(Elf64_Ehdr));
	expect_nothing(r, path);

	static const size_t cuts[] = { 16, 63, 1000, 4096 };
	for (size_t i = 0; i < CPROF_ARRAY_LEN(cuts); i++) {
		path_in_tmp(path, sizeof(path), "truncated");
		write_file(path, img, cuts[i]);
		expect_nothing(r, path);
	}
	path_in_tmp(path, sizeof(path), "truncated-half");
	write_file(path, img, len / 2);
	expect_nothing(r, path);
	/* Cut just before the end of the section headers. */
	path_in_tmp(path, sizeof(path), "truncated-shdrs");
	write_file(path, img, len - 1);
	expect_nothing(r, path);

	/* Section headers outside the file. */
	memcpy(copy, img, len);
	patch64(copy, offsetof(Elf64_Ehdr, e_shoff), len + 100);
	path_in_tmp(path, sizeof(path), "shoff-outside");
	write_file(path, copy, len);
	expect_nothing(r, path);
	memcpy(copy, img, len);
	patch64(copy, offsetof(Elf64_Ehdr, e_shoff), UINT64_MAX - 10);
	write_file(path, copy, len);
	expect_nothing(r, path);

	/* Every section of type SYMTAB/STRTAB/DYNSYM pointed outside, one at a
	 * time, then with sh_link out of range. */
	for (size_t i = 1; i < eh.e_shnum; i++) {
		Elf64_Shdr shd;
		size_t off = eh.e_shoff + i * sizeof(shd);
		memcpy(&shd, img + off, sizeof(shd));
		if (shd.sh_type != SHT_SYMTAB && shd.sh_type != SHT_STRTAB &&
		    shd.sh_type != SHT_DYNSYM)
			continue;
		memcpy(copy, img, len);
		patch64(copy, off + offsetof(Elf64_Shdr, sh_offset), len - 8);
		path_in_tmp(path, sizeof(path), "section-outside");
		write_file(path, copy, len);
		expect_nothing(r, path);
		memcpy(copy, img, len);
		patch64(copy, off + offsetof(Elf64_Shdr, sh_size), UINT64_MAX - 4);
		write_file(path, copy, len);
		expect_nothing(r, path);
		if (shd.sh_type != SHT_STRTAB) {
			uint32_t bad = eh.e_shnum + 5;
			memcpy(copy, img, len);
			memcpy(copy + off + offsetof(Elf64_Shdr, sh_link), &bad, 4);
			path_in_tmp(path, sizeof(path), "bad-link");
			write_file(path, copy, len);
			/* Not necessarily nothing (another table may serve), but
			 * nothing out of bounds. */
			struct symbolizer *s = symbolizer_new(r);
			(void)symbolizer_lookup(s, path, main_bias, "", NULL,
						(uintptr_t)cprof_symtest_alpha, NULL);
			symbolizer_free(s);
		}
	}

	/* Symbol names past the end of the string table: each symbol of
	 * .symtab gets a huge st_name; no name may come back. */
	for (size_t i = 1; i < eh.e_shnum; i++) {
		Elf64_Shdr shd;
		memcpy(&shd, img + eh.e_shoff + i * sizeof(shd), sizeof(shd));
		if (shd.sh_type != SHT_SYMTAB && shd.sh_type != SHT_DYNSYM)
			continue;
		memcpy(copy, img, len);
		for (size_t k = 0; k < shd.sh_size / sizeof(Elf64_Sym); k++) {
			uint32_t bad = 0xfffffff0u;
			memcpy(copy + shd.sh_offset + k * sizeof(Elf64_Sym), &bad, 4);
		}
		path_in_tmp(path, sizeof(path), "bad-names");
		write_file(path, copy, len);
		struct symbolizer *s = symbolizer_new(r);
		const char *name = symbolizer_lookup(s, path, main_bias, "", NULL,
						     (uintptr_t)cprof_symtest_alpha, NULL);
		/* The other table may still name it (dynsym does not here). */
		CHECK(!name || strcmp(name, "cprof_symtest_alpha") != 0 || shd.sh_type == SHT_DYNSYM);
		symbolizer_free(s);
	}
	/* A string table without its final NUL. */
	memcpy(copy, img, len);
	for (size_t i = 1; i < eh.e_shnum; i++) {
		Elf64_Shdr shd;
		size_t off = eh.e_shoff + i * sizeof(shd);
		memcpy(&shd, copy + off, sizeof(shd));
		if (shd.sh_type == SHT_STRTAB && shd.sh_size > 0)
			memset(copy + shd.sh_offset, 'A', shd.sh_size);
	}
	path_in_tmp(path, sizeof(path), "no-nul");
	write_file(path, copy, len);
	expect_nothing(r, path);

	/* Random corruption of the ELF header and section header table. */
	size_t shdr_bytes = (size_t)eh.e_shnum * sizeof(Elf64_Shdr);
	for (int round = 0; round < 300; round++) {
		memcpy(copy, img, len);
		int flips = 1 + rand() % 8;
		for (int k = 0; k < flips; k++) {
			size_t off = (rand() % 4 == 0) ? (size_t)(rand() % 64)
						       : eh.e_shoff + (size_t)rand() % shdr_bytes;
			copy[off] = (unsigned char)rand();
		}
		path_in_tmp(path, sizeof(path), "corrupt");
		write_file(path, copy, len);
		struct symbolizer *s = symbolizer_new(r);
		for (int k = 0; k < 4; k++)
			(void)symbolizer_lookup(s, path, main_bias, "", NULL,
						(uintptr_t)cprof_symtest_alpha + (uintptr_t)k * 64, NULL);
		symbolizer_free(s);
		char bid[SYMBOLS_BUILD_ID_HEX_MAX];
		(void)symbols_file_build_id(path, bid, sizeof(bid));
	}
	free(copy);
	free(img);
}

/*
 * In-process fuzzing with a guard page: a corrupted or truncated copy of
 * the test binary is placed so its last byte is followed by an inaccessible
 * page, then parsed with the module's own helpers.  Any read past the image
 * faults at once (file mappings would hide small overruns in the page
 * tail).
 */
static void test_guarded_fuzz(void)
{
	size_t len, page = 4096;
	unsigned char *img = read_whole(self_path, &len);
	size_t room = (len + page - 1) / page * page;
	unsigned char *base = mmap(NULL, room + page, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	Elf64_Ehdr eh;
	Elf64_Shdr shd;

	CHECK(base != MAP_FAILED);
	CHECK(mprotect(base + room, page, PROT_NONE) == 0);
	memcpy(&eh, img, sizeof(eh));
	for (int round = 0; round < 1500; round++) {
		size_t n = len;
		if (round % 5 == 4)
			n = (size_t)rand() % len;
		unsigned char *buf = base + room - n;
		memcpy(buf, img, n);
		int flips = round % 7;
		for (int k = 0; k < flips && n > 0; k++) {
			size_t off;
			switch (rand() % 4) {
			case 0:
				off = (size_t)rand() % 64;
				break;
			case 1:
				off = eh.e_shoff + (size_t)rand() % ((size_t)eh.e_shnum * sizeof(shd));
				break;
			case 2: {
				/* inside a random section's contents */
				size_t i = 1 + (size_t)rand() % (eh.e_shnum - 1);
				memcpy(&shd, img + eh.e_shoff + i * sizeof(shd), sizeof(shd));
				off = shd.sh_type == SHT_NOBITS || shd.sh_size == 0 ? 0 :
				      shd.sh_offset + (size_t)rand() % shd.sh_size;
				break;
			}
			default:
				off = (size_t)rand() % len;
			}
			if (off < n)
				buf[off] = (unsigned char)(rand() % 3 ? rand() : 0xff);
		}

		struct region rr = { 0 };
		struct symbolizer sz = { .r = &rr };
		struct elf e;
		char bid[SYMBOLS_BUILD_ID_HEX_MAX];
		if (elf_parse(&e, buf, n)) {
			static const uint32_t types[] = { SHT_SYMTAB, SHT_DYNSYM };
			for (size_t t = 0; t < 2; t++) {
				struct symobj o;
				memset(&o, 0, sizeof(o));
				if (!use_table(&sz, &o, &e, types[t]))
					continue;
				for (size_t i = 0; i < o.nsyms; i++) {
					CHECK(o.syms[i].end > o.syms[i].start);
					CHECK(strlen(o.syms[i].name) < n);
					if (i)
						CHECK(o.syms[i - 1].start < o.syms[i].start);
				}
				(void)table_find(&o, (uintptr_t)cprof_symtest_alpha - main_bias);
			}
			(void)elf_build_id(&e, bid, sizeof(bid));
			const char *link = NULL;
			uint32_t crc;
			if (elf_debuglink(&e, &link, &crc)) {
				CHECK((const unsigned char *)link >= buf && (const unsigned char *)link < buf + n);
				CHECK(memchr(link, '\0', (size_t)(buf + n - (const unsigned char *)link)) != NULL);
				CHECK(link[0] && !strchr(link, '/'));
			}
		}
		region_reset(&rr);
	}
	munmap(base, room + page);
	free(img);
}

/* The build id as readelf prints it, "" if readelf is missing. */
static void readelf_build_id(const char *file, char *out, size_t n)
{
	char line[512];

	out[0] = '\0';
	FILE *p = popen(cmdf("readelf -n '%s' 2>/dev/null", file), "r");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		const char *k = strstr(line, "Build ID: ");
		if (k && !out[0]) {
			snprintf(out, n, "%s", k + strlen("Build ID: "));
			out[strcspn(out, "\r\n ")] = '\0';
		}
	}
	pclose(p);
}

static void test_build_id(void)
{
	char want[256], got[SYMBOLS_BUILD_ID_HEX_MAX];

	readelf_build_id(self_path, want, sizeof(want));
	if (!want[0]) {
		printf("  (readelf missing or no build id: build id case skipped)\n");
		return;
	}
	CHECK(symbols_file_build_id("/proc/self/exe", got, sizeof(got)) == 0);
	CHECK_STR(got, want);
	CHECK_STR(self_bid, want);
	/* Exactly enough room, then one byte short. */
	size_t need = strlen(want) + 1;
	CHECK(symbols_file_build_id("/proc/self/exe", got, need) == 0);
	CHECK_STR(got, want);
	CHECK(symbols_file_build_id("/proc/self/exe", got, need - 1) == -1);
	CHECK(symbols_file_build_id("/nonexistent/file", got, sizeof(got)) == -1);

	void *w = libc_write();
	Dl_info info;
	CHECK(w && dladdr(w, &info));
	readelf_build_id(info.dli_fname, want, sizeof(want));
	CHECK(symbols_file_build_id(info.dli_fname, got, sizeof(got)) == 0);
	CHECK_STR(got, want);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_speed(struct region *r)
{
	void *w = libc_write();
	struct phdr_query q = object_of(w);
	struct symbolizer *s = symbolizer_new(r);
	size_t found = 0, exported = 0, span = q.text_hi - q.text_lo;
	uint64_t x = 88172645463325252ULL;

	CHECK(span > 0);
	double t0 = now_ms();
	(void)symbolizer_lookup(s, q.name, q.bias, "", NULL, (uintptr_t)w, NULL);
	double t1 = now_ms();
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uintptr_t pc = q.text_lo + (uintptr_t)(x % span);
		found += symbolizer_lookup(s, q.name, q.bias, "", NULL, pc, NULL) != NULL;
	}
	double t2 = now_ms();
	/* The expectation comes from this machine's libc, not from the one the
	 * test was written on: every address dladdr() names (it reads only the
	 * exported .dynsym) must be named by the symbolizer too, which also
	 * reads .symtab and any separate debug file. */
	x = 88172645463325252ULL;
	for (int i = 0; i < 100000; i++) {
		Dl_info info;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uintptr_t pc = q.text_lo + (uintptr_t)(x % span);
		exported += dladdr((void *)pc, &info) && info.dli_sname != NULL;
	}
	printf("  libc: parse %.1f ms, 100000 lookups %.1f ms (%zu named; dladdr names %zu)\n",
	       t1 - t0, t2 - t1, found, exported);
	CHECK(exported > 1000);
	CHECK(found >= exported - exported / 100);
	symbolizer_free(s);
}

static int find_main(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(uintptr_t *)arg = info->dlpi_addr;   /* the first entry is the program */
	return 1;
}

int main(void)
{
	struct region r = { 0 };

	if (!unit_tmp_make("symbols")) {
		printf("SKIP: cannot create a temporary directory\n");
		return 77;
	}
	dl_iterate_phdr(find_main, &main_bias);
	if (symbols_file_build_id("/proc/self/exe", self_bid, sizeof(self_bid)) != 0) {
		printf("SKIP: the test binary has no build id\n");
		return 77;
	}
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0) {
		printf("SKIP: cannot read /proc/self/exe\n");
		return 77;
	}
	self_path[n] = '\0';
	if (nm_size(self_path, "cprof_symtest_alpha") == 0) {
		printf("SKIP: nm missing or the test binary has no .symtab\n");
		return 77;
	}

	test_table_helpers();
	test_self(&r);
	test_libc(&r);
	test_stripped_and_debug_files(&r);
	test_non_pie(&r);
	test_vdso(&r);
	test_malformed(&r);
	test_guarded_fuzz();
	test_build_id();
	test_speed(&r);
	region_reset(&r);
	printf("test_symbols: ok\n");
	return 0;
}
