/*
 * cpuprof.h - the CPU profile: per-thread CPU-time timers and their signal.
 *
 * DESIGN (docs/profiles.md, "cpu")
 * Every thread gets a POSIX timer on its own CPU-time clock
 * (CLOCK_THREAD_CPUTIME_ID, or the clock derived from its tid for threads
 * cprof did not start) firing every 1/CPROF_CPU_HZ seconds of that
 * thread's CPU time, delivered to that thread (SIGEV_THREAD_ID).  Unlike a
 * process-wide setitimer, samples are neither skewed between threads nor
 * lost when several threads are busy.  The first expiry is random within
 * the period, so threads started together do not fire in lockstep.
 *
 * The handler (async-signal-safe: no locks, no allocation, errno kept,
 * bounded time) drops the sample if the thread was inside cprof (guard),
 * otherwise unwinds from the interrupted context straight into a slot of a
 * lock-free ring (Vyukov's bounded queue: producers are handlers on any
 * thread, the one consumer is whoever holds dump_lock).  Timer overruns add
 * to the sample's weight.  Lost samples (reentrancy, ring full, gate
 * closed) are counted and appear in the profile under the synthetic frame
 * cprof_lost_samples, never silently.
 *
 * The consumer drains the ring into a table keyed by (stack, thread name,
 * label set current on the thread when the timer fired: labels.h)
 * (a thread that ended before its last samples were drained keeps its
 * name: cpuprof_thread_ended); a dump encodes the table as a pprof cpu
 * profile covering the time since the previous dump and starts a new
 * window.
 *
 * A thread that blocks the signal cannot be sampled; its timer is paused
 * and its CPU time, read from its CPU clock, is counted without stacks
 * (cprof_lost_samples, cprof_lost=signals_blocked; see cpuprof.c).
 *
 * Signal choice: SIGPROF unless the program already handles it, then the
 * highest real-time signal nobody handles (said once on stderr).
 */
#ifndef CPROF_CPUPROF_H
#define CPROF_CPUPROF_H

#include "common.h"
#include "runtime.h"

struct thread_rec;

int cpuprof_init(void);
bool cpuprof_enabled(void);
int cpuprof_signal(void);
int64_t cpuprof_period_ns(void);

/* Create / delete a thread's timer (registry lock held).  `self`: the
 * calling thread is the record's thread. */
void cpuprof_timer_start(struct thread_rec *r, bool self);
void cpuprof_timer_stop(struct thread_rec *r);

/* Record r's thread is leaving the registry (registry lock held): its
 * timer is deleted, and its name kept for the samples it left in the
 * ring.  `self`: called by the ending thread itself (else by the scanner,
 * for a thread already gone). */
void cpuprof_thread_ended(struct thread_rec *r, bool self);

/* Disarm / re-arm a thread's timer (registry lock held; see
 * threads_pause_self). */
void cpuprof_pause(struct thread_rec *r);
void cpuprof_resume(struct thread_rec *r);

/* The program took the CPU signal over (how: a handler, SIG_DFL, SIG_IGN):
 * stop every timer; say so (a reset at the next dump, see dump.h). */
void cpuprof_signal_lost(enum sig_take how);

/* Move ring contents into the table.  Caller holds dump_lock. */
void cpuprof_drain(void);

/* Writer thread, every 100 ms: drain, rescan threads once a second. */
void cpuprof_housekeeping(void);

/* Turn CPU timers on/off at run time (HTTP /profile?seconds=N when the
 * cpu profile was not enabled at start).  Registry lock not held. */
int cpuprof_start_window(void);
void cpuprof_stop_window(void);

void cpuprof_fork_child(void);

/* Counters for tests and the index page. */
struct cpuprof_stats {
	uint64_t samples, lost_reentrant, lost_full, lost_gate, foreign_signals;
};
void cpuprof_stats(struct cpuprof_stats *s);

#endif
