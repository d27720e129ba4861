/*
 * lock.h - cprof's own locks.
 *
 * cprof never uses pthread mutexes for its own state: they would go through
 * its own pthread hooks and be profiled.  Two kinds exist:
 *
 *  - spinlock_t: for short critical sections over shared tables (a few
 *    hundred instructions at most).  Waiters spin briefly and then yield.
 *    Never taken in a signal handler.  Every spinlock that may be held while
 *    another thread forks is registered with fork_locks (see init.c) so the
 *    child never inherits one locked.
 *
 *  - cprof_mutex_t: a futex-based mutex for long sections (a dump).  Waiters
 *    sleep in the kernel.
 *
 * Both are plain words, statically initialisable with {0}.
 *
 * THE INVENTORY (lockset.c)
 * Every cprof lock belongs to a lock class declared with CPROF_LOCK_CLASS
 * next to its definition: a name, a rank and where the lock (or array of
 * locks) lives.  The declarations land in one ELF section, so the list of
 * locks is the code itself, not a list kept by hand:
 *  - fork's prepare handler takes every lock of every class in rank order
 *    (an array in index order), the parent handler releases them, the
 *    child handler re-initialises them, so a child never inherits a lock
 *    held by a thread it does not have;
 *  - except the classes declared with CPROF_MUTEX_CLASS_ABANDONED: locks
 *    held for long work by cprof's own threads only (never by a thread
 *    that forks while holding it), which fork must not wait for.  Prepare
 *    leaves them alone; in the child, one found held belonged to a thread
 *    that is gone there, so its `abandon` function (if any) drops what
 *    that thread was in the middle of, and the lock is re-initialised;
 *  - a thread may take a lock only while every lock it holds has a lower
 *    rank (or, within one array class, a lower index): the order fork uses,
 *    so no two paths can deadlock each other or fork;
 *  - a thread that waits for other threads to leave some section (the
 *    unwind gate, a stack being copied) holds no lock: one of them may
 *    need it to leave.
 * Builds with CPROF_WITNESS (the sanitizer job) check these rules on every
 * acquisition and wait, as jemalloc's witness does: a lock that belongs to
 * no class, one taken out of rank order, or one held into such a wait
 * stops the process with a message naming the locks.  Release builds pay
 * nothing.
 */
#ifndef CPROF_LOCK_H
#define CPROF_LOCK_H

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "common.h"

typedef struct {
	atomic_int v;
} spinlock_t;

/* Ranks, lowest first: the order locks are taken in (see above). */
enum cprof_lock_rank {
	LOCK_RANK_HTTP_START = 1,    /* http.c: start_lock, held while a server starts */
	LOCK_RANK_FILES,             /* dump.c: files_lock (abandoned at fork) */
	LOCK_RANK_DUMP,              /* dump.c: dump_lock (a cprof_mutex_t) */
	LOCK_RANK_SYMBOLS,           /* session.c: symbols_lock (abandoned at fork) */
	LOCK_RANK_THREADS,           /* threads.c: the thread registry */
	LOCK_RANK_STACKTAB,          /* stacktab.c: stack interning */
	LOCK_RANK_LOCKPROF_BUCKETS,  /* lockprof.c: contention buckets */
	LOCK_RANK_LOCKPROF_WAITERS,  /* lockprof.c: waiter shards (array) */
	LOCK_RANK_HEAP_BUCKETS,      /* heapprof.c: allocation buckets */
	LOCK_RANK_HEAP_SHARDS,       /* heapprof.c: live-set shards (array) */
	LOCK_RANK_HEAP_PEAK,         /* heapprof.c: the copy of the buckets at the peak */
	LOCK_RANK_THREAD_STARTS,     /* hooks/thread.c: start-block free list */
	LOCK_RANK_LABELS,            /* labels.c: label set interning */
	LOCK_RANK_ARENA,             /* arena.c: the bump allocator */
};

struct lock_class {
	const char *name;
	unsigned rank;
	bool mutex;              /* cprof_mutex_t, else spinlock_t */
	void *base;              /* the first lock, or NULL: see base_ptr */
	void *const *base_ptr;   /* for tables mapped at run time: where the
				    table's address is kept (NULL until then) */
	size_t offset;           /* of the lock in each element (base_ptr) */
	unsigned count;          /* locks in the array (1 for a single lock) */
	size_t stride;           /* bytes between them */
	void (*abandon)(void);   /* abandoned classes: run in the child when held */
	bool abandoned;          /* not taken at fork (see above) */
};

