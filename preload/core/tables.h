/*
 * tables.h - how the layers above reach the profile tables as a whole.
 *
 * dump_lock guards reading the profile tables: every dump (the writer
 * thread's, the exit dump, HTTP requests) holds it while it reads them
 * (control/session.h), and the CPU table is drained into only by its
 * holder (cpuprof.h).  It is taken around fork, so fork waits for one read
 * at most.
 *
 * dump_wake() wakes the writer thread (control/dump.c), which waits on
 * dump_wake_word: the CPU ring calls it when it fills, the control layer
 * on a request.  Async-signal-safe (one atomic add, one futex wake).
 */
#ifndef CPROF_TABLES_H
#define CPROF_TABLES_H

#include <stdatomic.h>
#include "lock.h"

extern cprof_mutex_t dump_lock;
extern atomic_int dump_wake_word;

void dump_wake(void);

#endif
