/*
 * cpuwin.h - the CPU sample table and its reading windows.
 *
 * Cumulative sample counts per (stack id, thread name id, label set id:
 * labels.h), plus the lost
 * sample counters.  Each consumer (the profile files, an HTTP request)
 * reads the difference since its own previous reset, so file dumps and a
 * /debug/pprof/profile?seconds=N request never steal each other's samples.
 *
 * Context: every function is called with dump_lock held (the writer's
 * drain, dumps, HTTP handlers).  Memory from the arena; entries are never
 * removed (a stack/thread pair seen once stays, with zero deltas after).
 */
#ifndef CPROF_CPUWIN_H
#define CPROF_CPUWIN_H

#include "common.h"

enum { CPUWIN_FILES = 0, CPUWIN_HTTP = 1, CPUWIN_CONSUMERS = 2 };
enum { LOST_REENTRANT, LOST_FULL, LOST_GATE, LOST_KINDS };

struct cpuwin_view {
	int64_t start_mono, start_real;
	uint64_t lost[LOST_KINDS];
};

void cpuwin_init(int64_t mono, int64_t real);
uint32_t cpuwin_name_id(const char *name);
const char *cpuwin_name(uint32_t id);
void cpuwin_add(uint32_t stack, uint32_t name, uint32_t labels, uint64_t weight);
void cpuwin_set_lost(uint64_t reentrant, uint64_t full, uint64_t gate);

typedef void (*cpuwin_fn)(uint32_t stack, uint32_t name, uint32_t labels, uint64_t count,
			  void *arg);
void cpuwin_foreach(int consumer, cpuwin_fn fn, void *arg, struct cpuwin_view *view);
/* Has the consumer's window a sample (or a lost one) to show? */
bool cpuwin_has_samples(int consumer);
void cpuwin_reset(int consumer, int64_t mono, int64_t real);
void cpuwin_fork_child(int64_t mono, int64_t real);

#endif
