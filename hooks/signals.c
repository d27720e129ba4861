/*
 * signals.c - keeping cprof's two signals out of the program's way.
 *
 * cprof uses the CPU profiling signal (SIGPROF or a free real-time signal)
 * and the dump trigger (SIGUSR2 by default).  It installs them only when
 * the program had left them at their default (init), and afterwards:
 *
 *  - sigaction/signal: if the program sets its own disposition for one of
 *    them, the program wins: the dump trigger stops, or CPU profiling
 *    stops (timers deleted first, so no stray timer signal reaches the
 *    program's handler or kills it under SIG_DFL).  A handler of its own
 *    is reported at once.  A reset to SIG_DFL or SIG_IGN is not "its own
 *    handler": it is reported at the process's next dump, because the
 *    common case is a child resetting every signal just before exec (git,
 *    spawn libraries), where nothing is lost and a line would be noise.
 *    A query of one of them reports SIG_DFL, what the program would have
 *    seen without cprof.
 *
 *  - sigprocmask/pthread_sigmask: when a thread blocks the CPU signal, its
 *    timer is disarmed before the mask changes (a blocked, pending timer
 *    signal could otherwise be taken by the program's sigwait); it is
 *    re-armed after the thread unblocks it.  Masks themselves are never
 *    altered.
 *
 *  - sigwait/sigwaitinfo/sigtimedwait: a belt-and-braces check that the
 *    program never receives a signal cprof's timers generated.  The wait
 *    publishes its caller's frame for the threads profile (waitframe.h).
 *
 * Contexts: program threads, including the program's own signal handlers
 * (these wrappers only make system calls and touch the registry's
 * spinlock when the CPU signal's blocked state actually changes).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpuprof.h"
#include "dump.h"
#include "log.h"
#include "real.h"
#include "runtime.h"
#include "threads.h"
#include "tstate.h"
#include "waitframe.h"

#define TIMER_MAGIC 0x63707266

static bool ours(int sig)
{
	return sig > 0 && atomic_load(&rt.state) != RT_NONE &&
	       (sig == cpuprof_signal() || dump_signal_is(sig) || dump_term_signal_owned(sig));
}

static void fake_default(struct sigaction *old)
{
	if (!old)
		return;
	memset(old, 0, sizeof(*old));
	old->sa_handler = SIG_DFL;
	sigemptyset(&old->sa_mask);
}

CPROF_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (cprof_tls.guard || !ours(sig))
		return REAL(sigaction)(sig, act, old);
	if (!act) {
		int r = REAL(sigaction)(sig, NULL, old);
		if (r == 0)
			fake_default(old);
		return r;
	}
	/* A vfork child shares cprof's memory with its suspended parent until
	 * it execs, but has dispositions of its own: its reset (git's loop,
	 * from a vfork-based spawn) is its own business, and must not stop
	 * the parent's CPU profile or dumps. */
	if (getpid() != rt.pid) {
		int r = REAL(sigaction)(sig, act, old);
		if (r == 0)
			fake_default(old);
		return r;
	}
	/* The program takes the signal over.  (sa_handler and sa_sigaction
	 * share storage: SIG_DFL and SIG_IGN read the same through either.) */
	int saved = errno;
	enum sig_take how = act->sa_handler == SIG_DFL   ? TAKE_DEFAULT
			    : act->sa_handler == SIG_IGN ? TAKE_IGNORE
							 : TAKE_HANDLER;
	guard_enter();
	if (sig == cpuprof_signal())
		cpuprof_signal_lost(how);
	if (dump_signal_is(sig))
		dump_signal_lost(sig, how);
	dump_term_signal_lost(sig); /* the program's own SIGTERM/SIGINT handling wins, silently */
	guard_leave();
	errno = saved;
	int r = REAL(sigaction)(sig, act, old);
	if (r == 0)
		fake_default(old);
	return r;
}

CPROF_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	if (cprof_tls.guard || !ours(sig))
		return REAL(signal)(sig, handler);
	/* glibc's signal(): BSD semantics, SA_RESTART, the signal blocked in
	 * its own handler. */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* ---- masks ------------------------------------------------------------------- */

static int mask_change(int how, const sigset_t *set, sigset_t *old,
		       int (*apply)(int, const sigset_t *, sigset_t *))
{
	int cpu = cpuprof_signal();
	if (!set || !cpu || cprof_tls.guard || !cpuprof_enabled())
		return apply(how, set, old);
	bool touches = sigismember(set, cpu) == 1;
	if (!touches && how != SIG_SETMASK)
		return apply(how, set, old);
	bool will_block = (how == SIG_BLOCK && touches) || (how == SIG_SETMASK && touches);
	bool will_unblock = (how == SIG_UNBLOCK && touches) || (how == SIG_SETMASK && !touches);
	int saved = errno;
	if (will_block) {
		guard_enter();
		threads_pause_self();
		guard_leave();
		errno = saved;
	}
	int r = apply(how, set, old);
	if (r == 0 && will_unblock) {
		saved = errno;
		guard_enter();
		threads_resume_self();
		guard_leave();
		errno = saved;
	}
	return r;
}

static int apply_pthread(int how, const sigset_t *set, sigset_t *old)
{
	return REAL(pthread_sigmask)(how, set, old);
}

static int apply_proc(int how, const sigset_t *set, sigset_t *old)
{
	return REAL(sigprocmask)(how, set, old);
}

CPROF_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return mask_change(how, set, old, apply_pthread);
}

CPROF_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	return mask_change(how, set, old, apply_proc);
}

/* ---- waiting for signals ------------------------------------------------------- */

static bool from_our_timer(const siginfo_t *si, int sig)
{
	return sig == cpuprof_signal() && si->si_code == SI_TIMER &&
	       si->si_value.sival_int == TIMER_MAGIC;
}

CPROF_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	uint32_t w = WAIT_PUBLISH(REAL(sigtimedwait));
	for (;;) {
		siginfo_t si;
		int r = REAL(sigtimedwait)(set, &si, ts);
		if (r > 0 && from_our_timer(&si, r))
			continue; /* ours: swallow it (the timeout restarts, rarely) */
		if (r > 0 && info)
			*info = si;
		wait_done(w);
		return r;
	}
}

CPROF_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return sigtimedwait(set, info, NULL);
}

CPROF_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	for (;;) {
		int r = sigtimedwait(set, NULL, NULL);
		if (r > 0) {
			*sig = r;
			return 0;
		}
		if (errno != EINTR)
			return errno;
	}
}
