/*
 * runtime.h - process-wide state of the profiler.
 *
 * Written by the constructor (init.c) before it sets state to
 * RT_RUNNING, and by the fork child handler; read everywhere else.  Hooks
 * read `state` and `heap_rate` with relaxed loads: a hook that sees a stale
 * value just samples (or does not) one more time, which is harmless.
 */
#ifndef CPROF_RUNTIME_H
#define CPROF_RUNTIME_H

#include <signal.h>
#include <stdatomic.h>
#include "config.h"

enum rt_state {
	RT_NONE = 0,     /* constructor has not run: hooks pass through */
	RT_RUNNING = 1,  /* profiling */
	RT_STOPPED = 2,  /* final dump written, or profiling impossible */
};

struct cprof_runtime {
	atomic_int state;
	uint64_t heap_rate;       /* 0 when the heap profile is off */
	unsigned profiles;        /* profiles enabled (config bits) */
	int cpu_signal;           /* signal used by the CPU timers */
	bool preloaded;           /* our malloc is the one the program uses */
	struct cprof_config cfg;
	long pid;                 /* pid the state belongs to (changes in a fork child) */
	char exe_name[256];       /* %e: program name */
	char start_dir[4096];     /* cwd at start, for relative output patterns */
	char hostname[256];       /* %h */
	char cmdline[4096];       /* for the profile comment */
	int64_t start_ns;         /* CLOCK_REALTIME at init */
	atomic_bool exiting;      /* exit() reached libcprof's turn in _dl_fini (init.c) */
};

extern struct cprof_runtime rt;

/* What the program did to a signal cprof was using (hooks/signals.c). */
enum sig_take {
	TAKE_HANDLER, /* installed a handler of its own */
	TAKE_DEFAULT, /* set SIG_DFL */
	TAKE_IGNORE,  /* set SIG_IGN */
};

CPROF_INLINE bool rt_running(void)
{
	return atomic_load_explicit(&rt.state, memory_order_relaxed) == RT_RUNNING;
}

int64_t cprof_now_ns(void);        /* CLOCK_MONOTONIC */
int64_t cprof_realtime_ns(void);   /* CLOCK_REALTIME */

#endif
