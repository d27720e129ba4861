/*
 * lockprof.c - contention accounting (see lockprof.h for the design).
 *
 * Invariants:
 *  - A side-table record exists for a lock exactly while n > 0 threads are
 *    registered as waiting on it.  sum = sum of the registered waiters'
 *    effective start times, where a waiter's effective start is
 *    max(its start, last), `last` being the time of the last charged
 *    release.  A release at t charges n*t - sum and sets sum = n*t,
 *    last = t.  A waiter leaving subtracts max(start, last).  This is exact:
 *    every release that happened while a waiter was registered moved its
 *    effective start to that release, and `last` is the latest of them.
 *  - Shard locks are leaves: nothing else is locked while one is held.
 *  - lockprof_filter[slot(lock)] >= the number of waiters registered on
 *    every lock of that slot: incremented before a waiter enters the side
 *    table, decremented after it left (or failed to enter).
 *  - Bucket tables (intern.h): (stack id, label set) -> (count, delay),
 *    under bucket_lock (only on
 *    recorded events).  Taken around fork.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "lockprof.h"
#include "arena.h"
#include "lock.h"
#include "intern.h"
#include "labels.h"
#include "runtime.h"
#include "sampler.h"
#include "stacktab.h"
#include "tstate.h"
#include "unwind.h"

atomic_bool lockprof_mutex_on;
atomic_bool lockprof_block_on;
atomic_int lockprof_waiters;
atomic_uint lockprof_filter[1u << LOCKPROF_FILTER_BITS];

static uint64_t mutex_fraction;
static uint64_t block_rate;

/* ---- waiter side table ------------------------------------------------------ */

#define WSHARDS 64
#define WSLOTS 256

struct wrec {
	uintptr_t lock;   /* 0 = empty */
	uint32_t n;
	int64_t sum;      /* relative to `epoch`, see below */
	int64_t last;
};

struct wshard {
	spinlock_t lock;
	struct wrec slots[WSLOTS];
} __attribute__((aligned(CPROF_CACHELINE)));

static struct wshard *wtab;
CPROF_LOCK_TABLE(lockprof_waiters, LOCK_RANK_LOCKPROF_WAITERS, wtab, struct wshard, lock, WSHARDS);

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct wshard *shard_of(uintptr_t lock)
{
	return &wtab[cprof_hash64(lock) >> 58];
}

static struct wrec *find(struct wshard *s, uintptr_t lock, bool create)
{
	uint32_t i = (uint32_t)cprof_hash64(lock ^ 0x5bd1e995) & (WSLOTS - 1);
	for (uint32_t k = 0; k < WSLOTS; k++, i = (i + 1) & (WSLOTS - 1)) {
		struct wrec *r = &s->slots[i];
		if (r->lock == lock)
			return r;
		if (r->lock == 0) {
			if (!create)
				return NULL;
			memset(r, 0, sizeof(*r));
			r->lock = lock;
			return r;
		}
	}
	return NULL; /* shard full: this lock's waits are not attributed to an unlocker */
}

/* Backward-shift removal keeps probe chains intact. */
static void remove_rec(struct wshard *s, struct wrec *r)
{
	uint32_t i = (uint32_t)(r - s->slots), j = i;
	for (;;) {
		j = (j + 1) & (WSLOTS - 1);
		struct wrec *c = &s->slots[j];
		if (!c->lock)
			break;
		uint32_t ideal = (uint32_t)cprof_hash64(c->lock ^ 0x5bd1e995) & (WSLOTS - 1);
		bool stays = (i <= j) ? (ideal > i && ideal <= j) : (ideal > i || ideal <= j);
		if (stays)
			continue;
		s->slots[i] = *c;
		i = j;
	}
	s->slots[i].lock = 0;
}

