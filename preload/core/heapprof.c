/*
 * heapprof.c - heap buckets and the live set (see heapprof.h).
 *
 * Invariants:
 *  - A shard's array word (address and capacity together) and the array's
 *    contents change only with the shard's lock held and its seq odd.
 *    Readers load the word once (the mask travels in it) and trust a miss
 *    only if seq was even and unchanged around the probe.
 *  - Shard arrays are at most half full, so a probe always ends at an empty
 *    slot; readers still bound the probe by the capacity, since a torn
 *    view may be full.
 *  - Bucket sums only grow; each of a bucket's freed sums is at most its
 *    allocated one when the freed sums are read first (heap_read).
 *  - A filter word and its counts change only under the lock of the shard
 *    that owns the word (heapprof.h, heap_shard_of_ptr), inside the same
 *    write section as the shard's table.
 *  - Lock order: no lock is taken while a shard lock is held, and a
 *    bucket table's lock is taken without one (heap_record_alloc interns
 *    the bucket before inserting), one table's at a time (the thread's
 *    own), so there is no cycle.  peak_lock is taken
 *    with no other heap lock held (after the live-set insert), and under
 *    dump_lock by the dump; only pages_alloc/pages_free (no lock) and
 *    the dump's callback (arena) run under it.
 *  - A bucket id is (number in its table << HEAP_TABLE_BITS) | table;
 *    numbers run from 1, so no id is 0.  A census (heap_census_take)
 *    numbers the buckets that exist when it is taken densely, table
 *    after table: the peak copy and delta snapshots are arrays by it.
 *  - in_use == sum over buckets of (alloc.space - freed.space), up to the
 *    updates in flight: every sample's add to alloc is followed by an add
 *    of its byte weight, every free's add to freed by a subtraction
 *    (heap_forget).
 *  - peak.v, peak.c, peak.bytes and peak.real_ns change only under
 *    peak_lock; so do peak_next and peak_fall, set together from the
 *    level of the copy, so they only grow and each copy is at a level
 *    at least 1/64 above the previous one.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "heapprof.h"
#include "arena.h"
#include "intern.h"
#include "labels.h"
#include "sampler.h"
#include "stacktab.h"
#include "unwind.h"

struct heap_shard heap_shards[HEAP_SHARDS];
uint64_t heap_filter[(1u << HEAP_FILTER_ALL_BITS) / 64];
static uint16_t filter_count[1u << HEAP_FILTER_ALL_BITS] __attribute__((aligned(CPROF_CACHELINE)));

/* Caller holds the lock of the shard owning key's filter word. */
static void filter_add(uintptr_t key)
{
	uint32_t i = heap_filter_index(key);
	if (filter_count[i] != UINT16_MAX && filter_count[i]++ == 0)
		__atomic_store_n(&heap_filter[i >> 6], heap_filter[i >> 6] | (1ULL << (i & 63)),
				 __ATOMIC_RELEASE);
}

/* Caller holds the lock of the shard owning key's filter word. */
static void filter_remove(uintptr_t key)
{
	uint32_t i = heap_filter_index(key);
	if (filter_count[i] != UINT16_MAX && filter_count[i] && --filter_count[i] == 0)
		__atomic_store_n(&heap_filter[i >> 6], heap_filter[i >> 6] & ~(1ULL << (i & 63)),
				 __ATOMIC_RELEASE);
}

void heap_filter_mark(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, end = a + (n ? n : 1);
	for (; a < end + ((uintptr_t)1 << HEAP_FILTER_GRAIN); a += (uintptr_t)1 << HEAP_FILTER_GRAIN) {
		struct heap_shard *s = heap_shard_of_ptr(a);
		uint32_t i = heap_filter_index(a);
		spin_lock(&s->lock);
		filter_count[i] = UINT16_MAX; /* saturated: never cleared */
		__atomic_store_n(&heap_filter[i >> 6], heap_filter[i >> 6] | (1ULL << (i & 63)),
				 __ATOMIC_RELEASE);
		spin_unlock(&s->lock);
	}
}

