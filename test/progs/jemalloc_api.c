/*
 * jemalloc_api - jemalloc's non-standard API, found at run time (the
 * program is not linked with jemalloc; run it with libjemalloc.so.2 in
 * LD_PRELOAD).  Allocates known amounts at mallocx_site (kept),
 * rallocx_site (grown, kept) and frees everything at sdallocx_site's
 * objects.  Prints JSON ground truth like heap_truth.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*p_mallocx)(size_t, int);
static void *(*p_rallocx)(void *, size_t, int);
static void (*p_sdallocx)(void *, size_t, int);
static void (*p_dallocx)(void *, int);

__attribute__((noinline)) void *mallocx_site(size_t n)
{
	char *p = p_mallocx(n, 0);
	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) void *rallocx_site(void *old, size_t n)
{
	char *p = p_rallocx(old, n, 0);
	p[n - 1] = 2;
	return p;
}

__attribute__((noinline)) void *freed_site(size_t n)
{
	char *p = p_mallocx(n, 0);
	p[0] = 3;
	return p;
}

int main(void)
{
	p_mallocx = (void *(*)(size_t, int))dlsym(RTLD_DEFAULT, "mallocx");
	p_rallocx = (void *(*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "rallocx");
	p_sdallocx = (void (*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "sdallocx");
	p_dallocx = (void (*)(void *, int))dlsym(RTLD_DEFAULT, "dallocx");
	if (!p_mallocx || !p_rallocx || !p_sdallocx || !p_dallocx || !p_mallocx(16, 0)) {
		printf("no jemalloc\n");
		return 77;
	}
	unsigned long long keep = 0, rall = 0, rkeep = 0, freed = 0;
	for (int i = 0; i < 1000; i++) {
		mallocx_site(3000);
		keep += 3000;
	}
	for (int i = 0; i < 100; i++) {
		void *p = rallocx_site(p_mallocx(100, 0), 5000);
		rallocx_site(p, 9000);
		rall += 14000;
		rkeep += 9000;
	}
	for (int i = 0; i < 1000; i++) {
		void *p = freed_site(2000);
		if (i % 2)
			p_sdallocx(p, 2000, 0);
		else
			p_dallocx(p, 0);
		freed += 2000;
	}
	printf("{\"mallocx_site\": {\"alloc_bytes\": %llu, \"inuse_bytes\": %llu}, "
	       "\"rallocx_site\": {\"alloc_bytes\": %llu, \"inuse_bytes\": %llu}, "
	       "\"freed_site\": {\"alloc_bytes\": %llu, \"inuse_bytes\": 0}}\n",
	       keep, keep, rall, rkeep, freed);
	return 0;
}