#define CPROF_LOCK_CLASS_(id, rank_, mutex_, base_, base_ptr_, offset_, count_, stride_)    \
	static const struct lock_class cprof_lock_class_##id                                 \
		__attribute__((used, section("cprof_locks"), aligned(sizeof(void *)))) = {     \
		#id, rank_, mutex_, base_, base_ptr_, offset_, count_, stride_, NULL, false}

/* One spinlock, one cprof_mutex_t, a static array of spinlocks (each a
 * member `member` of the array's elements), or a run-time table of them
 * whose address is stored in `ptr` once mapped. */
#define CPROF_LOCK_CLASS(id, rank, lock) CPROF_LOCK_CLASS_(id, rank, false, &(lock), NULL, 0, 1, 0)
#define CPROF_MUTEX_CLASS(id, rank, m) CPROF_LOCK_CLASS_(id, rank, true, &(m), NULL, 0, 1, 0)
#define CPROF_MUTEX_CLASS_ABANDONED(id, rank_, m, abandon_)                                \
	static const struct lock_class cprof_lock_class_##id                                 \
		__attribute__((used, section("cprof_locks"), aligned(sizeof(void *)))) = {     \
		#id, rank_, true, &(m), NULL, 0, 1, 0, abandon_, true}
#define CPROF_LOCK_ARRAY(id, rank, array, member)                                          \
	CPROF_LOCK_CLASS_(id, rank, false, &(array)[0].member, NULL, 0,                     \
			  sizeof(array) / sizeof((array)[0]), sizeof((array)[0]))
#define CPROF_LOCK_TABLE(id, rank, ptr, type, member, n)                                   \
	CPROF_LOCK_CLASS_(id, rank, false, NULL, (void *const *)&(ptr), offsetof(type, member), \
			  n, sizeof(type))

/* The fork handlers' part (lockset.c): take every lock in rank order,
 * release them all, re-initialise them all in the child. */
void lockset_fork_prepare(void);
void lockset_fork_parent(void);
void lockset_fork_child(void);
/* Number of classes and locks known (tests). */
unsigned lockset_classes(void);

#ifdef CPROF_WITNESS
void witness_acquire(const void *lock, bool ordered);
void witness_release(const void *lock);
/* Aborts if the calling thread holds any cprof lock: for waits on other
 * threads that may need any lock to finish (the unwind gate, unwind.h). */
void witness_holds_none(const char *what);
#define WITNESS_ACQUIRE(l, ordered) witness_acquire((l), (ordered))
#define WITNESS_RELEASE(l) witness_release(l)
#define WITNESS_HOLDS_NONE(what) witness_holds_none(what)
#else
#define WITNESS_ACQUIRE(l, ordered) ((void)0)
#define WITNESS_RELEASE(l) ((void)0)
#define WITNESS_HOLDS_NONE(what) ((void)0)
#endif

CPROF_INLINE bool spin_trylock_raw(spinlock_t *l)
{
	return atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
	       atomic_exchange_explicit(&l->v, 1, memory_order_acquire) == 0;
}

CPROF_INLINE bool spin_trylock(spinlock_t *l)
{
	if (!spin_trylock_raw(l))
		return false;
	WITNESS_ACQUIRE(l, false);
	return true;
}

CPROF_INLINE void spin_lock(spinlock_t *l)
{
	unsigned spins = 0;
	WITNESS_ACQUIRE(l, true);
	while (!spin_trylock_raw(l)) {
		if (++spins < 64)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

CPROF_INLINE void spin_unlock(spinlock_t *l)
{
	WITNESS_RELEASE(l);
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

CPROF_INLINE void spin_init(spinlock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_relaxed);
}

/* Straight into the kernel, not through syscall(), which cprof
 * interposes (hooks/futex.c): cprof's own waits and wakes, some made in
 * signal handlers, are never profiled.  Returns the kernel's result; on
 * failure -1 with errno set, as syscall() does. */
static inline long cprof_futex(atomic_int *uaddr, int op, int val,
			       const struct timespec *ts)
{
	long r;
	register long r10 __asm__("r10") = (long)ts;
	register long r8 __asm__("r8") = 0;
	register long r9 __asm__("r9") = 0;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_futex), "D"(uaddr), "S"((long)op), "d"((long)val), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Drepper's three-state futex mutex: 0 free, 1 locked, 2 locked+waiters. */
typedef struct {
	atomic_int v;
} cprof_mutex_t;

static inline void cprof_mutex_lock(cprof_mutex_t *m)
{
	int c = 0;
	WITNESS_ACQUIRE(m, true);
	if (atomic_compare_exchange_strong(&m->v, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&m->v, 2);
	while (c != 0) {
		cprof_futex(&m->v, FUTEX_WAIT_PRIVATE, 2, NULL);
		c = atomic_exchange(&m->v, 2);
	}
}

static inline bool cprof_mutex_trylock(cprof_mutex_t *m)
{
	int c = 0;
	if (!atomic_compare_exchange_strong(&m->v, &c, 1))
		return false;
	WITNESS_ACQUIRE(m, false);
	return true;
}

static inline void cprof_mutex_unlock(cprof_mutex_t *m)
{
	WITNESS_RELEASE(m);
	if (atomic_exchange(&m->v, 0) == 2)
		cprof_futex(&m->v, FUTEX_WAKE_PRIVATE, 1, NULL);
}

#endif
