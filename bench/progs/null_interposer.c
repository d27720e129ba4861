/*
 * null_interposer.c - the cheapest possible LD_PRELOAD allocator wrapper:
 * malloc, free, calloc and realloc, each one jump to glibc's own entry
 * point.  It records nothing.  Its row in make bench measures what putting
 * any library in front of glibc's malloc costs a program before that
 * library does any work of its own: the call through one more symbol, and
 * whatever a different timing does to the allocator's own behaviour
 * (docs/performance.md, the page-fault note of the malloc-heavy table).
 *
 * Built as a shared object by bench/run.py.
 */
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	return __libc_malloc(n);
}

void free(void *p)
{
	__libc_free(p);
}

void *calloc(size_t n, size_t m)
{
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	return __libc_realloc(p, n);
}
