/*
 * real.h - the next definition of every symbol cprof interposes.
 *
 * DESIGN
 * `real` holds, for each interposed function, the definition that follows
 * libcprof in the dynamic linker's search order (dlsym(RTLD_NEXT)): glibc,
 * or jemalloc/tcmalloc when the program links or preloads one.  glibc's
 * condition variables are looked up by version (GLIBC_2.3.2), because plain
 * dlsym returns the old LinuxThreads-compatible ones.
 *
 * Bootstrap: the first call to any hook (often from another library's
 * constructor, before cprof's own constructor) resolves the whole table
 * once.  dlsym itself calls calloc/malloc; while this thread is resolving,
 * the malloc hooks serve those calls from a small static pool (bootpool),
 * whose blocks free() recognises by address and ignores.  Other threads
 * arriving during resolution wait for it to finish (it never waits for
 * them).
 *
 * Never interposed, on purpose: dlopen and dlsym (glibc picks the search
 * path, $ORIGIN and RTLD_NEXT from the caller's address, which a wrapper
 * would change).
 */
#ifndef CPROF_REAL_H
#define CPROF_REAL_H

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <link.h>
#include <poll.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "common.h"

struct real_fns {
	/* malloc family */
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	/* jemalloc's non-standard API, NULL unless the allocator has it */
	void *(*mallocx)(size_t, int);
	void *(*rallocx)(void *, size_t, int);
	size_t (*xallocx)(void *, size_t, size_t, int);
	void (*sdallocx)(void *, size_t, int);
	void (*dallocx)(void *, int);
	/* threads */
	int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	int (*pthread_setname_np)(pthread_t, const char *);
	/* mutexes */
	int (*pthread_mutex_lock)(pthread_mutex_t *);
	int (*pthread_mutex_trylock)(pthread_mutex_t *);
	int (*pthread_mutex_timedlock)(pthread_mutex_t *, const struct timespec *);
	int (*pthread_mutex_clocklock)(pthread_mutex_t *, clockid_t, const struct timespec *);
	int (*pthread_mutex_unlock)(pthread_mutex_t *);
	/* rwlocks */
	int (*pthread_rwlock_rdlock)(pthread_rwlock_t *);
	int (*pthread_rwlock_tryrdlock)(pthread_rwlock_t *);
	int (*pthread_rwlock_timedrdlock)(pthread_rwlock_t *, const struct timespec *);
	int (*pthread_rwlock_clockrdlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	int (*pthread_rwlock_wrlock)(pthread_rwlock_t *);
	int (*pthread_rwlock_trywrlock)(pthread_rwlock_t *);
	int (*pthread_rwlock_timedwrlock)(pthread_rwlock_t *, const struct timespec *);
	int (*pthread_rwlock_clockwrlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
	int (*pthread_rwlock_unlock)(pthread_rwlock_t *);
	/* condition variables (GLIBC_2.3.2 versions) */
	int (*pthread_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*pthread_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*pthread_cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
	/* semaphores */
	int (*sem_wait)(sem_t *);
	int (*sem_timedwait)(sem_t *, const struct timespec *);
	int (*sem_clockwait)(sem_t *, clockid_t, const struct timespec *);
	/* joins, barriers, spinlocks */
	int (*pthread_join)(pthread_t, void **);
	int (*pthread_timedjoin_np)(pthread_t, void **, const struct timespec *);
	int (*pthread_clockjoin_np)(pthread_t, void **, clockid_t, const struct timespec *);
	int (*pthread_barrier_wait)(pthread_barrier_t *);
	int (*pthread_spin_lock)(pthread_spinlock_t *);
	int (*pthread_spin_trylock)(pthread_spinlock_t *);
	/* process lifecycle and signals */
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	sighandler_t (*signal)(int, sighandler_t);
	int (*pthread_sigmask)(int, const sigset_t *, sigset_t *);
	int (*sigprocmask)(int, const sigset_t *, sigset_t *);
	int (*sigtimedwait)(const sigset_t *, siginfo_t *, const struct timespec *);
	int (*dl_iterate_phdr)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
	int (*dlclose)(void *);
	/* blocking calls (waits.c): forwarded, their frame published */
	unsigned (*sleep)(unsigned);
	int (*usleep)(useconds_t);
	int (*nanosleep)(const struct timespec *, struct timespec *);
	int (*clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
	int (*pause)(void);
	int (*sigsuspend)(const sigset_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	pid_t (*wait)(int *);
	pid_t (*waitpid)(pid_t, int *, int);
	pid_t (*wait4)(pid_t, int *, int, struct rusage *);
	int (*waitid)(idtype_t, id_t, siginfo_t *, int);
	ssize_t (*msgrcv)(int, void *, size_t, long, int);
	/* their _FORTIFY_SOURCE forms */
	ssize_t (*__read_chk)(int, void *, size_t, size_t);
	ssize_t (*__recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*__recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
	int (*__poll_chk)(struct pollfd *, nfds_t, int, size_t);
	int (*__ppoll_chk)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);
	/* futexes used directly (Rust's locks) */
	long (*syscall)(long, ...);
};

extern struct real_fns real __attribute__((visibility("hidden")));

/* The next allocator is not glibc's (jemalloc, tcmalloc): calls into it
 * are bracketed by tstate.in_alloc so the lock hooks leave its internal
 * locking alone. */
extern bool alloc_foreign __attribute__((visibility("hidden")));

/* The real malloc and free when the fast paths may jump straight to them
 * (resolved, and glibc's); NULL otherwise.  One load and one test instead
 * of two on the hottest paths. */
extern void *(*fast_malloc)(size_t) __attribute__((visibility("hidden")));
extern void (*fast_free)(void *) __attribute__((visibility("hidden")));

/* Bind every empty non-allocator entry to glibc's definition, without
 * dlsym (libc_syms.c). */
void real_bind_glibc(void);

/* The real function behind a hook other than the allocator's: bound on
 * first use if needed.  Never NULL on glibc. */
#define REAL(fn) (likely(real.fn != NULL) ? real.fn : (real_bind_glibc(), real.fn))

/* Resolve the table if needed.  Returns false only when called re-entrantly
 * from inside the resolution on this thread (dlsym's own allocations): the
 * caller must then use the boot pool. */
bool real_resolve(void);

CPROF_INLINE bool real_ready(void)
{
	extern int real_state;
	return __atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 2;
}

#endif