/* heap_live_t (heapprof.h): a sample's bucket and size, and back. */
static inline heap_live_t live_entry(uint32_t bucket, uint64_t size)
{
	return (heap_live_t)(size < UINT32_MAX ? size : UINT32_MAX) << 32 | bucket;
}

static inline uint32_t live_bucket(heap_live_t e)
{
	return (uint32_t)e;
}

/* The size of entry e of bucket `class`: kept in the entry below
 * UINT32_MAX, the bucket's class (exact there) from it on. */
static inline uint64_t live_size(heap_live_t e, uint64_t class)
{
	return e >> 32 == UINT32_MAX ? class : e >> 32;
}

/* A key and its entry share a slot, so a sample's insert and a sampled
 * free's removal each touch one line of the array, not two. */
struct live_slot {
	uintptr_t key; /* 0: empty */
	heap_live_t val;
};

/* A shard's array as its word (heap_shard.arr) gives it: the slots'
 * address, page-aligned, with log2 of their number in the low bits, so
 * a probe reads the mask from the word it loaded and no header line. */
struct live_view {
	struct live_slot *s; /* NULL: no array yet */
	uint32_t mask;
};

static inline struct live_view view_of(uintptr_t v)
{
	return (struct live_view){cprof_sized_addr(v), cprof_sized_mask(v)};
}

#define LIVE_INITIAL 256

/* ---- buckets ------------------------------------------------------------- */

/* struct heap_counts, added to atomically */
struct sums {
	atomic_ullong samples, bytes, objects, space;
};

struct bucket {
	uint32_t stack;
	uint32_t labels;        /* the allocating thread's label set (labels.h) */
	uint64_t class;         /* heap_size_class() of its samples' sizes */
	struct sums alloc;
	struct sums freed;
};

/* One sample of `size` bytes more in s. */
static inline void sums_add(struct sums *s, uint64_t size, struct sampler_weight w)
{
	atomic_fetch_add_explicit(&s->samples, 1, memory_order_release);
	atomic_fetch_add_explicit(&s->bytes, size, memory_order_release);
	atomic_fetch_add_explicit(&s->objects, w.objects, memory_order_release);
	atomic_fetch_add_explicit(&s->space, w.space, memory_order_release);
}

static inline void sums_read(const struct sums *s, struct heap_counts *c)
{
	c->samples = atomic_load_explicit(&s->samples, memory_order_acquire);
	c->bytes = atomic_load_explicit(&s->bytes, memory_order_acquire);
	c->objects = atomic_load_explicit(&s->objects, memory_order_acquire);
	c->space = atomic_load_explicit(&s->space, memory_order_acquire);
}

/* A bucket's sums, the freed first (see the invariants). */
static inline void heap_read(const struct bucket *b, struct heap_counts *alloc,
			     struct heap_counts *freed)
{
	sums_read(&b->freed, freed);
	sums_read(&b->alloc, alloc);
}

#define BMAX (1u << 22) /* buckets per table */

/* The bucket tables (heapprof.h, "Bucket tables").  struct intern is
 * line-aligned, so each table's lock has a line of its own, then come
 * the index and segment words a lookup reads, then the count on its own
 * line. */
static struct bucket_table {
	spinlock_t lock;        /* serialises this table's inserts */
	struct intern t;        /* records: struct bucket */
} tables[HEAP_TABLES];
CPROF_LOCK_ARRAY(heap_buckets, LOCK_RANK_HEAP_BUCKETS, tables, lock);
CPROF_LOCK_ARRAY(heap_shards, LOCK_RANK_HEAP_SHARDS, heap_shards, lock);
/* Read-mostly: the rate the weights come from, and the next table a
 * thread is given (written once per thread that samples). */
static uint64_t bucket_rate;
static atomic_uint next_table;

static inline uint32_t bucket_id(unsigned table, uint32_t n)
{
	return n << HEAP_TABLE_BITS | table;
}

static inline struct bucket *bucket_get(uint32_t id)
{
	return intern_rec(&tables[id & (HEAP_TABLES - 1)].t, id >> HEAP_TABLE_BITS);
}

