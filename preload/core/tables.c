/*
 * tables.c - the tables' read lock and the writer's wake word (tables.h).
 *
 * Invariant: dump_wake_word changes on every wake, so a wake between the
 * writer's read of the word and its futex wait is never lost.
 */
#include <linux/futex.h>

#include "tables.h"

cprof_mutex_t dump_lock;
CPROF_MUTEX_CLASS(dump, LOCK_RANK_DUMP, dump_lock);
atomic_int dump_wake_word;

void dump_wake(void)
{
	atomic_fetch_add(&dump_wake_word, 1);
	cprof_futex(&dump_wake_word, FUTEX_WAKE_PRIVATE, 1, NULL);
}
