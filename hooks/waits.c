/*
 * waits.c - the common blocking libc calls, wrapped only to publish where
 * the calling thread waits (waitframe.h).
 *
 * DESIGN
 * The threads profile must show a thread parked in sleep, poll, epoll_wait,
 * read... without sending it a signal, which would end the call early
 * (threadstacks.h).  Each wrapper here publishes the caller's frame in the
 * thread's TLS, calls the real function and withdraws the frame: it
 * changes nothing else.  Arguments, result and errno are the real call's;
 * no allocation, no lock, no system call of cprof's own; the fast path is a
 * few thread-local stores (docs/performance.md).
 *
 * Covered: sleep, usleep, nanosleep, clock_nanosleep, pause, sigsuspend,
 * poll, ppoll, select, pselect, epoll_wait, epoll_pwait, epoll_pwait2,
 * read, readv, recv, recvfrom, recvmsg, accept, accept4, wait, waitpid,
 * wait4, waitid, msgrcv, and the _FORTIFY_SOURCE forms __read_chk,
 * __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk.  The pthread and
 * semaphore waits publish from locks.c, sigtimedwait (and through it
 * sigwaitinfo and sigwait) from signals.c.  A blocking call made inside
 * libc (fgets reaching read, system reaching waitpid) or through
 * syscall() is not seen here: the collector then reports the partial
 * stack it can learn from /proc without a signal (threadstacks.h).
 *
 * Contexts: any program thread, before cprof's constructor too (REAL binds
 * glibc's definition without dlsym), inside the program's signal
 * handlers, inside cprof's own code (guard held: straight through).
 * Cancellation and pthread_exit unwind through these frames like through
 * any C frame (asynchronous unwind tables); a frame left published that
 * way belongs to a thread that is ending.
 */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "tstate.h"
#include "waitframe.h"

/* Declared by glibc's headers only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
int __poll_chk(struct pollfd *, nfds_t, int, size_t);
int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);

/*
 * One wrapper.  The exported function is the fast path: nothing published
 * yet and the guard not held, so it publishes, calls, withdraws.
 * Everything else (the guard held, a frame already published, the real
 * function not bound yet) goes to name##_slow, tail-called, which keeps
 * the caller's return address.  `fail` is what to return, with errno
 * ENOSYS, when the C library has no such function (epoll_pwait2 before
 * glibc 2.35): the program's call would not have linked then, so this
 * never happens in practice.
 */
#define WAIT_WRAP(type, name, params, args, fail)                              \
	CPROF_COLD static type name##_slow params                               \
	{                                                                       \
		type(*f_) params = REAL(name);                                  \
		if (unlikely(!f_)) {                                            \
			errno = ENOSYS;                                         \
			return fail;                                            \
		}                                                               \
		uint32_t w_ = WAIT_PUBLISH(f_);                                 \
		type r_ = f_ args;                                              \
		wait_done(w_);                                                  \
		return r_;                                                      \
	}                                                                       \
	CPROF_EXPORT type name params                                           \
	{                                                                       \
		type(*f_) params = real.name;                                   \
		struct tstate *t_ = &cprof_tls;                                 \
		if (unlikely(!f_ || ((t_->wait_seq & 1) | t_->guard)))          \
			return name##_slow args;                                \
		wait_publish_fresh(t_, (void *)f_, __builtin_return_address(0), \
				   __builtin_frame_address(0));                 \
		type r_ = f_ args;                                              \
		wait_withdraw(t_);                                              \
		return r_;                                                      \
	}

/* ---- sleeping ------------------------------------------------------------ */

WAIT_WRAP(unsigned, sleep, (unsigned s), (s), s)
WAIT_WRAP(int, usleep, (useconds_t us), (us), -1)
WAIT_WRAP(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem), -1)
WAIT_WRAP(int, clock_nanosleep,
	  (clockid_t c, int flags, const struct timespec *req, struct timespec *rem),
	  (c, flags, req, rem), ENOSYS)
WAIT_WRAP(int, pause, (void), (), -1)
WAIT_WRAP(int, sigsuspend, (const sigset_t *mask), (mask), -1)

/* ---- waiting for descriptors ---------------------------------------------- */

WAIT_WRAP(int, poll, (struct pollfd *fds, nfds_t n, int timeout), (fds, n, timeout), -1)
WAIT_WRAP(int, ppoll,
	  (struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask),
	  (fds, n, ts, mask), -1)
WAIT_WRAP(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv),
	  (n, r, w, e, tv), -1)
WAIT_WRAP(int, pselect,
	  (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask),
	  (n, r, w, e, ts, mask), -1)
WAIT_WRAP(int, epoll_wait, (int ep, struct epoll_event *ev, int max, int timeout),
	  (ep, ev, max, timeout), -1)
WAIT_WRAP(int, epoll_pwait,
	  (int ep, struct epoll_event *ev, int max, int timeout, const sigset_t *mask),
	  (ep, ev, max, timeout, mask), -1)
WAIT_WRAP(int, epoll_pwait2,
	  (int ep, struct epoll_event *ev, int max, const struct timespec *ts, const sigset_t *mask),
	  (ep, ev, max, ts, mask), -1)

/* ---- reading and accepting -------------------------------------------------- */

WAIT_WRAP(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n), -1)
WAIT_WRAP(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n), -1)
WAIT_WRAP(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags), -1)
WAIT_WRAP(ssize_t, recvfrom,
	  (int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len),
	  (fd, buf, n, flags, from, len), -1)
WAIT_WRAP(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags), -1)
WAIT_WRAP(int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len), -1)
WAIT_WRAP(int, accept4, (int fd, struct sockaddr *addr, socklen_t *len, int flags),
	  (fd, addr, len, flags), -1)
WAIT_WRAP(ssize_t, msgrcv, (int id, void *msg, size_t n, long type, int flags),
	  (id, msg, n, type, flags), -1)

WAIT_WRAP(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen),
	  -1)
WAIT_WRAP(ssize_t, __recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags),
	  (fd, buf, n, buflen, flags), -1)
WAIT_WRAP(ssize_t, __recvfrom_chk,
	  (int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *from,
	   socklen_t *len),
	  (fd, buf, n, buflen, flags, from, len), -1)
WAIT_WRAP(int, __poll_chk, (struct pollfd *fds, nfds_t n, int timeout, size_t fdslen),
	  (fds, n, timeout, fdslen), -1)
WAIT_WRAP(int, __ppoll_chk,
	  (struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
	   size_t fdslen),
	  (fds, n, ts, mask, fdslen), -1)

/* ---- children ----------------------------------------------------------------- */

WAIT_WRAP(pid_t, wait, (int *status), (status), -1)
WAIT_WRAP(pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options), -1)
WAIT_WRAP(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *ru),
	  (pid, status, options, ru), -1)
WAIT_WRAP(int, waitid, (idtype_t type, id_t id, siginfo_t *info, int options),
	  (type, id, info, options), -1)
