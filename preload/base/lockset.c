/*
 * lockset.c - the inventory of cprof's locks: fork's part, and the witness
 * of debug builds (see lock.h for the rules).
 *
 * The inventory is the "cprof_locks" ELF section: one struct lock_class per
 * CPROF_LOCK_CLASS declaration, wherever it is in the library, between the
 * linker's __start_cprof_locks and __stop_cprof_locks.  Nothing here keeps
 * a list by hand.
 *
 * Contexts:
 *  - lockset_fork_prepare/parent: pthread_atfork handlers on the forking
 *    thread, guard held.  Prepare blocks until it holds every lock.
 *  - lockset_fork_child: the child's only thread, before anything else of
 *    cprof runs there.
 *  - witness_acquire/release (CPROF_WITNESS builds only): wherever a cprof
 *    lock is taken, including a trylock in the CPU signal handler, so they
 *    use only initial-exec TLS, no allocation, no locks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"

extern const struct lock_class __start_cprof_locks[] __attribute__((visibility("hidden")));
extern const struct lock_class __stop_cprof_locks[] __attribute__((visibility("hidden")));

enum { MAX_CLASSES = 64 };

/* The address of lock i of class c, or NULL if its table is not mapped. */
static void *lock_at(const struct lock_class *c, unsigned i)
{
	char *base = c->base;
	if (!base) {
		char *table = c->base_ptr ? __atomic_load_n((char *const *)c->base_ptr, __ATOMIC_ACQUIRE) : NULL;
		if (!table)
			return NULL;
		base = table + c->offset;
	}
	return base + (size_t)i * c->stride;
}

/* Classes in rank order, into out[]; returns how many. */
static unsigned sorted(const struct lock_class **out)
{
	unsigned n = 0;
	for (const struct lock_class *c = __start_cprof_locks; c < __stop_cprof_locks && n < MAX_CLASSES; c++) {
		unsigned j = n++;
		while (j > 0 && out[j - 1]->rank > c->rank) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = c;
	}
	return n;
}

unsigned lockset_classes(void)
{
	return (unsigned)(__stop_cprof_locks - __start_cprof_locks);
}

static void take(const struct lock_class *c, void *l)
{
	if (c->mutex)
		cprof_mutex_lock(l);
	else
		spin_lock(l);
}

static void give(const struct lock_class *c, void *l)
{
	if (c->mutex)
		cprof_mutex_unlock(l);
	else
		spin_unlock(l);
}

#ifdef CPROF_WITNESS
static void witness_fork(void);
#endif

void lockset_fork_prepare(void)
{
	const struct lock_class *cs[MAX_CLASSES];
	unsigned n = sorted(cs);
#ifdef CPROF_WITNESS
	witness_fork();
#endif
	for (unsigned k = 0; k < n; k++)
		for (unsigned i = 0; i < cs[k]->count && !cs[k]->abandoned; i++) {
			void *l = lock_at(cs[k], i);
			if (l)
				take(cs[k], l);
		}
}

void lockset_fork_parent(void)
{
	const struct lock_class *cs[MAX_CLASSES];
	unsigned n = sorted(cs);
	for (unsigned k = n; k-- > 0;)
		for (unsigned i = cs[k]->abandoned ? 0 : cs[k]->count; i-- > 0;) {
			void *l = lock_at(cs[k], i);
			if (l)
				give(cs[k], l);
		}
}

#ifdef CPROF_WITNESS
static void witness_reset(void);
#endif

void lockset_fork_child(void)
{
	/* Every lock was taken by this thread in prepare; the others that
	 * waited for them do not exist here.  Both kinds are one word.  An
	 * abandoned class's lock held now was held by a thread that is gone:
	 * its work is dropped first. */
	for (const struct lock_class *c = __start_cprof_locks; c < __stop_cprof_locks; c++)
		for (unsigned i = 0; i < c->count; i++) {
			atomic_int *w = lock_at(c, i);
			if (!w)
				continue;
			if (c->abandoned && atomic_load_explicit(w, memory_order_acquire) != 0 && c->abandon)
				c->abandon();
			atomic_store_explicit(w, 0, memory_order_release);
		}
#ifdef CPROF_WITNESS
	witness_reset();
#endif
}

/* ---- the witness (CPROF_WITNESS builds) ---------------------------------- */

