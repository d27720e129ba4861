/*
 * early_heap - linked with libearlynew.so, whose constructor allocates on
 * this thread and on a thread of its own before cprof's constructor runs.
 * Once cprof runs, both threads make known allocations: main in
 * main_site (malloc), the library's thread in early_new_site (operator
 * new).  With CPROF_HEAP_RATE=1 the heap profile must count them exactly:
 * a countdown drawn before cprof started must not hide any of them.
 *
 * Prints JSON: {"main_site": {"alloc_bytes": N, "alloc_objects": N},
 * "early_new_site": {...}}.
 *
 * usage: early_heap [count] [size]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern volatile int early_new_go, early_new_done;
extern int early_new_count;
extern size_t early_new_size;
static volatile unsigned char sink;

__attribute__((noinline)) void *main_site(size_t n)
{
	unsigned char *p = malloc(n);
	p[0] = 1;
	sink += p[0];
	return p;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 1000;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 100;
	void **kept = calloc((size_t)count, sizeof(void *));
	for (int i = 0; i < count; i++)
		kept[i] = main_site(size);
	__atomic_store_n(&early_new_go, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&early_new_done, __ATOMIC_ACQUIRE))
		usleep(1000);
	printf("{\"main_site\": {\"alloc_bytes\": %zu, \"alloc_objects\": %d}, "
	       "\"early_new_site\": {\"alloc_bytes\": %zu, \"alloc_objects\": %d}}\n",
	       (size_t)count * size, count, (size_t)early_new_count * early_new_size, early_new_count);
	return 0;
}
