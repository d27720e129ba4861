/*
 * heap_layout - where the allocator puts a thread's blocks, relative to
 * its first one: with the heap profile sampling every allocation, cprof's
 * own work on the thread (unwinding, the loader's thread-local blocks for
 * the libraries cprof uses) must not move the program's blocks.
 *
 * A new thread (its own arena: glibc gives a second thread a new one)
 * makes N allocations of mixed small sizes, keeps them, and prints each
 * block's offset from the first.  Two runs with the same N print the
 * same lines when nothing else allocates in that heap.  (The main
 * thread's heap is not compared: it holds what the loader allocated to
 * load cprof's libraries at start-up.)
 *
 * usage: heap_layout [N]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long n = 200;

static void layout(const char *who)
{
	char **p = calloc((size_t)n, sizeof(*p));
	for (long i = 0; i < n; i++) {
		p[i] = malloc(16 + (size_t)(i * 37 % 480));
		p[i][0] = (char)i;
	}
	for (long i = 0; i < n; i++)
		printf("%s %ld %ld\n", who, i, (long)((intptr_t)p[i] - (intptr_t)p[0]));
	/* kept: freeing would let later runs of the loop reuse them */
}

static void *worker(void *arg)
{
	(void)arg;
	layout("thread");
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n = atol(argv[1]);
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	return 0;
}
