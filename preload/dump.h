/*
 * dump.h - writing profiles: the writer thread, triggers, files.
 *
 * DESIGN
 * One writer thread, started at init with every signal blocked and the
 * reentrancy guard held for its whole life (its work is never profiled and
 * its allocations, if libc makes any, pass straight through the hooks).  It
 * sleeps on a futex and wakes for: a dump request (the trigger signal's
 * handler, which does nothing else: REFERENCE.md 6), the periodic interval
 * (CPROF_INTERVAL), and housekeeping every 100 ms (draining the CPU sample
 * ring).
 *
 * A dump writes every enabled profile with the same sequence number.  Each
 * file is written to a temporary name in the target directory and renamed
 * into place without replacing anything (renameat2 RENAME_NOREPLACE, or
 * link+unlink), so a reader never sees a partial profile and no file is
 * ever overwritten; a name already taken gets a "-1", "-2"... suffix.
 *
 * dump_lock serialises dumps: the writer thread's, the exit dump (run on
 * the exiting thread) and HTTP requests.  It is taken around fork.
 *
 * The exit dump is the last one: it marks the process as finished under
 * dump_lock, and a dump that takes the lock after it writes nothing.  A
 * dump already running when exit() begins completes first (the exit dump
 * waits for the lock); one that would start during the rest of exit() (a
 * late SIGUSR2, the interval) cannot be cut off halfway by _exit, leaving
 * a numbered set with files missing.
 */
#ifndef CPROF_DUMP_H
#define CPROF_DUMP_H

#include "arena.h"
#include "lock.h"

extern cprof_mutex_t dump_lock;

int dump_init(void);

/* Async-signal-safe: ask the writer thread for a dump. */
void dump_request(void);

/* Write every enabled profile now (takes dump_lock).  Returns the number of
 * files written: 0 once the exit dump has been made. */
int dump_all(const char *why);

/* The exit dump: dump_all, then no more dumps in this process. */
int dump_final(void);

/* Expand the output pattern for profile type `type` and sequence `seq`
 * into an absolute path. */
int dump_expand(const char *pattern, const char *type, unsigned long seq, char *out, size_t outlen);

/* Write buf to its final name atomically (see above).  Returns 0, or -1
 * with errno set; `final` receives the name actually used. */
int dump_write_file(const char *path, const void *buf, size_t len, char *final, size_t finallen);

/* Install the trigger signal handler unless the program owns the signal. */
int dump_install_signal(int sig);

/* Called by the sigaction hook when the program takes `sig` over. */
bool dump_signal_is(int sig);
void dump_signal_lost(int sig);

/* SIGTERM/SIGINT handled by cprof (the program left them at default):
 * queries report the default; a program installing its own wins. */
bool dump_term_signal_owned(int sig);
void dump_term_signal_lost(int sig);

/* Wake the writer thread (housekeeping). */
void dump_wake(void);

/* Start/stop the writer thread (init, fork child, exit). */
int dump_start_writer(void);
void dump_fork_child(void);

#endif