static uint64_t bucket_hash(uint32_t stack, uint64_t class, uint32_t labels)
{
	return cprof_hash64(((uint64_t)stack << 40) ^ class ^ (class >> 24) ^
			    ((uint64_t)labels * 0x9e3779b97f4a7c15ULL));
}

static bool bucket_eq(const void *rec, const void *key)
{
	const struct bucket *b = rec, *k = key;
	return b->stack == k->stack && b->class == k->class && b->labels == k->labels;
}

static bool bucket_fill(void *rec, const void *key)
{
	struct bucket *b = rec;
	const struct bucket *k = key;
	b->stack = k->stack;
	b->class = k->class;
	b->labels = k->labels;
	return true;
}

/* The calling thread's table: given at its first sample, in turn. */
static inline unsigned my_table(void)
{
	struct tstate *ts = &cprof_tls;
	if (unlikely(!ts->heap_table))
		ts->heap_table = (uint8_t)(atomic_fetch_add_explicit(&next_table, 1, memory_order_relaxed) %
					       HEAP_TABLES + 1);
	return ts->heap_table - 1u;
}

/* A (stack, class, labels) seen before by a thread of this table is
 * found without a lock; the table's lock only serialises its inserts. */
static uint32_t bucket_intern(uint32_t stack, uint64_t class, uint32_t labels)
{
	struct bucket k = {.stack = stack, .class = class, .labels = labels};
	uint64_t h = bucket_hash(stack, class, labels);
	unsigned ti = my_table();
	struct bucket_table *bt = &tables[ti];
	uint32_t n = intern_find(&bt->t, h, bucket_eq, &k);
	if (!n) {
		spin_lock(&bt->lock);
		/* A first index of one page: a program of many threads
		 * that make few buckets keeps 16 small tables. */
		if (!bt->t.rec_size)
			intern_setup(&bt->t, sizeof(struct bucket), BMAX, 512);
		n = intern_insert(&bt->t, h, bucket_eq, &k, bucket_fill);
		spin_unlock(&bt->lock);
	}
	return n ? bucket_id(ti, n) : 0;
}

void heap_census_take(struct heap_census *c)
{
	c->total = 0;
	for (unsigned ti = 0; ti < HEAP_TABLES; ti++) {
		c->off[ti] = c->total;
		c->n[ti] = intern_count(&tables[ti].t);
		c->total += c->n[ti];
	}
}

/* v for bucket b, number i of table ti, with the sums alloc and freed
 * (read now, or copied at the peak) and their mean size. */
static void view_of_bucket(struct heap_bucket_view *v, const struct bucket *b, unsigned ti,
			   uint32_t i, const struct heap_counts *alloc,
			   const struct heap_counts *freed)
{
	v->id = bucket_id(ti, i);
	v->stack = b->stack;
	v->labels = b->labels;
	v->alloc = *alloc;
	v->freed = *freed;
	v->size = alloc->samples ? (alloc->bytes + alloc->samples / 2) / alloc->samples : b->class;
}

void heap_foreach_bucket(heap_bucket_fn fn, void *arg)
{
	for (unsigned ti = 0; ti < HEAP_TABLES; ti++) {
		uint32_t n = intern_count(&tables[ti].t);
		for (uint32_t i = 1; i <= n; i++) {
			const struct bucket *b = intern_rec(&tables[ti].t, i);
			struct heap_counts alloc, freed;
			heap_read(b, &alloc, &freed);
			if (!alloc.samples)
				continue;
			struct heap_bucket_view v;
			view_of_bucket(&v, b, ti, i, &alloc, &freed);
			fn(&v, arg);
		}
	}
}

uint32_t heap_bucket_count(void)
{
	struct heap_census c;
	heap_census_take(&c);
	return c.total;
}

uint64_t heap_rate(void)
{
	return bucket_rate;
}

/* ---- the peak (heapprof.h, "Peak") ------------------------------------- */

/* in_use and the thresholds share a line of their own: every sample and
 * every sampled free reads it, and nothing else should move with it. */
