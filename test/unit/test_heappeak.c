/*
 * Unit test: the in-use estimate and the peak copy (preload/core/heapprof.c,
 * heapprof.h "Peak").
 *
 * With weight 1 per byte (rate 1): the estimate is the bytes of the live
 * samples; a heap that rises through one size and falls is copied within
 * 1/64 of its highest point; a lower second rise and a heap that stays
 * level make no new copy; a rise past the peak makes one.  At 512 KiB,
 * each sample's weight is s / (1 - exp(-s/R)), and a bucket of many sizes
 * of one class sums each sample's own weights.  Four threads allocating
 * and freeing their own blocks leave the estimate at zero, and the copy
 * never shows more in use than was allocated; each made its buckets in a
 * table of its own, and a census numbers all buckets 1..total.
 */
#include <math.h>
#include <pthread.h>

#include "../../preload/base/arena.c"
#include "../../preload/core/intern.c"
#include "../../preload/core/heapprof.c"
#include "unit.h"

/* One stack for everything: buckets differ by size. */
unsigned unwind_here(uintptr_t *pcs, unsigned max) { (void)pcs; (void)max; return 0; }
uint32_t stacktab_intern(const uintptr_t *pcs, unsigned d, unsigned f) { (void)pcs; (void)d; (void)f; return 1; }
uint32_t stacktab_synthetic(uintptr_t pc) { (void)pc; return 1; }
uint32_t labels_for_sample(void) { return 0; }
CPROF_TLS struct tstate cprof_tls;

struct at_peak {
	uint64_t live[4096]; /* by size */
};

static void note(const struct heap_bucket_view *v, void *arg)
{
	struct at_peak *a = arg;
	if (v->size < 4096)
		a->live[v->size] += v->alloc.samples - v->freed.samples;
}

struct tables_seen {
	unsigned churn[HEAP_TABLES];  /* buckets of sizes 100..106, by table */
	uint64_t allocs[HEAP_TABLES]; /* their samples */
	unsigned other[HEAP_TABLES];  /* other buckets */
	uint32_t buckets;
	uint64_t index_sum;
	unsigned bad_index;
};

static void note_table(const struct heap_bucket_view *v, void *arg)
{
	struct tables_seen *ts = arg;
	unsigned t = v->id & (HEAP_TABLES - 1);
	struct heap_census c;
	heap_census_take(&c);
	uint32_t i = heap_census_index(&c, v->id);
	ts->buckets++;
	ts->index_sum += i;
	if (!i || i > c.total)
		ts->bad_index++;
	if (v->size >= 100 && v->size < 107) {
		ts->churn[t]++;
		ts->allocs[t] += v->alloc.samples;
	} else {
		ts->other[t]++;
	}
}

struct one_bucket {
	uint64_t class;
	struct heap_bucket_view v;
	unsigned n;
};

static void find_class(const struct heap_bucket_view *v, void *arg)
{
	struct one_bucket *o = arg;
	if (heap_size_class(v->size) == o->class) {
		o->v = *v;
		o->n++;
	}
}

static void alloc(uintptr_t p, size_t size)
{
	heap_record_alloc((void *)p, size);
}

static void release(uintptr_t p)
{
	heap_forget(heap_take((void *)p));
}

#define NT 4
#define PER 5000

static void *churn(void *arg)
{
	uintptr_t base = ((uintptr_t)arg + 1) << 40;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < PER; i++)
			alloc(base + (uintptr_t)i * 64, 100 + (size_t)(i % 7));
		for (int i = 0; i < PER; i++)
			release(base + (uintptr_t)i * 64);
	}
	return NULL;
}

