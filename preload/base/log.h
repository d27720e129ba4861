/*
 * log.h - cprof's messages on stderr and its allocation-free formatter.
 *
 * Every line starts with "cprof: " and is written with one write(2) from a
 * stack buffer: no stdio, no allocation, errno preserved.  Safe from any
 * context except a signal handler that interrupted another log call (lines
 * could interleave, nothing worse).
 *
 * CPROF_QUIET=1 silences every line: cprof_info() (one per file written,
 * where output goes) and cprof_warn() (something cprof could not do) alike,
 * so a quiet program's output is byte for byte what it writes without
 * cprof.  cprof_warn_once() writes a given message at most once per
 * process, keyed by the caller's flag.
 *
 * Said once per problem, not once per process:
 *  - cprof_warn_later_signal() keeps a warning whose consequence only shows
 *    in the profiles (the program set cprof's signal to SIG_DFL or SIG_IGN)
 *    until the next dump of the process that caused it, which prints it
 *    (cprof_warn_flush_later).  A process that execs or _exits first -
 *    git's and every spawn library's child resets all signals right before
 *    exec - never prints it: nothing it would have written was lost.  A
 *    fork child inherits the note but leaves it to the process that made
 *    it.
 *  - Start-up lines about what a process inherited (CPROF_* values, a
 *    missing output directory, LD_PRELOAD's order, a missing libunwind, a
 *    signal ignored from the start) would repeat in every process of a tree: make, every gcc and
 *    cc1; git and every child.  cprof_warn_tree() says such a line only if
 *    no ancestor said it: at the end of its start-up, a process that said
 *    some adds a hash of each (16 hex digits) to the variable CPROF_SAID in
 *    its own environment (log_publish_said, before the program runs; not
 *    when the library was loaded into a running program, whose environment
 *    it must not touch), and its exec'ed images and children inherit it.  A line about other
 *    settings hashes differently and is said.  A signal ignored from the
 *    start is also left unsaid when the parent has cprof loaded and
 *    ignores the signal too (log_parent_ignores): a parent that set
 *    SIG_IGN after start, like PostgreSQL's backends, cannot safely change
 *    its environment then, and reported it itself or inherited the report.
 *    Nothing is added under CPROF_QUIET=1 (nothing was said).
 */
#ifndef CPROF_LOG_H
#define CPROF_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include "common.h"

/* snprintf subset: %s %c %d %i %u %x %p %% with l/ll/z modifiers, an
 * optional zero-padded width and a precision for strings (%.*s).  Always NUL-terminates; returns the length
 * written (truncated to n - 1). */
size_t cprof_vfmt(char *buf, size_t n, const char *fmt, va_list ap);
size_t cprof_fmt(char *buf, size_t n, const char *fmt, ...) CPROF_PRINTF(3, 4);

void cprof_info(const char *fmt, ...) CPROF_PRINTF(1, 2);
void cprof_warn(const char *fmt, ...) CPROF_PRINTF(1, 2);
void cprof_warn_once(atomic_int *flag, const char *fmt, ...) CPROF_PRINTF(2, 3);

/* fmt (a string literal) takes the signal's number (%d), its name without
 * "SIG" (%s) and, when printed, what the program has set it to (%s, "to
 * SIG_IGN (ignored)"...): a program that queries with signal(s, SIG_DFL)
 * and then ignores or handles s is described by where it ended. */
void cprof_warn_later_signal(int sig, const char *fmt);
void cprof_warn_flush_later(void);

void log_set_quiet(bool quiet);

/* The once-per-tree rule above.  cprof_warn_tree() and log_publish_said()
 * are for the constructor (single-threaded start-up, before the program
 * runs); log_parent_ignores() reads /proc/<ppid>/status and maps. */
void cprof_warn_tree(const char *fmt, ...) CPROF_PRINTF(1, 2);
void log_publish_said(void);
bool log_parent_ignores(int sig);
/* Has the parent process cprof loaded (is this process inside a profiled
 * tree rather than at its top)?  Reads /proc/<ppid>/maps. */
bool log_parent_profiled(void);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int cprof_write_all(int fd, const void *buf, size_t len);

/* Read a small file (a /proc entry) into buf, NUL-terminated; returns the
 * bytes read (at most len - 1), or -1.  One open/read/close, no stdio. */
long cprof_read_file(const char *path, char *buf, size_t len);

/* Is bit sig-1 set in the signal mask `field` ("SigIgn:", "SigBlk:"...) of
 * the /proc status file at path?  false if it cannot be read. */
bool cprof_status_has_signal(const char *path, const char *field, int sig);

#endif