static struct {
	atomic_llong in_use;    /* estimated bytes of the live sampled allocations */
	atomic_llong peak_next; /* a sample taking in_use above this copies */
	atomic_llong peak_fall; /* a sampled free from above this copies */
} __attribute__((aligned(CPROF_CACHELINE))) est;

static struct {
	struct heap_counts (*v)[2]; /* [census index] = {allocated, freed} at the peak */
	struct heap_census c;   /* the buckets copied; c.total 0: no peak yet */
	uint32_t cap;           /* entries v has room for */
	uint64_t bytes;         /* in_use, from the copy */
	int64_t real_ns;        /* when it was copied */
} peak;
static spinlock_t peak_lock;
CPROF_LOCK_CLASS(heap_peak, LOCK_RANK_HEAP_PEAK, peak_lock);

/* Margins (heapprof.h, "Peak"): a sample copies at 1/16 above the last
 * copy, the first sampled free from 1/64 above it. */
#define PEAK_GROW_SHIFT 4
#define PEAK_FALL_SHIFT 6

/* level: in_use as the caller saw it; fall: called by a free. */
static CPROF_COLD void peak_record(int64_t level, bool fall)
{
	spin_lock(&peak_lock);
	int64_t threshold = atomic_load_explicit(fall ? &est.peak_fall : &est.peak_next,
						 memory_order_relaxed);
	if (level <= threshold)
		goto out; /* another thread copied meanwhile */
	struct heap_census c;
	heap_census_take(&c);
	uint32_t n = c.total;
	if ((uint64_t)n + 1 > peak.cap) {
		uint64_t cap = peak.cap ? (uint64_t)peak.cap * 2 : 1024;
		while (cap < (uint64_t)n + 1)
			cap *= 2;
		void *v = pages_alloc(cap * sizeof(peak.v[0]));
		if (!v)
			goto out; /* out of memory: the previous peak stays */
		pages_free(peak.v, (size_t)peak.cap * sizeof(peak.v[0]));
		peak.v = v;
		peak.cap = (uint32_t)cap;
	}
	uint64_t bytes = 0;
	for (unsigned ti = 0; ti < HEAP_TABLES; ti++) {
		for (uint32_t i = 1; i <= c.n[ti]; i++) {
			struct heap_counts *at = peak.v[c.off[ti] + i];
			heap_read(intern_rec(&tables[ti].t, i), &at[0], &at[1]);
			if (at[0].space > at[1].space)
				bytes += at[0].space - at[1].space;
		}
	}
	peak.c = c;
	peak.bytes = bytes;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	peak.real_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	atomic_store_explicit(&est.peak_next, level + (level >> PEAK_GROW_SHIFT), memory_order_relaxed);
	atomic_store_explicit(&est.peak_fall, level + (level >> PEAK_FALL_SHIFT), memory_order_relaxed);
out:
	spin_unlock(&peak_lock);
}

static inline void in_use_add(int64_t w)
{
	int64_t cur = atomic_fetch_add_explicit(&est.in_use, w, memory_order_relaxed) + w;
	if (unlikely(cur > atomic_load_explicit(&est.peak_next, memory_order_relaxed)))
		peak_record(cur, false);
}

/* A sampled free: the heap was at `before` until now.  The first such
 * fall from a level 1/64 above the last copy is a local maximum worth
 * keeping (a heap that grows, then shrinks, peaks right there). */
static inline void in_use_sub(int64_t w)
{
	int64_t before = atomic_fetch_sub_explicit(&est.in_use, w, memory_order_relaxed);
	if (unlikely(before > atomic_load_explicit(&est.peak_fall, memory_order_relaxed)))
		peak_record(before, true);
}

bool heap_foreach_peak(heap_bucket_fn fn, void *arg, uint64_t *bytes, int64_t *real_ns)
{
	spin_lock(&peak_lock);
	uint32_t n = peak.c.total;
	for (unsigned ti = 0; ti < HEAP_TABLES; ti++) {
		for (uint32_t i = 1; i <= peak.c.n[ti]; i++) {
			const struct heap_counts *at = peak.v[peak.c.off[ti] + i];
			if (at[0].samples == at[1].samples)
				continue;
			struct heap_bucket_view v;
			view_of_bucket(&v, intern_rec(&tables[ti].t, i), ti, i, &at[0], &at[1]);
			fn(&v, arg);
		}
	}
	if (bytes)
		*bytes = peak.bytes;
	if (real_ns)
		*real_ns = peak.real_ns;
	spin_unlock(&peak_lock);
	return n > 0;
}

