/*
 * libearlynew.so - a C++ library whose constructor allocates (operator new
 * and malloc) and starts a thread that allocates, all before cprof's
 * constructor has run.  The thread then waits for early_new_go and makes
 * a known set of allocations in early_new_site (operator new), which the
 * heap profile must count exactly at CPROF_HEAP_RATE=1 (early_heap.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern "C" {
volatile int early_new_go;
volatile int early_new_done;
int early_new_count = 500;
size_t early_new_size = 200;
}

static char *before[4];
static char **kept;
static volatile unsigned char sink;

extern "C" __attribute__((noinline)) char *early_new_site(size_t n)
{
	char *p = new char[n];
	p[0] = 1;
	sink += p[0];
	return p;
}

static void *early_allocator(void *)
{
	before[2] = new char[64]; /* before cprof's constructor, most likely */
	while (!__atomic_load_n(&early_new_go, __ATOMIC_ACQUIRE))
		usleep(1000);
	for (int i = 0; i < early_new_count; i++)
		kept[i] = early_new_site(early_new_size);
	__atomic_store_n(&early_new_done, 1, __ATOMIC_RELEASE);
	return nullptr;
}

__attribute__((constructor)) static void early_new_init()
{
	before[0] = new char[48];
	before[1] = (char *)malloc(1000);
	memset(before[1], 0, 1000);
	kept = new char *[early_new_count];
	pthread_t th;
	pthread_create(&th, nullptr, early_allocator, nullptr);
	pthread_detach(th);
	/* Wait for the thread's first allocation, so both threads have
	 * allocated before cprof starts. */
	while (!__atomic_load_n(&before[2], __ATOMIC_ACQUIRE))
		usleep(100);
}
