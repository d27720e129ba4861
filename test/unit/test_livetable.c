/*
 * Unit test: the live set of sampled pointers (preload/core/heapprof.c).
 *
 * Single-threaded: inserts, lookups, removals, growth, replacement of a
 * stale entry, and the backward-shift deletion keeping every other key
 * findable.  Multi-threaded: writers insert and remove their own keys
 * while readers hammer the lock-free lookup; a key a thread owns is always
 * found, a key it removed never is (the seqlock's whole point).
 */
#include <pthread.h>
#include <sys/mman.h>

#include "../../preload/base/arena.c"
#include "../../preload/core/intern.c"
#include "../../preload/core/heapprof.c"
#include "unit.h"

/* Insert or replace; the stale entry replaced (0 if none). */
static heap_live_t insert(uintptr_t key, heap_live_t val)
{
	heap_live_t stale = 0;
	if (!live_insert(key, val, &stale))
		return UINT64_MAX;
	return stale;
}

/* heapprof.c's sampling entry point needs these; not exercised here. */
unsigned unwind_here(uintptr_t *pcs, unsigned max) { (void)pcs; (void)max; return 0; }
uint32_t stacktab_intern(const uintptr_t *pcs, unsigned d, unsigned f) { (void)pcs; (void)d; (void)f; return 1; }
uint32_t stacktab_synthetic(uintptr_t pc) { (void)pc; return 1; }
uint32_t labels_for_sample(void) { return 0; }
CPROF_TLS struct tstate cprof_tls;

static bool lookup(uintptr_t p)
{
	return heap_maybe_live((void *)p);
}

#define NT 4
#define PER 20000
static atomic_int failures_mt;
static atomic_int stop;

static void *writer(void *arg)
{
	uintptr_t base = ((uintptr_t)arg + 1) << 40;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < PER; i++) {
			uintptr_t k = base + (uintptr_t)i * 16;
			insert(k, 7);
			if (!lookup(k))
				atomic_fetch_add(&failures_mt, 1);
		}
		for (int i = 0; i < PER; i += 2) {
			uintptr_t k = base + (uintptr_t)i * 16;
			if (heap_take((void *)k) != 7)
				atomic_fetch_add(&failures_mt, 1);
			if (lookup(k))
				atomic_fetch_add(&failures_mt, 1);
		}
		for (int i = 1; i < PER; i += 2) {
			uintptr_t k = base + (uintptr_t)i * 16;
			if (!lookup(k))
				atomic_fetch_add(&failures_mt, 1);
			heap_take((void *)k);
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!atomic_load(&stop)) {
		/* Keys nobody ever inserts: must never be found. */
		if (lookup(((uintptr_t)0x77 << 40) + (n++ % 100000) * 8))
			atomic_fetch_add(&failures_mt, 1);
	}
	return NULL;
}

/* A live array is probed by free() without a lock before the sampling
 * thread writes it: every page is backed by memory of its own from the
 * start (arena.h, pages_alloc_populated). */
static void check_array_backed(void)
{
	uint32_t cap = 1u << 14;
	struct live_view v = view_of(arr_new(cap));
	struct live_slot *a = v.s;
	CHECK(a != NULL);
	CHECK_EQ(v.mask, cap - 1);
	if (!a)
		return;
	size_t len = (size_t)cap * sizeof(struct live_slot);
	size_t npages = (len + 4095) / 4096, resident = 0;
	unsigned char vec[npages];
	CHECK_EQ(mincore(a, len, vec), 0);
	for (size_t i = 0; i < npages; i++)
		resident += vec[i] & 1;
	CHECK_EQ(resident, npages);
}

/* Two threads' heaps (glibc's: 64 MiB each, aligned to it) share no
 * filter line and no shard: the blocks a thread samples and frees are on
 * lines and shards of their own region.  Eight consecutive blocks fall
 * in eight different regions. */
static void check_regions(void)
{
	uintptr_t base = (uintptr_t)0x7f3a00000000;
	unsigned seen = 0;
	for (uintptr_t b = 0; b < 8; b++) {
		uintptr_t heap = base + (b << HEAP_REGION_SHIFT);
		seen |= 1u << (heap_filter_index(heap) >> HEAP_FILTER_BITS);
	}
	CHECK_EQ(seen, 0xff);
	uintptr_t h1 = base, h2 = base + ((uintptr_t)1 << HEAP_REGION_SHIFT);
	for (uintptr_t off = 0; off < ((uintptr_t)1 << HEAP_REGION_SHIFT); off += 4096 + 64) {
		for (uintptr_t off2 = 0; off2 < ((uintptr_t)1 << HEAP_REGION_SHIFT); off2 += 1u << 20) {
			CHECK(heap_shard_of_ptr(h1 + off) != heap_shard_of_ptr(h2 + off2));
			CHECK((heap_filter_index(h1 + off) >> 9) != (heap_filter_index(h2 + off2) >> 9)); /* 512 bits a line */
		}
		if (unit_failures)
			break;
	}
}

int main(void)
{
	check_array_backed();
	check_regions();
	heap_init(1);
	CHECK(!lookup(0x1000));
	for (uintptr_t k = 1; k <= 100000; k++)
		CHECK_EQ(insert(k * 64, k), 0);
	CHECK_EQ(heap_live_count(), 100000);
	for (uintptr_t k = 1; k <= 100000; k++)
		CHECK(lookup(k * 64));
	CHECK(!lookup(64 * 100001));
	/* Replacing a stale entry reports the old bucket. */
	CHECK_EQ(insert(64 * 5, 999), 5);
	CHECK_EQ(heap_live_count(), 100000);
	/* Remove every third; the others must stay findable (backward shift). */
	for (uintptr_t k = 3; k <= 100000; k += 3)
		CHECK_EQ(heap_take((void *)(k * 64)), k == 5 ? 999 : k);
	for (uintptr_t k = 1; k <= 100000; k++)
		CHECK_EQ(lookup(k * 64), k % 3 != 0);
	CHECK_EQ(heap_take((void *)(64 * 3)), 0);
	for (uintptr_t k = 1; k <= 100000; k++)
		heap_take((void *)(k * 64));
	CHECK_EQ(heap_live_count(), 0);

	pthread_t w[NT], r[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, NULL);
	for (long i = 0; i < NT; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	CHECK_EQ(atomic_load(&failures_mt), 0);
	CHECK_EQ(heap_live_count(), 0);
	UNIT_DONE();
}
