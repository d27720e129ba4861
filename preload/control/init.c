/*
 * init.c - start-up, fork and exit: the profiler's lifecycle.
 *
 * DESIGN
 * The constructor runs once per process image (LD_PRELOAD loads libcprof
 * into every exec'ed program).  Hooks may run before it (other libraries'
 * constructors allocate and even start threads); they then only forward,
 * and threads created that early are found by the /proc/self/task scan.
 *
 * Order of initialisation: real symbols; configuration; the decision to
 * profile at all (setuid programs, CPROF_FOLLOW_EXEC); process facts used
 * in file names; tables; unwinder; thread registry and CPU timers (the
 * scan must precede the writer thread, which must never get a timer);
 * fork handlers; the writer thread and trigger signal; the HTTP server
 * thread (CPROF_HTTP, http.c); atexit.  Only then
 * does state become RT_RUNNING and sampling start.
 *
 * Fork: prepare takes, in this order, dump_lock, the thread registry, the
 * stack table, the heap bucket and shard locks and the arena lock, then
 * closes the unwind gate (waits for in-flight unwinds), so the child never
 * inherits a cprof lock held by a thread that does not exist there.  This
 * order matches the nesting everywhere else (dump_lock before the tables,
 * tables before the arena; no unwind while holding any of them).
 *
 * Exit: the final profiles are written on whichever thread calls exit()
 * (or returns from main), as late as cprof can: after the program's and
 * its libraries' destructors, so that what the heap profile shows in use
 * is what nothing freed (docs/profiles.md, "Leaks").  exit() runs, in
 * order: the exiting thread's thread_local destructors; the handlers
 * registered with atexit/__cxa_atexit after the libraries' constructors
 * ran (the main program's C++ static destructors and the atexit handlers
 * its constructors and main registered); then _dl_fini, registered by
 * __libc_start_main once every library was initialised, which finalises
 * each object in reverse order of initialisation: those initialised after
 * libcprof (the main program's .fini_array, dlopen'ed libraries),
 * libcprof itself, then the program's shared libraries (their
 * .fini_array, and through __cxa_finalize their C++ static destructors
 * and the atexit handlers their constructors registered); last, any
 * handler registered with no object (__cxa_atexit with a NULL handle)
 * before _dl_fini was.
 * So cprof registers two handlers in its constructor:
 *  - at_exit_begin, with atexit() (libcprof's handle): runs at libcprof's
 *    turn in _dl_fini.  It withdraws the HTTP announcement and parks the
 *    HTTP server before libmicrohttpd's own destructor runs;
 *  - at_exit, with __cxa_atexit(fn, NULL, NULL): runs after _dl_fini,
 *    once every destructor has run, and writes the exit dump, then stops
 *    profiling.  Until then every free is still matched to its sample.
 * When libcprof is loaded after the start (dlopen), _dl_fini was
 * registered first and at_exit runs before it, as any handler would;
 * libcprof is never unloaded (-z nodelete), so the handler stays valid.
 * _exit, a fatal signal and exec skip both; a destructor that calls
 * _exit or dies leaves no exit dump.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "cpuprof.h"
#include "dump.h"
#include "heapprof.h"
#include "http.h"
#include "lock.h"
#include "lockprof.h"
#include "mappings.h"
#include "log.h"
#include "real.h"
#include "runtime.h"
#include "stacktab.h"
#include "targets.h"
#include "threads.h"
#include "tstate.h"
#include "unwind.h"


extern char **environ;

/* Each problem with the variables, said by the first process of a tree
 * only (cprof_warn_tree, log.h), after CPROF_QUIET is known. */
static void say_config(const struct cprof_config *c, const char *line, void *arg)
{
	(void)arg;
	log_set_quiet(c->quiet);
	cprof_warn_tree("%s", line);
}

static void load_config(void)
{
	config_load(&rt.cfg, environ, say_config, NULL);
	log_set_quiet(rt.cfg.quiet);
}

static void read_small(const char *path, char *out, size_t outlen, bool nul_to_space)
{
	long n = cprof_read_file(path, out, outlen);
	if (n > 0 && nul_to_space) {
		for (long i = 0; i < n; i++)
			if (out[i] == '\0')
				out[i] = ' ';
		while (n > 0 && out[n - 1] == ' ')
			out[--n] = '\0';
	}
}

static void process_facts(void)
{
	char exe[4096];
	struct utsname u;

	rt.pid = getpid();
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	config_exe_name(exe, rt.exe_name, sizeof(rt.exe_name));
	if (!getcwd(rt.start_dir, sizeof(rt.start_dir)))
		rt.start_dir[0] = '\0';
	if (uname(&u) == 0)
		cprof_fmt(rt.hostname, sizeof(rt.hostname), "%s", u.nodename);
	read_small("/proc/self/cmdline", rt.cmdline, sizeof(rt.cmdline), true);
}

/* ---- fork ---------------------------------------------------------------- */

static void fork_prepare(void)
{
	guard_enter();
	/* The gate first, holding no lock: a thread inside it may still take
	 * any cprof lock (unwind.h). */
	unwind_gate_close();
	lockset_fork_prepare(); /* every cprof lock, in rank order (lock.h) */
}

static void fork_parent(void)
{
	lockset_fork_parent();
	unwind_gate_open();
	guard_leave();
}

