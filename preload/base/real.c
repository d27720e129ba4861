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
 *    the boot pool (hooks/bootpool.h); other threads wait.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "real.h"
#include "tstate.h"

extern void *__libc_malloc(size_t);

struct real_fns real;

/*
 * Every hook but the allocator's gets glibc's definition from libc_lookup()
 * (libc_syms.c) the first time it finds its entry empty: no dlsym, so no
 * allocation, safe inside an allocator that is initialising.  Only the
 * allocation hooks (which can serve dlsym's allocations from the boot
 * pool) and the constructor call real_resolve(), which replaces these with
 * RTLD_NEXT's answers (another interposer may sit between cprof and glibc).
 */
static const struct {
	size_t off;
	const char *name, *version;
} glibc_defaults[] = {
	{offsetof(struct real_fns, pthread_create), "pthread_create", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_setname_np), "pthread_setname_np", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_mutex_lock), "pthread_mutex_lock", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, pthread_mutex_trylock), "pthread_mutex_trylock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_mutex_timedlock), "pthread_mutex_timedlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_mutex_clocklock), "pthread_mutex_clocklock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_mutex_unlock), "pthread_mutex_unlock", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, pthread_rwlock_rdlock), "pthread_rwlock_rdlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_tryrdlock), "pthread_rwlock_tryrdlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_timedrdlock), "pthread_rwlock_timedrdlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_clockrdlock), "pthread_rwlock_clockrdlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_wrlock), "pthread_rwlock_wrlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_trywrlock), "pthread_rwlock_trywrlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_timedwrlock), "pthread_rwlock_timedwrlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_clockwrlock), "pthread_rwlock_clockwrlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_rwlock_unlock), "pthread_rwlock_unlock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_cond_wait), "pthread_cond_wait", "GLIBC_2.3.2"},
	{offsetof(struct real_fns, pthread_cond_timedwait), "pthread_cond_timedwait", "GLIBC_2.3.2"},
	{offsetof(struct real_fns, pthread_cond_clockwait), "pthread_cond_clockwait", "GLIBC_2.34"},
	{offsetof(struct real_fns, sem_wait), "sem_wait", "GLIBC_2.34"},
	{offsetof(struct real_fns, sem_timedwait), "sem_timedwait", "GLIBC_2.34"},
	{offsetof(struct real_fns, sem_clockwait), "sem_clockwait", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_join), "pthread_join", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_timedjoin_np), "pthread_timedjoin_np", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_clockjoin_np), "pthread_clockjoin_np", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_barrier_wait), "pthread_barrier_wait", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_spin_lock), "pthread_spin_lock", "GLIBC_2.34"},
	{offsetof(struct real_fns, pthread_spin_trylock), "pthread_spin_trylock", "GLIBC_2.34"},
	{offsetof(struct real_fns, execve), "execve", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, execv), "execv", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, execvp), "execvp", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, execvpe), "execvpe", "GLIBC_2.11"},
	{offsetof(struct real_fns, fexecve), "fexecve", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, sigaction), "sigaction", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, signal), "signal", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, pthread_sigmask), "pthread_sigmask", "GLIBC_2.32"},
	{offsetof(struct real_fns, sigprocmask), "sigprocmask", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, sigtimedwait), "sigtimedwait", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, dl_iterate_phdr), "dl_iterate_phdr", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, dlclose), "dlclose", "GLIBC_2.34"},
	{offsetof(struct real_fns, sleep), "sleep", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, usleep), "usleep", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, nanosleep), "nanosleep", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, clock_nanosleep), "clock_nanosleep", "GLIBC_2.17"},
	{offsetof(struct real_fns, pause), "pause", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, sigsuspend), "sigsuspend", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, poll), "poll", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, ppoll), "ppoll", "GLIBC_2.4"},
	{offsetof(struct real_fns, select), "select", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, pselect), "pselect", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, epoll_wait), "epoll_wait", "GLIBC_2.3.2"},
	{offsetof(struct real_fns, epoll_pwait), "epoll_pwait", "GLIBC_2.6"},
	{offsetof(struct real_fns, epoll_pwait2), "epoll_pwait2", "GLIBC_2.35"},
	{offsetof(struct real_fns, read), "read", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, readv), "readv", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, recv), "recv", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, recvfrom), "recvfrom", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, recvmsg), "recvmsg", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, accept), "accept", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, accept4), "accept4", "GLIBC_2.10"},
	{offsetof(struct real_fns, wait), "wait", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, waitpid), "waitpid", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, wait4), "wait4", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, waitid), "waitid", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, msgrcv), "msgrcv", "GLIBC_2.2.5"},
	{offsetof(struct real_fns, __read_chk), "__read_chk", "GLIBC_2.4"},
	{offsetof(struct real_fns, __recv_chk), "__recv_chk", "GLIBC_2.4"},
	{offsetof(struct real_fns, __recvfrom_chk), "__recvfrom_chk", "GLIBC_2.4"},
	{offsetof(struct real_fns, __poll_chk), "__poll_chk", "GLIBC_2.16"},
	{offsetof(struct real_fns, __ppoll_chk), "__ppoll_chk", "GLIBC_2.16"},
	{offsetof(struct real_fns, syscall), "syscall", "GLIBC_2.2.5"},
};

void *libc_lookup(const char *name, const char *version);

