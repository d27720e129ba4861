/*
 * libleakfini.so - memory a shared library frees as the process exits,
 * three ways (for the leaks program): in its destructor (.fini_array, run
 * by ld.so's _dl_fini), in the destructor of a C++ static object, and in
 * an atexit handler its constructor registers.  Each is allocated by a
 * function of its own, called from the program's main.  The program links
 * this library, so its constructor runs before cprof's.
 */
#include <stdlib.h>
#include <string.h>

static void *for_destructor, *for_static, *for_atexit;

struct StaticHolder {
	~StaticHolder() { free(for_static); }
};
static StaticHolder holder;

static void free_at_exit()
{
	free(for_atexit);
}

__attribute__((constructor)) static void leakfini_init()
{
	atexit(free_at_exit);
}

__attribute__((destructor)) static void leakfini_fini()
{
	free(for_destructor);
}

extern "C" __attribute__((noinline)) void lib_keep_for_destructor(size_t n)
{
	for_destructor = malloc(n);
	memset(for_destructor, 1, 16);
}

extern "C" __attribute__((noinline)) void lib_keep_for_static(size_t n)
{
	for_static = malloc(n);
	memset(for_static, 2, 16);
}

extern "C" __attribute__((noinline)) void lib_keep_for_atexit(size_t n)
{
	for_atexit = malloc(n);
	memset(for_atexit, 3, 16);
}
