/*
 * first_alloc - many threads, each making one small allocation.
 *
 * Every thread's first allocation must be sampled with the same
 * probability as any other (1 - exp(-size/rate)), not always: a thread
 * whose countdown was never drawn would sample it with weight rate/size
 * and inflate the heap profile by that factor.
 *
 * Threads start in waves of 50, each allocates `size` bytes once in
 * site_first (kept live until the end) and ends.  Prints JSON:
 * {"site_first": {"alloc_bytes": N, "alloc_objects": N}}.
 *
 * usage: first_alloc [threads] [size]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t size = 32;
static void **kept;
static volatile unsigned char sink;

__attribute__((noinline)) void *site_first(size_t n)
{
	unsigned char *p = malloc(n);
	p[0] = 1;
	sink += p[0];
	return p;
}

static void *thread_main(void *arg)
{
	kept[(long)arg] = site_first(size);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	if (argc > 2)
		size = (size_t)atol(argv[2]);
	kept = calloc((size_t)n, sizeof(void *));
	for (int i = 0; i < n; i += 50) {
		pthread_t th[50];
		int k, m = n - i < 50 ? n - i : 50;
		for (k = 0; k < m; k++)
			if (pthread_create(&th[k], NULL, thread_main, (void *)(long)(i + k)) != 0)
				return 2;
		for (k = 0; k < m; k++)
			pthread_join(th[k], NULL);
	}
	printf("{\"site_first\": {\"alloc_bytes\": %llu, \"alloc_objects\": %d}}\n",
	       (unsigned long long)n * size, n);
	for (int i = 0; i < n; i++)
		free(kept[i]);
	free(kept);
	return 0;
}