static void fork_child(void)
{
	unwind_fork_child();
	lockset_fork_child();
	lockprof_fork_child();
	threads_fork_child();
	rt.pid = getpid();
	if (rt_running()) {
		cpuprof_fork_child();
		dump_fork_child();
	}
	http_fork_child(); /* the server stays in the parent */
	cprof_tls.deferred_sig = 0; /* a signal sent to the parent stays there */
	guard_leave();
}

/* ---- exit ----------------------------------------------------------------- */

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

/* libcprof's turn in _dl_fini (see above): the libraries' destructors
 * run next; the exit dump after them. */
static void at_exit_begin(void)
{
	if (!rt_running())
		return;
	atomic_store(&rt.exiting, true); /* the HTTP server parks */
	targets_withdraw(); /* scrapers stop looking here (CPROF_HTTP_TARGETS) */
}

static void at_exit(void *arg)
{
	int expected = RT_RUNNING;
	(void)arg;
	if (getpid() != rt.pid && rt_running())
		rt.pid = getpid(); /* a vfork-like child that did not run our handlers */
	if (!rt_running())
		return;
	atomic_store(&rt.exiting, true);
	targets_withdraw();
	dump_final();
	if (!atomic_compare_exchange_strong(&rt.state, &expected, RT_STOPPED))
		return;
	dump_wake(); /* let the writer thread notice and end */
}

/* ---- the constructor --------------------------------------------------------- */

static bool should_profile(void)
{
	if (getauxval(AT_SECURE)) {
		cprof_warn("setuid/setgid or otherwise privileged program: profiling disabled");
		return false;
	}
	if (!rt.cfg.follow_exec && rt.cfg.root_pid && rt.cfg.root_pid != (long)getpid())
		return false; /* started by the profiled program: --no-follow-exec */
	/* No profiles to write: nothing to do, unless the HTTP server is to
	 * serve profiles on demand (CPU over a window, threads). */
	if (rt.cfg.profiles == 0 && !rt.cfg.http[0])
		return false;
	return true;
}

static void check_preloaded(void)
{
	/* Do the program's allocations reach cprof?  Not if cprof was loaded
	 * after start (dlopen, ctypes) or another allocator precedes it in
	 * LD_PRELOAD.  Comparing addresses is not enough (a non-PIE program's
	 * canonical PLT entry for malloc is the program's own address, yet
	 * leads to cprof), so ask: call malloc through the symbol the program
	 * sees, with this thread's countdown at zero so the hook takes its
	 * slow path, which marks the probe. */
	struct tstate *t = &cprof_tls;
	void *(*m)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
	void (*f)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
	int64_t left = t->heap_left;
	t->heap_left = 0;
	t->probe = 1;
	void *p = m ? m(16) : NULL;
	rt.preloaded = t->probe == 2;
	t->probe = 0;
	t->heap_left = left;
	if (p && f)
		f(p);
	if (!rt.preloaded && (rt.cfg.profiles & (PROF_HEAP | PROF_MUTEX | PROF_BLOCK))) {
		Dl_info info;
		const char *who = (m && dladdr((void *)m, &info) && info.dli_fname &&
				   strstr(info.dli_fname, ".so"))
					  ? info.dli_fname
					  : NULL;
		if (who) /* LD_PRELOAD's order: the same in the whole tree */
			cprof_warn_tree("the program's malloc comes from %s, not from libcprof (load libcprof.so "
				   "first in LD_PRELOAD, before any allocator); heap, mutex and block profiles "
				   "are unavailable", who);
		else
			cprof_warn("the program's allocations do not reach libcprof (it was loaded after the "
				   "program started, or the program defines malloc itself); heap, mutex and "
				   "block profiles are unavailable");
	}
}

__attribute__((constructor(101))) static void cprof_init(void)
{
	static int once;
	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		return;
	int saved = errno;
	real_resolve();
	guard_enter();
	load_config();
	log_set_quiet(rt.cfg.quiet);
	if (!should_profile()) {
		atomic_store(&rt.state, RT_STOPPED);
		goto out;
	}
	process_facts();
	mappings_remember_exe();
	check_preloaded();
	rt.profiles = rt.cfg.profiles;
	if (!rt.preloaded)
		rt.profiles &= ~(unsigned)(PROF_HEAP | PROF_MUTEX | PROF_BLOCK | PROF_THREADCREATE);
	rt.heap_rate = (rt.profiles & PROF_HEAP) ? rt.cfg.heap_rate : 0;
	if (rt.heap_rate == 0)
		rt.profiles &= ~(unsigned)PROF_HEAP;
	rt.start_ns = cprof_realtime_ns();
	if (stacktab_init() != 0 || heap_init(rt.heap_rate) != 0) {
		cprof_warn("out of memory at start-up; profiling disabled");
		atomic_store(&rt.state, RT_STOPPED);
		goto out;
	}
	lockprof_init();
	unwind_init(rt.cfg.unwind);
	threads_init();
	threads_register_self(false);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atomic_store(&rt.state, RT_RUNNING);
	if (cpuprof_init() != 0)
		rt.profiles &= ~(unsigned)PROF_CPU;
	dump_init();
	http_init();
	atexit(at_exit_begin);
	__cxa_atexit(at_exit, NULL, NULL);
out:
	log_publish_said(); /* before the program runs: see log.h */
	guard_leave();
	errno = saved;
}

/* ---- public API ------------------------------------------------------------- */

/* Write every enabled profile now; returns the number of files written.
 * For programs that want to dump at a moment of their choosing. */
CPROF_EXPORT int cprof_dump(void)
{
	return dump_all("api");
}
