/*
 * cpuwin.c - the CPU sample table (see cpuwin.h).
 *
 * Invariants (all under dump_lock):
 *  - entries[1..n] are (stack, name, labels, count, base[consumer]); count only
 *    grows; base[c] <= count.
 *  - entries are the records of an intern table (intern.h), ids 1..n.
 */
#include <string.h>

#include "cpuwin.h"
#include "arena.h"
#include "intern.h"

#define MAXE (1u << 22)
#define MAX_NAMES 65536

struct entry {
	uint32_t stack, name;
	uint32_t labels, pad;
	uint64_t count;
	uint64_t base[CPUWIN_CONSUMERS];
};

static char (*names)[32];
static uint32_t nnames;

static uint64_t lost[LOST_KINDS];
static struct cpuwin_view win[CPUWIN_CONSUMERS];

static struct intern tab;        /* records: struct entry */

static struct entry *get(uint32_t id)
{
	return intern_rec(&tab, id);
}

static uint64_t hash(uint32_t stack, uint32_t name, uint32_t labels)
{
	return cprof_hash64((((uint64_t)stack << 32) | name) ^ ((uint64_t)labels * 0x9e3779b97f4a7c15ULL));
}

static bool entry_eq(const void *rec, const void *key)
{
	const struct entry *e = rec, *k = key;
	return e->stack == k->stack && e->name == k->name && e->labels == k->labels;
}

static bool entry_fill(void *rec, const void *key)
{
	struct entry *e = rec;
	const struct entry *k = key;
	e->stack = k->stack;
	e->name = k->name;
	e->labels = k->labels;
	return true;
}

void cpuwin_init(int64_t mono, int64_t real)
{
	for (int c = 0; c < CPUWIN_CONSUMERS; c++) {
		win[c].start_mono = mono;
		win[c].start_real = real;
	}
}

static uint32_t *name_index; /* 2 * MAX_NAMES slots of name ids */

static uint32_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (uint32_t)h;
}

uint32_t cpuwin_name_id(const char *name)
{
	char key[32];
	size_t len = strlen(name);
	if (len >= sizeof(key))
		len = sizeof(key) - 1;
	memcpy(key, name, len);
	key[len] = '\0';
	if (!names) {
		names = pages_alloc(sizeof(*names) * MAX_NAMES);
		name_index = pages_alloc(sizeof(uint32_t) * 2 * MAX_NAMES);
		if (!names || !name_index)
			return 0;
		nnames = 1; /* 0: no name */
	}
	uint32_t m = 2 * MAX_NAMES - 1, i = name_hash(key) & m, id;
	for (; (id = name_index[i]) != 0; i = (i + 1) & m)
		if (strcmp(names[id], key) == 0)
			return id;
	if (nnames == MAX_NAMES)
		return 0;
	memcpy(names[nnames], key, len + 1);
	name_index[i] = nnames;
	return nnames++;
}

const char *cpuwin_name(uint32_t id)
{
	return (names && id && id < nnames) ? names[id] : NULL;
}

void cpuwin_add(uint32_t stack, uint32_t name, uint32_t labels, uint64_t weight)
{
	struct entry k = {.stack = stack, .name = name, .labels = labels};
	if (!stack)
		return;
	if (!tab.rec_size)
		intern_setup(&tab, sizeof(struct entry), MAXE, 4096);
	uint32_t id = intern_insert(&tab, hash(stack, name, labels), entry_eq, &k, entry_fill);
	if (id)
		get(id)->count += weight;
}

void cpuwin_set_lost(uint64_t reentrant, uint64_t full, uint64_t gate)
{
	lost[LOST_REENTRANT] = reentrant;
	lost[LOST_FULL] = full;
	lost[LOST_GATE] = gate;
}

void cpuwin_foreach(int consumer, cpuwin_fn fn, void *arg, struct cpuwin_view *view)
{
	for (uint32_t id = 1, n = intern_count(&tab); id <= n; id++) {
		struct entry *e = get(id);
		uint64_t d = e->count - e->base[consumer];
		if (d)
			fn(e->stack, e->name, e->labels, d, arg);
	}
	view->start_mono = win[consumer].start_mono;
	view->start_real = win[consumer].start_real;
	for (int k = 0; k < LOST_KINDS; k++)
		view->lost[k] = lost[k] - win[consumer].lost[k];
}

bool cpuwin_has_samples(int consumer)
{
	for (uint32_t id = 1, n = intern_count(&tab); id <= n; id++)
		if (get(id)->count != get(id)->base[consumer])
			return true;
	for (int k = 0; k < LOST_KINDS; k++)
		if (lost[k] != win[consumer].lost[k])
			return true;
	return false;
}

void cpuwin_reset(int consumer, int64_t mono, int64_t real)
{
	for (uint32_t id = 1, n = intern_count(&tab); id <= n; id++)
		get(id)->base[consumer] = get(id)->count;
	win[consumer].start_mono = mono;
	win[consumer].start_real = real;
	memcpy(win[consumer].lost, lost, sizeof(lost));
}

void cpuwin_fork_child(int64_t mono, int64_t real)
{
	/* The child's windows start at the fork, with the counters it has. */
	memset(lost, 0, sizeof(lost));
	for (int c = 0; c < CPUWIN_CONSUMERS; c++)
		cpuwin_reset(c, mono, real);
}
