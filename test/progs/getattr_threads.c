/*
 * getattr_threads - threads whose first act is pthread_getattr_np on
 * themselves, as Rust's std does at the start of every thread it spawns
 * (to find its stack guard).  glibc holds the thread's own descriptor lock
 * there while it allocates (the affinity buffer, through calloc): a heap
 * sample taken at that allocation must not ask pthread_getattr_np again,
 * or the thread waits forever on a lock it holds.
 *
 * usage: getattr_threads [threads]
 * Prints "threads N stacks M": M of them saw a stack of non-zero size.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *body(void *arg)
{
	pthread_attr_t attr;
	void *addr = NULL;
	size_t size = 0;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &addr, &size);
		pthread_attr_destroy(&attr);
	}
	return size > 0 ? arg : NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50, ok = 0;
	for (int i = 0; i < n; i++) {
		pthread_t th;
		void *r = NULL;
		if (pthread_create(&th, NULL, body, &ok) != 0)
			return 1;
		pthread_join(th, &r);
		ok += r != NULL;
	}
	printf("threads %d stacks %d\n", n, ok);
	return 0;
}
