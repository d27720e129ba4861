/*
 * heap_truth - allocation sites with known allocated and live bytes.
 *
 * Each site is a noinline function that allocates (and does work after the
 * call, so it is never a tail call).  The program adds up what it asked
 * each site to allocate and what is still live at exit, and prints it as
 * JSON: {"site": {"alloc_bytes": N, "alloc_objects": N, "inuse_bytes": N,
 * "inuse_objects": N}, ...}.  The heap profile written at exit must agree
 * within sampling error.
 *
 * usage: heap_truth [scale] [threads]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct truth {
	const char *name;
	unsigned long long alloc_bytes, alloc_objects, inuse_bytes, inuse_objects;
};

enum { KEEP, CHURN, MIXED, REALLOC, CALLOC, HUGE, THREAD, NSITES };
static struct truth truth[NSITES] = {
	{"site_keep"}, {"site_churn"}, {"site_mixed"}, {"site_realloc"},
	{"site_calloc"}, {"site_huge"}, {"site_thread"},
};
static pthread_mutex_t truth_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(int site, size_t alloc, int live)
{
	pthread_mutex_lock(&truth_lock);
	truth[site].alloc_bytes += alloc;
	truth[site].alloc_objects++;
	if (live) {
		truth[site].inuse_bytes += alloc;
		truth[site].inuse_objects++;
	}
	pthread_mutex_unlock(&truth_lock);
}

static volatile unsigned char sink;

__attribute__((noinline)) void *site_keep(size_t n)
{
	unsigned char *p = malloc(n);
	p[0] = 1;
	sink += p[0];
	return p;
}

__attribute__((noinline)) void site_churn(size_t n)
{
	unsigned char *p = malloc(n);
	p[n - 1] = 2;
	sink += p[n - 1];
	free(p);
}

__attribute__((noinline)) void *site_mixed(size_t n)
{
	unsigned char *p = malloc(n);
	p[0] = 3;
	sink += p[0];
	return p;
}

/* Grows a buffer by doubling with realloc: every call is an allocation of
 * the new size (and a free of the old block). */
__attribute__((noinline)) void *site_realloc(void *old, size_t n)
{
	unsigned char *p = realloc(old, n);
	p[n - 1] = 4;
	sink += p[n - 1];
	return p;
}

__attribute__((noinline)) void *site_calloc(size_t n, size_t m)
{
	unsigned char *p = calloc(n, m);
	sink += p[0];
	return p;
}

__attribute__((noinline)) void *site_huge(size_t n)
{
	unsigned char *p = malloc(n);
	sink += p ? 1 : 0;
	return p;
}

__attribute__((noinline)) void *site_thread(size_t n)
{
	unsigned char *p = malloc(n);
	p[0] = 5;
	sink += p[0];
	return p;
}

static unsigned long scale = 1;
static unsigned long long rng = 88172645463325252ULL;

static unsigned long long next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void *thread_main(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; i < 4000 * scale; i++) {
		site_thread(2048);
		note(THREAD, 2048, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = 2;
	if (argc > 1)
		scale = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		nthreads = atoi(argv[2]);

	pthread_t th[16];
	for (int i = 0; i < nthreads && i < 16; i++)
		pthread_create(&th[i], NULL, thread_main, NULL);

	for (unsigned long i = 0; i < 5000 * scale; i++) {
		site_keep(4096);
		note(KEEP, 4096, 1);
	}
	for (unsigned long i = 0; i < 20000 * scale; i++) {
		site_churn(1000);
		note(CHURN, 1000, 0);
	}
	/* Mixed sizes from 16 B to 64 KiB; every other one freed. */
	void *prev = NULL;
	for (unsigned long i = 0; i < 4000 * scale; i++) {
		size_t n = 16 + (size_t)(next() % 65536);
		void *p = site_mixed(n);
		if (i % 2) {
			free(p);
			note(MIXED, n, 0);
		} else {
			note(MIXED, n, 1);
		}
		prev = p;
	}
	(void)prev;
	/* realloc growth: 64 B doubling to 1 MiB, 40 times; the last buffer of
	 * each chain is kept. */
	for (unsigned long k = 0; k < 40 * scale; k++) {
		void *buf = NULL;
		for (size_t n = 64; n <= (1u << 20); n *= 2) {
			buf = site_realloc(buf, n);
			note(REALLOC, n, 0);
		}
		/* The final size stays live. */
		pthread_mutex_lock(&truth_lock);
		truth[REALLOC].inuse_bytes += 1u << 20;
		truth[REALLOC].inuse_objects++;
		pthread_mutex_unlock(&truth_lock);
	}
	for (unsigned long i = 0; i < 3000 * scale; i++) {
		site_calloc(100, 30);
		note(CALLOC, 3000, 1);
	}
	/* One huge allocation: sampled with probability 1 - exp(-256M/R). */
	if (site_huge(256u << 20))
		note(HUGE, 256u << 20, 1);

	for (int i = 0; i < nthreads && i < 16; i++)
		pthread_join(th[i], NULL);

	printf("{");
	for (int i = 0; i < NSITES; i++)
		printf("%s\"%s\": {\"alloc_bytes\": %llu, \"alloc_objects\": %llu, \"inuse_bytes\": %llu, "
		       "\"inuse_objects\": %llu}",
		       i ? ", " : "", truth[i].name, truth[i].alloc_bytes, truth[i].alloc_objects,
		       truth[i].inuse_bytes, truth[i].inuse_objects);
	printf("}\n");
	return 0;
}