bool heap_peak_recorded(void)
{
	spin_lock(&peak_lock);
	bool any = peak.c.total > 0;
	spin_unlock(&peak_lock);
	return any;
}

int64_t heap_inuse_estimate(void)
{
	return atomic_load_explicit(&est.in_use, memory_order_relaxed);
}

/* ---- live set ---------------------------------------------------------- */

/* cap slots (a power of two), as a tagged word; 0 if memory ran out. */
static uintptr_t arr_new(uint32_t cap)
{
	struct live_slot *a = pages_alloc_populated((size_t)cap * sizeof(struct live_slot));
	return a ? cprof_sized_make(a, cap) : 0;
}

static void write_begin(struct heap_shard *s)
{
	spin_lock(&s->lock);
	atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void write_end(struct heap_shard *s)
{
	atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
			      memory_order_release);
	spin_unlock(&s->lock);
}

static inline uint32_t slot_of(uintptr_t key, uint32_t mask)
{
	return (uint32_t)(heap_ptr_hash(key) >> 22) & mask;
}

static void arr_put(struct live_view a, uintptr_t key, heap_live_t val)
{
	uint32_t i = slot_of(key, a.mask);
	while (a.s[i].key)
		i = (i + 1) & a.mask;
	a.s[i].val = val;
	__atomic_store_n(&a.s[i].key, key, __ATOMIC_RELAXED);
}

/* Returns the slot of key, or -1. Writer side (lock held). */
static int64_t arr_find(struct live_view a, uintptr_t key)
{
	if (!a.s)
		return -1;
	for (uint32_t i = slot_of(key, a.mask), n = 0; n <= a.mask; i = (i + 1) & a.mask, n++) {
		uintptr_t k = a.s[i].key;
		if (k == key)
			return i;
		if (!k)
			return -1;
	}
	return -1;
}

/* Backward-shift deletion: keeps probe sequences gap-free, no tombstones. */
static void arr_delete_at(struct live_view a, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & a.mask;
		uintptr_t k = a.s[j].key;
		if (!k)
			break;
		uint32_t ideal = slot_of(k, a.mask);
		/* Move k back to i unless its ideal slot lies cyclically in (i, j]. */
		bool stays = (i <= j) ? (ideal > i && ideal <= j) : (ideal > i || ideal <= j);
		if (stays)
			continue;
		a.s[i].val = a.s[j].val;
		__atomic_store_n(&a.s[i].key, k, __ATOMIC_RELAXED);
		i = j;
	}
	__atomic_store_n(&a.s[i].key, 0, __ATOMIC_RELAXED);
}

bool heap_lookup_slow(struct heap_shard *s, uintptr_t key)
{
	for (;;) {
		unsigned s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1) {
			__builtin_ia32_pause();
			continue;
		}
		bool found = false;
		struct live_view a = view_of(atomic_load_explicit(&s->arr, memory_order_acquire));
		if (a.s) {
			uint32_t mask = a.mask;
			for (uint32_t i = slot_of(key, mask), n = 0; n <= mask; i = (i + 1) & mask, n++) {
				uintptr_t k = __atomic_load_n(&a.s[i].key, __ATOMIC_RELAXED);
				if (k == key) {
					found = true;
					break;
				}
				if (!k)
					break;
			}
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) == s1)
			return found;
	}
}

static struct live_view shard_arr(struct heap_shard *s)
{
	return view_of(atomic_load_explicit(&s->arr, memory_order_relaxed));
}

/* Insert or replace; *stale gets the entry a stale one for key held (0
 * if none).  Returns false if memory ran out (entry not recorded). */