void real_bind_glibc(void)
{
	for (size_t i = 0; i < sizeof(glibc_defaults) / sizeof(glibc_defaults[0]); i++) {
		void **slot = (void **)((char *)&real + glibc_defaults[i].off);
		if (__atomic_load_n(slot, __ATOMIC_ACQUIRE))
			continue;
		void *p = libc_lookup(glibc_defaults[i].name, glibc_defaults[i].version);
		if (p)
			__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
}
int real_state;
bool alloc_foreign;
void *(*fast_malloc)(size_t);
void (*fast_free)(void *);

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
/* Functions with a glibc default keep it if RTLD_NEXT finds nothing. */
#define RESOLVE_KEEP(name)                      \
	do {                                    \
		void *p_ = next(#name);         \
		if (p_)                         \
			SET(name, p_);          \
	} while (0)

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

	RESOLVE_KEEP(pthread_create);
	RESOLVE_KEEP(pthread_setname_np);
	RESOLVE_KEEP(pthread_mutex_lock);
	RESOLVE_KEEP(pthread_mutex_trylock);
	RESOLVE_KEEP(pthread_mutex_timedlock);
	RESOLVE_KEEP(pthread_mutex_clocklock);
	RESOLVE_KEEP(pthread_mutex_unlock);
	RESOLVE_KEEP(pthread_rwlock_rdlock);
	RESOLVE_KEEP(pthread_rwlock_tryrdlock);
	RESOLVE_KEEP(pthread_rwlock_timedrdlock);
	RESOLVE_KEEP(pthread_rwlock_clockrdlock);
	RESOLVE_KEEP(pthread_rwlock_wrlock);
	RESOLVE_KEEP(pthread_rwlock_trywrlock);
	RESOLVE_KEEP(pthread_rwlock_timedwrlock);
	RESOLVE_KEEP(pthread_rwlock_clockwrlock);
	RESOLVE_KEEP(pthread_rwlock_unlock);
	void *c;
	if ((c = next_versioned("pthread_cond_wait", "GLIBC_2.3.2")))
		SET(pthread_cond_wait, c);
	if ((c = next_versioned("pthread_cond_timedwait", "GLIBC_2.3.2")))
		SET(pthread_cond_timedwait, c);
	if ((c = next_versioned("pthread_cond_clockwait", "GLIBC_2.34")))
		SET(pthread_cond_clockwait, c);
	RESOLVE_KEEP(sem_wait);
	RESOLVE_KEEP(sem_timedwait);
	RESOLVE_KEEP(sem_clockwait);
	RESOLVE_KEEP(pthread_join);
	RESOLVE_KEEP(pthread_timedjoin_np);
	RESOLVE_KEEP(pthread_clockjoin_np);
	RESOLVE_KEEP(pthread_barrier_wait);
	RESOLVE_KEEP(pthread_spin_lock);
	RESOLVE_KEEP(pthread_spin_trylock);

	RESOLVE_KEEP(execve);
	RESOLVE_KEEP(execv);
	RESOLVE_KEEP(execvp);
	RESOLVE_KEEP(execvpe);
	RESOLVE_KEEP(fexecve);
	RESOLVE_KEEP(sigaction);
	RESOLVE_KEEP(signal);
	RESOLVE_KEEP(pthread_sigmask);
	RESOLVE_KEEP(sigprocmask);
	RESOLVE_KEEP(sigtimedwait);
	RESOLVE_KEEP(dl_iterate_phdr);
	RESOLVE_KEEP(dlclose);
	RESOLVE_KEEP(sleep);
	RESOLVE_KEEP(usleep);
	RESOLVE_KEEP(nanosleep);
	RESOLVE_KEEP(clock_nanosleep);
	RESOLVE_KEEP(pause);
	RESOLVE_KEEP(sigsuspend);
	RESOLVE_KEEP(poll);
	RESOLVE_KEEP(ppoll);
	RESOLVE_KEEP(select);
	RESOLVE_KEEP(pselect);
	RESOLVE_KEEP(epoll_wait);
	RESOLVE_KEEP(epoll_pwait);
	RESOLVE_KEEP(epoll_pwait2);
	RESOLVE_KEEP(read);
	RESOLVE_KEEP(readv);
	RESOLVE_KEEP(recv);
	RESOLVE_KEEP(recvfrom);
	RESOLVE_KEEP(recvmsg);
	RESOLVE_KEEP(accept);
	RESOLVE_KEEP(accept4);
	RESOLVE_KEEP(wait);
	RESOLVE_KEEP(waitpid);
	RESOLVE_KEEP(wait4);
	RESOLVE_KEEP(waitid);
	RESOLVE_KEEP(msgrcv);
	RESOLVE_KEEP(__read_chk);
	RESOLVE_KEEP(__recv_chk);
	RESOLVE_KEEP(__recvfrom_chk);
	RESOLVE_KEEP(__poll_chk);
	RESOLVE_KEEP(__ppoll_chk);
	RESOLVE_KEEP(syscall);

	/* An allocator other than glibc's may take pthread mutexes inside
	 * malloc; cprof's lock hooks must then stay out of its way. */
	alloc_foreign = real.malloc && real.malloc != __libc_malloc;
	if (!alloc_foreign && real.malloc && real.free) {
		__atomic_store_n(&fast_malloc, real.malloc, __ATOMIC_RELEASE);
		__atomic_store_n(&fast_free, real.free, __ATOMIC_RELEASE);
	}

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