int64_t lockprof_wait_begin(const void *lock, bool track_owner)
{
	int64_t start = now_ns();
	if (track_owner && wtab && atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed)) {
		struct wshard *s = shard_of((uintptr_t)lock);
		atomic_uint *slot = &lockprof_filter[lockprof_filter_slot(lock)];
		atomic_fetch_add_explicit(slot, 1, memory_order_seq_cst); /* before the entry */
		guard_enter();
		spin_lock(&s->lock);
		struct wrec *r = find(s, (uintptr_t)lock, true);
		if (r) {
			r->n++;
			r->sum += start;
			atomic_fetch_add_explicit(&lockprof_waiters, 1, memory_order_relaxed);
		}
		spin_unlock(&s->lock);
		guard_leave();
		if (!r) {
			atomic_fetch_sub_explicit(slot, 1, memory_order_relaxed);
			return -start; /* not registered: remember not to unregister */
		}
	}
	return start;
}

static void record(int which, int64_t delay, uint64_t count_fp);

void lockprof_block_event(int64_t start)
{
	if (!atomic_load_explicit(&lockprof_block_on, memory_order_relaxed))
		return;
	int64_t wait = now_ns() - start;
	if (wait <= 0)
		wait = 1;
	uint64_t rate = block_rate;
	if (rate > 1 && (uint64_t)wait < rate) {
		/* Keep with probability wait/rate; then count rate/wait events
		 * and rate ns (Go's blocksampled/saveblockevent). */
		if (sampler_rand(&cprof_tls.rng) % rate >= (uint64_t)wait)
			return;
		record(1, (int64_t)rate, (uint64_t)((double)LOCKPROF_ONE * (double)rate / (double)wait));
		return;
	}
	record(1, wait, LOCKPROF_ONE);
}

void lockprof_wait_end(const void *lock, bool track_owner, int64_t start)
{
	bool registered = start > 0;
	if (!registered)
		start = -start;
	if (track_owner && registered && wtab) {
		struct wshard *s = shard_of((uintptr_t)lock);
		guard_enter();
		spin_lock(&s->lock);
		struct wrec *r = find(s, (uintptr_t)lock, false);
		bool was = r && r->n;
		if (was) {
			r->sum -= start > r->last ? start : r->last;
			if (--r->n == 0)
				remove_rec(s, r);
			atomic_fetch_sub_explicit(&lockprof_waiters, 1, memory_order_relaxed);
		}
		spin_unlock(&s->lock);
		guard_leave();
		if (was) /* after the entry is gone */
			atomic_fetch_sub_explicit(&lockprof_filter[lockprof_filter_slot(lock)], 1,
						  memory_order_release);
	}
	lockprof_block_event(start);
}

int64_t lockprof_release_begin(const void *lock)
{
	int64_t delay = 0;

	if (!wtab || atomic_load_explicit(&lockprof_waiters, memory_order_relaxed) == 0)
		return 0;
	struct wshard *s = shard_of((uintptr_t)lock);
	guard_enter();
	spin_lock(&s->lock);
	struct wrec *r = find(s, (uintptr_t)lock, false);
	if (r && r->n) {
		int64_t t = now_ns();
		delay = (int64_t)r->n * t - r->sum;
		r->sum = (int64_t)r->n * t;
		r->last = t;
	}
	spin_unlock(&s->lock);
	guard_leave();
	return delay > 0 ? delay : 0;
}

void lockprof_charge(int64_t delay)
{
	uint64_t frac = mutex_fraction;
	if (delay <= 0 || frac == 0)
		return;
	if (frac > 1 && sampler_rand(&cprof_tls.rng) % frac != 0)
		return;
	record(0, delay * (int64_t)frac, LOCKPROF_ONE * frac);
}

/* ---- buckets ------------------------------------------------------------------- */

struct lbucket {
	uint32_t stack;
	uint32_t labels;          /* the recording thread's label set (labels.h) */
	uint64_t count_fp;
	uint64_t delay;
};

#define LB_MAX (1u << 20)

static spinlock_t bucket_lock;
CPROF_LOCK_CLASS(lockprof_buckets, LOCK_RANK_LOCKPROF_BUCKETS, bucket_lock);
static struct intern tables[2];  /* records: struct lbucket; ids and counters under bucket_lock */

