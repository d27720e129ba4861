/*
 * real.c - resolving the next definitions of the interposed symbols.
 *
 * Contexts: real_resolve() runs on whichever thread first enters a hook,
 * possibly before cprof's constructor and possibly from another library's
 * constructor.  It must not depend on anything cprof initialises later.
 *
 * Invariants:
 *  - real_state goes 0 -> 1 (one thread resolving) -> 2 (done), never back.
 *  - While real_state == 1 the resolving thread has tstate.resolving set;
 *    its re-entrant malloc family calls (made by dlsym) take memory from
 *    bootpool; other threads wait.
 *  - bootpool blocks are never returned to any allocator: free() and
 *    realloc() recognise them by address.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "real.h"
#include "tstate.h"

struct real_fns real;
int real_state;

char bootpool[BOOTPOOL_SIZE] __attribute__((aligned(64)));
static size_t bootpool_used;

/* Each block has a 16-byte header holding its size. */
void *bootpool_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	for (;;) {
		size_t used = __atomic_load_n(&bootpool_used, __ATOMIC_RELAXED);
		size_t start = (used + 16 + align - 1) & ~(align - 1);
		if (start + size > BOOTPOOL_SIZE || size > BOOTPOOL_SIZE)
			return NULL;
		if (__atomic_compare_exchange_n(&bootpool_used, &used, start + size, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			*(size_t *)(bootpool + start - 16) = size;
			return bootpool + start;
		}
	}
}

size_t bootpool_size(const void *p)
{
	return *(const size_t *)((const char *)p - 16);
}

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void *next_versioned(const char *name, const char *version)
{
	void *p = dlvsym(RTLD_NEXT, name, version);
	return p ? p : dlsym(RTLD_NEXT, name);
}

#define SET(field, ptr) __atomic_store_n((void **)&real.field, (ptr), __ATOMIC_RELEASE)
#define RESOLVE(name) SET(name, next(#name))

static void resolve_all(void)
{
	/* The allocator first: every other dlsym may allocate. */
	RESOLVE(malloc);
	RESOLVE(free);
	RESOLVE(calloc);
	RESOLVE(realloc);
	RESOLVE(reallocarray);
	RESOLVE(memalign);
	RESOLVE(posix_memalign);
	RESOLVE(aligned_alloc);
	RESOLVE(valloc);
	RESOLVE(pvalloc);
	RESOLVE(malloc_usable_size);
	RESOLVE(mallocx);
	RESOLVE(rallocx);
	RESOLVE(xallocx);
	RESOLVE(sdallocx);
	RESOLVE(dallocx);

	RESOLVE(pthread_create);
	RESOLVE(pthread_setname_np);
	RESOLVE(pthread_mutex_lock);
	RESOLVE(pthread_mutex_trylock);
	RESOLVE(pthread_mutex_timedlock);
	RESOLVE(pthread_mutex_clocklock);
	RESOLVE(pthread_mutex_unlock);
	RESOLVE(pthread_rwlock_rdlock);
	RESOLVE(pthread_rwlock_tryrdlock);
	RESOLVE(pthread_rwlock_timedrdlock);
	RESOLVE(pthread_rwlock_clockrdlock);
	RESOLVE(pthread_rwlock_wrlock);
	RESOLVE(pthread_rwlock_trywrlock);
	RESOLVE(pthread_rwlock_timedwrlock);
	RESOLVE(pthread_rwlock_clockwrlock);
	RESOLVE(pthread_rwlock_unlock);
	SET(pthread_cond_wait, next_versioned("pthread_cond_wait", "GLIBC_2.3.2"));
	SET(pthread_cond_timedwait, next_versioned("pthread_cond_timedwait", "GLIBC_2.3.2"));
	SET(pthread_cond_clockwait, next_versioned("pthread_cond_clockwait", "GLIBC_2.34"));
	RESOLVE(sem_wait);
	RESOLVE(sem_timedwait);
	RESOLVE(sem_clockwait);
	RESOLVE(pthread_join);
	RESOLVE(pthread_timedjoin_np);
	RESOLVE(pthread_clockjoin_np);
	RESOLVE(pthread_barrier_wait);
	RESOLVE(pthread_spin_lock);
	RESOLVE(pthread_spin_trylock);

	RESOLVE(execve);
	RESOLVE(execv);
	RESOLVE(execvp);
	RESOLVE(execvpe);
	RESOLVE(fexecve);
	RESOLVE(sigaction);
	RESOLVE(signal);
	RESOLVE(pthread_sigmask);
	RESOLVE(sigprocmask);
	RESOLVE(sigtimedwait);
	RESOLVE(dl_iterate_phdr);
	RESOLVE(dlclose);
}

bool real_resolve(void)
{
	int state = __atomic_load_n(&real_state, __ATOMIC_ACQUIRE);
	int zero = 0;

	if (likely(state == 2))
		return true;
	if (cprof_tls.resolving)
		return false;
	if (__atomic_compare_exchange_n(&real_state, &zero, 1, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		int saved = errno;
		cprof_tls.resolving = 1;
		cprof_tls.guard++;
		resolve_all();
		cprof_tls.guard--;
		cprof_tls.resolving = 0;
		__atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
		errno = saved;
		return true;
	}
	while (__atomic_load_n(&real_state, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	return true;
}