static bool live_insert(uintptr_t key, heap_live_t val, heap_live_t *stale)
{
	struct heap_shard *s = heap_shard_of_ptr(key);
	bool ok = true;

	*stale = 0;
	write_begin(s);
	struct live_view a = shard_arr(s);
	int64_t at = arr_find(a, key);
	if (at >= 0) {
		/* The allocator handed out an address we still thought live: its
		 * free bypassed cprof (e.g. __libc_free).  Count that free now. */
		*stale = a.s[at].val;
		a.s[at].val = val;
		goto out;
	}
	unsigned live = atomic_load_explicit(&s->live, memory_order_relaxed);
	if (!a.s || (uint64_t)(live + 1) * 2 > (uint64_t)a.mask + 1) {
		uint32_t cap = a.s ? (a.mask + 1) * 2 : LIVE_INITIAL;
		uintptr_t nv = arr_new(cap);
		if (!nv) {
			ok = false;
			goto out;
		}
		struct live_view n = view_of(nv);
		if (a.s)
			for (uint32_t i = 0; i <= a.mask; i++)
				if (a.s[i].key)
					arr_put(n, a.s[i].key, a.s[i].val);
		atomic_store_explicit(&s->arr, nv, memory_order_release);
		a = n;
	}
	filter_add(key); /* before the key is findable: see heapprof.h */
	arr_put(a, key, val);
	atomic_store_explicit(&s->live, live + 1, memory_order_relaxed);
out:
	write_end(s);
	return ok;
}

heap_live_t heap_take(void *p)
{
	struct heap_shard *s = heap_shard_of_ptr((uintptr_t)p);
	heap_live_t val = 0;

	if (atomic_load_explicit(&s->live, memory_order_relaxed) == 0)
		return 0;
	write_begin(s);
	struct live_view a = shard_arr(s);
	int64_t at = arr_find(a, (uintptr_t)p);
	if (at >= 0) {
		val = a.s[at].val;
		arr_delete_at(a, (uint32_t)at);
		atomic_store_explicit(&s->live, atomic_load_explicit(&s->live, memory_order_relaxed) - 1,
				      memory_order_relaxed);
		filter_remove((uintptr_t)p);
	}
	write_end(s);
	return val;
}

void heap_forget(heap_live_t e)
{
	uint32_t id = live_bucket(e);
	if (!id)
		return;
	struct bucket *b = bucket_get(id);
	uint64_t size = live_size(e, b->class);
	struct sampler_weight w = sampler_weigh(size, bucket_rate);
	sums_add(&b->freed, size, w);
	in_use_sub((int64_t)w.space);
}

/* Back in the live set; if that fails, counted freed (it cannot be
 * tracked any more). */
static void live_keep(void *p, heap_live_t e)
{
	heap_live_t stale;
	if (live_insert((uintptr_t)p, e, &stale))
		heap_forget(stale);
	else
		heap_forget(e);
}

void heap_restore(void *p, heap_live_t e)
{
	if (e)
		live_keep(p, e);
}

void heap_record_alloc(void *p, size_t size)
{
	uintptr_t pcs[CPROF_MAX_DEPTH];
	unsigned n = unwind_here(pcs, CPROF_MAX_DEPTH);
	uint32_t stack = n ? stacktab_intern(pcs, n, 0) : stacktab_synthetic(CPROF_PC_NO_STACK);
	uint32_t b = stack ? bucket_intern(stack, heap_size_class(size), labels_for_sample()) : 0;
	if (!b)
		return;
	struct sampler_weight w = sampler_weigh(size, bucket_rate);
	sums_add(&bucket_get(b)->alloc, size, w);
	live_keep(p, live_entry(b, size));
	/* After the insert (a copy then sees this sample as live), with no
	 * lock held (peak_lock's rank). */
	in_use_add((int64_t)w.space);
}

uint64_t heap_live_count(void)
{
	uint64_t n = 0;
	for (int i = 0; i < HEAP_SHARDS; i++)
		n += atomic_load_explicit(&heap_shards[i].live, memory_order_relaxed);
	return n;
}

int heap_init(uint64_t r)
{
	bucket_rate = r;
	return 0;
}