/* Key: struct lbucket's (stack, labels). */
static bool lb_eq(const void *rec, const void *key)
{
	const struct lbucket *b = rec, *k = key;
	return b->stack == k->stack && b->labels == k->labels;
}

static uint64_t lb_key_hash(uint32_t stack, uint32_t labels)
{
	return cprof_hash64(stack ^ ((uint64_t)labels << 32));
}

static bool lb_fill(void *rec, const void *key)
{
	const struct lbucket *k = key;
	((struct lbucket *)rec)->stack = k->stack;
	((struct lbucket *)rec)->labels = k->labels;
	return true;
}

static void record(int which, int64_t delay, uint64_t count_fp)
{
	uintptr_t pcs[CPROF_MAX_DEPTH];
	struct intern *t = &tables[which];

	guard_enter();
	unsigned n = unwind_here(pcs, CPROF_MAX_DEPTH);
	uint32_t stack = n ? stacktab_intern(pcs, n, 0) : stacktab_synthetic(CPROF_PC_NO_STACK);
	if (stack) {
		struct lbucket k = {.stack = stack, .labels = labels_for_sample()};
		spin_lock(&bucket_lock);
		uint32_t id = intern_insert(t, lb_key_hash(stack, k.labels), lb_eq, &k, lb_fill);
		if (id) {
			struct lbucket *b = intern_rec(t, id);
			b->count_fp += count_fp;
			b->delay += (uint64_t)delay;
		}
		spin_unlock(&bucket_lock);
	}
	guard_leave();
}

void lockprof_foreach(int which, lock_bucket_fn fn, void *arg)
{
	struct intern *t = &tables[which];
	spin_lock(&bucket_lock);
	uint32_t n = intern_count(t);
	for (uint32_t id = 1; id <= n; id++) {
		const struct lbucket *b = intern_rec(t, id);
		struct lock_bucket_view v = {id, b->stack, b->labels, b->count_fp, b->delay};
		if (v.count_fp || v.delay_ns) {
			spin_unlock(&bucket_lock);
			fn(&v, arg);
			spin_lock(&bucket_lock);
		}
	}
	spin_unlock(&bucket_lock);
}

uint32_t lockprof_count(int which)
{
	return intern_count(&tables[which]);
}

int lockprof_init(void)
{
	mutex_fraction = rt.cfg.mutex_fraction;
	block_rate = rt.cfg.block_rate;
	bool mutex = (rt.profiles & PROF_MUTEX) && mutex_fraction;
	bool block = (rt.profiles & PROF_BLOCK) && block_rate;
	if (!mutex)
		rt.profiles &= ~(unsigned)PROF_MUTEX;
	if (!block)
		rt.profiles &= ~(unsigned)PROF_BLOCK;
	if (!mutex && !block)
		return 0;
	wtab = pages_alloc(sizeof(struct wshard) * WSHARDS);
	for (int k = 0; k < 2; k++)
		intern_setup(&tables[k], sizeof(struct lbucket), LB_MAX, 1024);
	if (!wtab) {
		rt.profiles &= ~(unsigned)(PROF_MUTEX | PROF_BLOCK);
		return -1;
	}
	atomic_store(&lockprof_mutex_on, mutex);
	atomic_store(&lockprof_block_on, block);
	return 0;
}



void lockprof_fork_child(void)
{
	/* Waiters registered by other threads are gone with them. */
	if (wtab)
		memset(wtab, 0, sizeof(struct wshard) * WSHARDS);
	atomic_store(&lockprof_waiters, 0);
	for (unsigned i = 0; i < (1u << LOCKPROF_FILTER_BITS); i++)
		atomic_store_explicit(&lockprof_filter[i], 0, memory_order_relaxed);
	/* The child's contention profiles start empty (the parent's events
	 * are in the parent's files). */
	for (int k = 0; k < 2; k++) {
		for (uint32_t id = 1, n = intern_count(&tables[k]); id <= n; id++) {
			struct lbucket *b = intern_rec(&tables[k], id);
			b->count_fp = 0;
			b->delay = 0;
		}
	}
}
