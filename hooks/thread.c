/*
 * thread.c - pthread_create and pthread_setname_np.
 *
 * pthread_create wraps the start routine: the new thread registers itself
 * (thread registry, CPU timer, stack bounds) before running the program's
 * code, and a pthread key destructor unregisters it however it ends.  The
 * creating call's stack is counted for the threadcreate profile.
 *
 * The wrapper's argument block comes from cprof's arena and is recycled
 * through a free list, never from the program's heap.  If anything fails
 * the thread is created exactly as the program asked, unwrapped.
 *
 * Contexts: any program thread, possibly before cprof's constructor (the
 * wrapper then registers the thread without a timer; the constructor's
 * scan arms it).
 */
#include <errno.h>
#include <pthread.h>

#include "arena.h"
#include "lock.h"
#include "real.h"
#include "runtime.h"
#include "stacktab.h"
#include "threads.h"
#include "tstate.h"
#include "unwind.h"

struct start {
	struct start *next;
	void *(*fn)(void *);
	void *arg;
	uint32_t created;       /* stack table id of the creating call, or 0 */
};

static spinlock_t free_lock;
CPROF_LOCK_CLASS(thread_starts, LOCK_RANK_THREAD_STARTS, free_lock);
static struct start *free_starts;

static struct start *start_get(void)
{
	spin_lock(&free_lock);
	struct start *s = free_starts;
	if (s)
		free_starts = s->next;
	spin_unlock(&free_lock);
	return s ? s : arena_alloc(sizeof(*s));
}

static void start_put(struct start *s)
{
	spin_lock(&free_lock);
	s->next = free_starts;
	free_starts = s;
	spin_unlock(&free_lock);
}

/* Named for what it is: this frame sits at the bottom of every thread the
 * program creates (the unwinder hides it from non-leaf positions). */
static void *cprof_thread_start(void *p)
{
	struct start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;
	uint32_t created = s->created;
	start_put(s);
	if (atomic_load(&rt.state) != RT_STOPPED) {
		struct thread_rec *r = threads_register_self(true);
		if (r) /* "created by" in the threads profile's text form */
			__atomic_store_n(&r->create_stack, created, __ATOMIC_RELAXED);
	}
	return fn(arg);
}

CPROF_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
				void *(*fn)(void *), void *arg)
{
	if (cprof_tls.guard || atomic_load(&rt.state) == RT_STOPPED)
		return REAL(pthread_create)(th, attr, fn, arg);
	int saved = errno;
	guard_enter();
	uint32_t created = 0;
	if (rt_running() && (rt.profiles & PROF_THREADCREATE)) {
		uintptr_t pcs[CPROF_MAX_DEPTH];
		unsigned n = unwind_here(pcs, CPROF_MAX_DEPTH);
		created = n ? stacktab_intern(pcs, n, 0) : 0;
		threads_note_create(created ? created : stacktab_synthetic(CPROF_PC_NO_STACK));
	}
	struct start *s = start_get();
	guard_leave();
	errno = saved;
	if (!s)
		return REAL(pthread_create)(th, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->created = created;
	int r = REAL(pthread_create)(th, attr, cprof_thread_start, s);
	if (r != 0)
		start_put(s);
	return r;
}

CPROF_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	int r = REAL(pthread_setname_np)(th, name);
	if (r == 0 && !cprof_tls.guard && atomic_load(&rt.state) != RT_NONE) {
		int saved = errno;
		guard_enter();
		threads_set_name(th, name);
		guard_leave();
		errno = saved;
	}
	return r;
}
