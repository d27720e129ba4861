/*
 * dump.h - writing profiles: the writer thread, triggers, files.
 *
 * DESIGN
 * One writer thread, started at init with every signal blocked and the
 * reentrancy guard held for its whole life (its work is never profiled and
 * its allocations, if libc makes any, pass straight through the hooks).  It
 * sleeps on a futex and wakes for: a dump request (the trigger signal's
 * handler, which does nothing else but note a request for an answer,
 * reply.h: see "Rules every module follows" in docs/architecture.md),
 * the periodic interval
 * (CPROF_INTERVAL), and housekeeping every 100 ms (draining the CPU sample
 * ring).
 *
 * A dump writes every enabled profile with the same sequence number.  Each
 * file is written to a temporary name in the target directory and renamed
 * into place, so a reader never sees a partial profile, and no file is ever
 * overwritten.  When the name is taken (a pattern without %p run again, or
 * without %n dumped again), the newest profile takes the name and the
 * file that had it is kept under the next free "-1", "-2"... name:
 * `go tool pprof app.heap.pb.gz` always reads the latest run, as with
 * Go's -memprofile, and nothing is lost.  The swap is one atomic
 * renameat2(RENAME_EXCHANGE), after which the temporary name holds the
 * older file, which is then renamed (RENAME_NOREPLACE) to a free suffixed
 * name.  Two processes writing one name at once each move aside whatever
 * they displaced, so every file ends under some name.  Filesystems without
 * RENAME_EXCHANGE keep the older rule: the new file takes the suffix.
 *
 * dump_lock guards reading the profile tables: every dump (the writer
 * thread's, the exit dump run on the exiting thread, HTTP requests) holds
 * it while it reads them, and lets go before it symbolizes and encodes
 * (session.h).  It is taken around fork, so fork waits for one read at
 * most.  Dumps that write files are serialised by a lock of their own.
 *
 * The exit dump is the last one: it marks the process as finished under
 * that lock, and a dump that takes the lock after it writes nothing.  A
 * dump already running when exit() begins completes first (the exit dump
 * waits for the lock); one that would start during the rest of exit() (a
 * late SIGUSR2, the interval) cannot be cut off halfway by _exit, leaving
 * a numbered set with files missing.
 */
#ifndef CPROF_DUMP_H
#define CPROF_DUMP_H

#include "arena.h"
#include "lock.h"
#include "runtime.h"
#include "tables.h"   /* dump_lock, dump_wake */

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
 * with errno set; `final` receives the name actually used and `moved` (may
 * be NULL) the name an older file of that name was moved to, or "". */
int dump_write_file(const char *path, const void *buf, size_t len, char *final, size_t finallen,
		    char *moved, size_t movedlen);

/* Install the trigger signal handler unless the program owns the signal. */
int dump_install_signal(int sig);

/* Called by the sigaction hook when the program takes `sig` over: the
 * program wins.  A handler of its own is reported at once; a reset to
 * SIG_DFL or SIG_IGN at the next dump (cprof_warn_later), since the usual
 * reason is a child resetting every signal right before exec. */
bool dump_signal_is(int sig);
void dump_signal_lost(int sig, enum sig_take how);

/* SIGTERM/SIGINT handled by cprof (the program left them at default):
 * queries report the default; a program installing its own wins. */
bool dump_term_signal_owned(int sig);
void dump_term_signal_lost(int sig);

/* Wake the writer thread (housekeeping). */

/* Start/stop the writer thread (init, fork child, exit). */
int dump_start_writer(void);
void dump_fork_child(void);

#endif