#ifdef CPROF_WITNESS
/* What a thread holds, as runs of one class's consecutive indexes (fork
 * holds a whole array of locks as one run), so the record stays small:
 * it is initial-exec TLS, which a library loaded by dlopen must fit into
 * glibc's small static TLS surplus. */
enum { MAX_HELD = 16 };

struct held {
	const struct lock_class *c;
	unsigned lo, hi;
};

static __thread struct held held[MAX_HELD] __attribute__((tls_model("initial-exec")));
static __thread unsigned nheld __attribute__((tls_model("initial-exec")));

static void witness_reset(void)
{
	nheld = 0;
}

static CPROF_COLD CPROF_NOINLINE void witness_fail(const char *what, const struct lock_class *a,
						     unsigned ai, const struct lock_class *b, unsigned bi)
{
	char buf[512];
	size_t n = cprof_fmt(buf, sizeof(buf), "cprof witness: %s: %s[%u] (rank %u)", what,
			     a ? a->name : "?", ai, a ? a->rank : 0);
	if (b && n < sizeof(buf))
		n += cprof_fmt(buf + n, sizeof(buf) - n, " while holding %s[%u] (rank %u)", b->name, bi,
			       b->rank);
	if (n < sizeof(buf) - 1)
		buf[n++] = '\n';
	(void)!write(2, buf, n);
	abort();
}

static const struct lock_class *class_of(const void *lock, unsigned *index)
{
	for (const struct lock_class *c = __start_cprof_locks; c < __stop_cprof_locks; c++) {
		const char *first = lock_at(c, 0);
		if (!first)
			continue;
		const char *p = lock;
		if (p < first)
			continue;
		size_t off = (size_t)(p - first);
		size_t stride = c->stride ? c->stride : 1;
		if (off % stride == 0 && off / stride < c->count) {
			*index = (unsigned)(off / stride);
			return c;
		}
	}
	return NULL;
}

void witness_acquire(const void *lock, bool ordered)
{
	unsigned index = 0;
	const struct lock_class *c = class_of(lock, &index);
	if (!c) {
		char buf[160];
		size_t n = cprof_fmt(buf, sizeof(buf),
				     "cprof witness: lock %p belongs to no lock class (declare it with CPROF_LOCK_CLASS)\n",
				     lock);
		(void)!write(2, buf, n);
		abort();
	}
	for (unsigned k = 0; ordered && k < nheld; k++) {
		const struct held *h = &held[k];
		if (h->c->rank > c->rank || (h->c == c && h->hi >= index))
			witness_fail("lock taken out of rank order", c, index, h->c, h->hi);
	}
	if (nheld && held[nheld - 1].c == c && held[nheld - 1].hi + 1 == index) {
		held[nheld - 1].hi = index;
		return;
	}
	if (nheld >= MAX_HELD)
		witness_fail("too many locks held", c, index, NULL, 0);
	held[nheld++] = (struct held){c, index, index};
}

/* A thread forking while it holds an abandoned class's lock would give the
 * child a lock its own thread believes it holds (lock.h). */
static void witness_fork(void)
{
	for (unsigned k = 0; k < nheld; k++)
		if (held[k].c->abandoned)
			witness_fail("fork while holding a lock fork does not take", held[k].c, held[k].lo, NULL, 0);
}

void witness_holds_none(const char *what)
{
	if (nheld)
		witness_fail(what, held[0].c, held[0].lo, NULL, 0);
}

void witness_release(const void *lock)
{
	unsigned index = 0;
	const struct lock_class *c = class_of(lock, &index);
	for (unsigned k = nheld; c && k-- > 0;) {
		struct held *h = &held[k];
		if (h->c != c || index < h->lo || index > h->hi)
			continue;
		if (index == h->hi && h->lo < h->hi) {
			h->hi--;
		} else if (index == h->lo && h->lo < h->hi) {
			h->lo++;
		} else if (h->lo == h->hi) {
			memmove(h, h + 1, (nheld - k - 1) * sizeof(*h));
			nheld--;
		} else {
			/* From the middle of a run: split it. */
			if (nheld >= MAX_HELD)
				witness_fail("too many locks held", c, index, NULL, 0);
			memmove(h + 1, h, (nheld - k) * sizeof(*h));
			nheld++;
			h[0].hi = index - 1;
			h[1].lo = index + 1;
		}
		return;
	}
	witness_fail("lock released but not held", c, index, NULL, 0);
}
#endif