int main(void)
{
	struct at_peak a;
	uint64_t bytes;
	int64_t when, when2;

	heap_init(1);
	CHECK(!heap_peak_recorded());
	CHECK(!heap_foreach_peak(note, &a, NULL, NULL));

	/* Rise to 1000 blocks of 1000 bytes, fall to nothing. */
	for (uintptr_t i = 0; i < 1000; i++)
		alloc(0x100000 + i * 1024, 1000);
	CHECK_EQ(heap_inuse_estimate(), 1000 * 1000);
	for (uintptr_t i = 0; i < 1000; i++)
		release(0x100000 + i * 1024);
	CHECK_EQ(heap_inuse_estimate(), 0);
	memset(&a, 0, sizeof(a));
	CHECK(heap_foreach_peak(note, &a, &bytes, &when));
	/* The first free was from the highest point: the copy is right there,
	 * less that one block. */
	CHECK(a.live[1000] >= 1000 * 64 / 65 - 1 && a.live[1000] <= 1000);
	CHECK_EQ(bytes, a.live[1000] * 1000);

	/* A lower second rise (through another size), and a level heap going
	 * up and down below the peak: no new copy. */
	for (uintptr_t i = 0; i < 500; i++)
		alloc(0x100000 + i * 1024, 1500);
	for (int k = 0; k < 10000; k++) {
		release(0x100000 + (uintptr_t)(k % 500) * 1024);
		alloc(0x100000 + (uintptr_t)(k % 500) * 1024, 1500);
	}
	CHECK_EQ(heap_inuse_estimate(), 500 * 1500);
	memset(&a, 0, sizeof(a));
	CHECK(heap_foreach_peak(note, &a, NULL, &when2));
	CHECK_EQ(when2, when);
	CHECK_EQ(a.live[1500], 0);

	/* Past the peak: 1000 of 1500 bytes in all (1.5 MB) is copied while it
	 * rises (within 1/16), and exactly once more as it starts to fall. */
	for (uintptr_t i = 500; i < 1000; i++)
		alloc(0x100000 + i * 1024, 1500);
	memset(&a, 0, sizeof(a));
	CHECK(heap_foreach_peak(note, &a, &bytes, NULL));
	CHECK(a.live[1500] * 1500 >= 1500000 * 16 / 17 && a.live[1500] <= 1000);
	release(0x100000);
	memset(&a, 0, sizeof(a));
	CHECK(heap_foreach_peak(note, &a, &bytes, NULL));
	CHECK(a.live[1500] >= 1000 * 64 / 65 - 1);
	CHECK_EQ(a.live[1000], 0);
	for (uintptr_t i = 1; i < 1000; i++)
		release(0x100000 + i * 1024);
	CHECK_EQ(heap_inuse_estimate(), 0);

	/* A realloc that failed puts the block back: nothing changes. */
	alloc(0x900000, 64);
	heap_live_t b = heap_take((void *)0x900000);
	CHECK(b != 0);
	heap_restore((void *)0x900000, b);
	CHECK_EQ(heap_inuse_estimate(), 64);
	release(0x900000);
	CHECK_EQ(heap_inuse_estimate(), 0);

	/* Sampled weights at 512 KiB: s / p(s), rounded, per sample. */
	heap_init(524288);
	alloc(0xa00000, 3000);
	double w = 3000.0 / -expm1(-3000.0 / 524288.0);
	CHECK_NEAR(heap_inuse_estimate(), w, 0.5);
	release(0xa00000);
	CHECK_EQ(heap_inuse_estimate(), 0);

	/* Size classes: exact below 256 bytes, then eight between two powers
	 * of two, exact again from 2^32 - 1 on. */
	CHECK_EQ(heap_size_class(255), 255);
	CHECK_EQ(heap_size_class(256), 256);
	CHECK_EQ(heap_size_class(287), 256);
	CHECK_EQ(heap_size_class(288), 288);
	CHECK_EQ(heap_size_class(3327), 3072);
	CHECK_EQ(heap_size_class(3328), 3328);
	CHECK_EQ(heap_size_class(UINT32_MAX - 1), 0xf0000000u);
	CHECK_EQ(heap_size_class(UINT32_MAX), UINT32_MAX);

	/* The 256 sizes of one class (3072 .. 3327 bytes) share a bucket
	 * whose sums are of each sample's own weights, whatever the mix; its
	 * size is their mean; frees subtract exactly what was added. */
	uint64_t obj_fp = 0, space_w = 0, sum = 0;
	double objs = 0, space = 0;
	for (unsigned i = 0; i < 256; i++) {
		size_t s = 3072 + i;
		double p = -expm1(-(double)s / 524288.0);
		struct sampler_weight sw = sampler_weigh(s, 524288);
		alloc(0xb00000 + (uintptr_t)i * 4096, s);
		obj_fp += sw.objects;
		space_w += sw.space;
		objs += 1 / p;
		space += (double)s / p;
		sum += s;
	}
	struct one_bucket o = {.class = 3072};
	heap_foreach_bucket(find_class, &o);
	CHECK_EQ(o.n, 1);
	CHECK_EQ(o.v.alloc.samples, 256);
	CHECK_EQ(o.v.alloc.bytes, sum);
	CHECK_EQ(o.v.size, (sum + 128) / 256);
	CHECK_EQ(o.v.alloc.objects, obj_fp);
	CHECK_EQ(o.v.alloc.space, space_w);
	CHECK_NEAR((double)o.v.alloc.objects / SAMPLER_OBJ_ONE, objs, 0.01);
	CHECK_NEAR((double)o.v.alloc.space, space, 256 * 0.5);
	CHECK_EQ(heap_inuse_estimate(), (int64_t)space_w);
	for (unsigned i = 0; i < 256; i += 2)
		release(0xb00000 + (uintptr_t)i * 4096);
	o.n = 0;
	heap_foreach_bucket(find_class, &o);
	CHECK_EQ(o.v.freed.samples, 128);
	CHECK_EQ(heap_inuse_estimate(), (int64_t)(o.v.alloc.space - o.v.freed.space));
	for (unsigned i = 1; i < 256; i += 2)
		release(0xb00000 + (uintptr_t)i * 4096);
	o.n = 0;
	heap_foreach_bucket(find_class, &o);
	CHECK(!memcmp(&o.v.alloc, &o.v.freed, sizeof(o.v.alloc)));
	CHECK_EQ(heap_inuse_estimate(), 0);

	/* Past 2^32 - 1 bytes the live table keeps no size: the bucket's,
	 * exact, stands for it. */
	alloc(0xc00000, (size_t)5 << 30);
	CHECK_EQ(heap_inuse_estimate(), (int64_t)5 << 30);
	release(0xc00000);
	CHECK_EQ(heap_inuse_estimate(), 0);

	/* Threads: every block freed, the estimate back to zero; the copy
	 * never holds more live blocks of a size than were ever live. */
	pthread_t t[NT];
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(heap_inuse_estimate(), 0);
	memset(&a, 0, sizeof(a));
	CHECK(heap_foreach_peak(note, &a, NULL, NULL));
	uint64_t live = 0;
	for (int s = 100; s < 107; s++)
		live += a.live[s];
	CHECK(live <= NT * PER);

	/* Bucket tables: each churning thread made its seven buckets in a
	 * table of its own (none the main thread's), every one of its
	 * samples is in them, and a census numbers all the buckets 1..total
	 * once each. */
	struct tables_seen ts;
	memset(&ts, 0, sizeof(ts));
	heap_foreach_bucket(note_table, &ts);
	unsigned churn_tables = 0;
	for (unsigned t = 0; t < HEAP_TABLES; t++) {
		if (!ts.churn[t])
			continue;
		churn_tables++;
		CHECK_EQ(ts.churn[t], 7);
		CHECK_EQ(ts.allocs[t], 20 * PER);
		CHECK(!ts.other[t]);
	}
	CHECK_EQ(churn_tables, NT);
	struct heap_census c;
	heap_census_take(&c);
	CHECK_EQ(c.total, heap_bucket_count());
	CHECK_EQ(c.total, ts.buckets);
	CHECK_EQ(ts.index_sum, (uint64_t)c.total * (c.total + 1) / 2);
	CHECK_EQ(ts.bad_index, 0);
	UNIT_DONE();
}
