/*
 * leaks - one real leak, and memory freed at exit by each kind of code
 * that runs then, at known sites and sizes: the ground truth for reading
 * the exit heap profile as a leak report.
 *
 *   leak_site            never freed
 *   kept_by_static       freed by the destructor of a C++ static object
 *   kept_by_atexit       freed by an atexit handler registered before main
 *   lib_keep_for_*       freed by libleakfini.so (linked) as it is
 *                        finalised: its destructor, a C++ static object's
 *                        destructor, an atexit handler its constructor
 *                        registered
 *
 * Prints the sizes as JSON: {"leak_site": bytes, "kept_by_static": bytes,
 * ...}.  Run with CPROF_HEAP_RATE=1 for exact counts.
 *
 * usage: leaks
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" void lib_keep_for_destructor(size_t n);
extern "C" void lib_keep_for_static(size_t n);
extern "C" void lib_keep_for_atexit(size_t n);

static void *volatile leaked;
static void *by_static, *by_atexit;

struct Holder {
	~Holder() { free(by_static); }
};
static Holder holder;

static void free_by_atexit()
{
	free(by_atexit);
}

__attribute__((constructor)) static void before_main()
{
	atexit(free_by_atexit);
}

extern "C" __attribute__((noinline)) void *leak_site(size_t n)
{
	void *p = malloc(n);
	memset(p, 1, 16);
	return p;
}

extern "C" __attribute__((noinline)) void *kept_by_static(size_t n)
{
	void *p = malloc(n);
	memset(p, 2, 16);
	return p;
}

extern "C" __attribute__((noinline)) void *kept_by_atexit(size_t n)
{
	void *p = malloc(n);
	memset(p, 3, 16);
	return p;
}

int main()
{
	const size_t leak = 1 << 20, st = 3 << 16, ae = 5 << 16, ld = 7 << 16, ls = 9 << 16, la = 11 << 16;
	leaked = leak_site(leak);
	by_static = kept_by_static(st);
	by_atexit = kept_by_atexit(ae);
	lib_keep_for_destructor(ld);
	lib_keep_for_static(ls);
	lib_keep_for_atexit(la);
	printf("{\"leak_site\": %zu, \"kept_by_static\": %zu, \"kept_by_atexit\": %zu, "
	       "\"lib_keep_for_destructor\": %zu, \"lib_keep_for_static\": %zu, \"lib_keep_for_atexit\": %zu}\n",
	       leak, st, ae, ld, ls, la);
	return 0;
}
