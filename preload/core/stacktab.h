/*
 * stacktab.h - interning of call stacks into dense ids.
 *
 * DESIGN
 * Every profile refers to stacks by a 32-bit id handed out by this table.
 * A stack is an array of program counters, leaf first, plus flags.  Nodes
 * are immutable once published and never freed, so readers (the dump) look
 * them up by id without a lock while writers keep inserting.
 *
 * Contexts: stacktab_intern() runs in normal contexts only (hooks' slow
 * paths on program threads, the writer thread draining the CPU ring),
 * never in a signal handler.  A stack already in the table is found
 * without a lock (intern.h); a new one is inserted under `lock`, a
 * spinlock held for one hash probe and a copy; it is taken around fork.
 *
 * Capacity: at most STACKTAB_MAX stacks.  Past that, intern() returns the
 * id of a synthetic one-frame stack "cprof_stack_table_full", so the loss is
 * visible in every profile rather than silent.
 */
#ifndef CPROF_STACKTAB_H
#define CPROF_STACKTAB_H

#include "common.h"

#define STACK_LEAF_EXACT 1u   /* pcs[0] is an interrupted PC, not a return address */

struct stack {
	uint64_t hash;
	uint32_t id;
	uint16_t depth;
	uint16_t flags;
	uintptr_t pcs[];
};

#define STACKTAB_MAX (1u << 22)

int stacktab_init(void);
uint32_t stacktab_intern(const uintptr_t *pcs, unsigned depth, unsigned flags);
const struct stack *stacktab_get(uint32_t id);
/* Ids run from 1 to stacktab_count() inclusive. */
uint32_t stacktab_count(void);
/* Id of a one-frame stack holding a synthetic PC (enum cprof_synthetic_pc). */
uint32_t stacktab_synthetic(uintptr_t pc);


#endif
