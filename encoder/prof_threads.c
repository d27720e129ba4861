/*
 * prof_threads.c - the threadcreate and threads profiles (Go's
 * threadcreate and goroutine).
 *
 * Both: period NAME/count = 1, one sample type NAME/count.
 * threadcreate: one sample per distinct pthread_create call stack, counting
 * the threads created there since start.
 * threads: the current stack of every thread, one sample per thread
 * labelled with its name, tid and current label set (labels.h); threads that did not answer in time
 * appear under cprof_thread_did_not_answer, stacks known only in part
 * (a thread in a system call cprof does not wrap) end in the root frame
 * cprof_partial_stack (threadstacks.h).  Over a window (?seconds=N) it is
 * the difference between the end and the start.
 */
#include <string.h>

#include "config.h"
#include "labels.h"
#include "profiles.h"
#include "stacktab.h"
#include "threads.h"
#include "threadstacks.h"

struct tc_ctx {
	struct dump_ctx *d;
	struct pb_builder *b;
	int err;
};

static void add_create(uint32_t id, uint32_t stack, uint64_t count, void *arg)
{
	struct tc_ctx *c = arg;
	uint64_t base[2];
	profile_base(c->d, id, base);
	int64_t v = (int64_t)(count - base[0]);
	if (!v)
		return;
	if (pb_add_sample(c->b, stacktab_get(stack), 0, &v, NULL, 0) != 0)
		c->err = -1;
}

int encode_threadcreate(struct dump_ctx *d, struct pb_builder *b)
{
	static const struct pb_value_type types[] = {{"threadcreate", "count"}};
	struct tc_ctx c = {.d = d, .b = b};

	pb_set_types(b, types, 1, types[0], 1, NULL);
	pb_set_time(b, d->now_real_ns, 0);
	encode_common(d, b);
	threads_foreach_create(add_create, &c);
	return c.err;
}

static int add_one(struct tc_ctx *c, const struct thread_stack *ts, int64_t v)
{
	struct pb_label labels[2 + LABELS_MAX_PAIRS] = {
		{.key = "thread", .str = ts->name},
		{.key = "tid", .num = ts->tid},
	};
	size_t n = profile_labels(ts->labels, labels, 2, CPROF_ARRAY_LEN(labels));
	return pb_add_sample(c->b, stacktab_get(ts->stack), 0, &v, labels, n);
}

static void add_thread(const struct thread_stack *ts, void *arg)
{
	struct tc_ctx *c = arg;
	if (add_one(c, ts, 1) != 0)
		c->err = -1;
}

/*
 * ?seconds=N on the threads profile (Go's goroutine delta): every thread
 * now counts +1 and every thread of the snapshot -1, so a thread found in
 * the same place, under the same name and label set, at both ends cancels
 * and is left out.  Threads are matched by tid through an open-addressed
 * index of the snapshot.
 */
struct delta_ctx {
	struct tc_ctx c;
	const struct prof_snapshot *base;
	uint32_t *slot;         /* snapshot index + 1, 0 = empty */
	bool *matched;
	size_t mask;
};

static bool same_place(const struct thread_stack *a, const struct thread_stack *b)
{
	return a->stack == b->stack && a->labels == b->labels && strcmp(a->name, b->name) == 0;
}

static void add_thread_delta(const struct thread_stack *ts, void *arg)
{
	struct delta_ctx *x = arg;
	for (size_t h = (uint32_t)ts->tid * 2654435761u & x->mask; x->slot[h]; h = (h + 1) & x->mask) {
		size_t i = x->slot[h] - 1;
		if (x->base->threads[i].tid != ts->tid)
			continue;
		if (same_place(&x->base->threads[i], ts)) {
			x->matched[i] = true;
			return;
		}
		break;
	}
	if (add_one(&x->c, ts, 1) != 0)
		x->c.err = -1;
}

static int encode_threads_delta(struct dump_ctx *d, struct pb_builder *b)
{
	const struct prof_snapshot *base = d->base;
	struct delta_ctx x = {.c = {.d = d, .b = b}, .base = base};
	size_t size = 16;
	while (size < 2 * base->nthreads)
		size *= 2;
	x.mask = size - 1;
	x.slot = region_alloc(d->r, size * sizeof(*x.slot));
	x.matched = region_alloc(d->r, base->nthreads + 1);
	if (!x.slot || !x.matched)
		return -1;
	memset(x.slot, 0, size * sizeof(*x.slot));
	memset(x.matched, 0, base->nthreads + 1);
	for (size_t i = 0; i < base->nthreads; i++) {
		size_t h = (uint32_t)base->threads[i].tid * 2654435761u & x.mask;
		while (x.slot[h])
			h = (h + 1) & x.mask;
		x.slot[h] = (uint32_t)i + 1;
	}
	threadstacks_collect(d->r, add_thread_delta, &x);
	for (size_t i = 0; i < base->nthreads; i++)
		if (!x.matched[i] && add_one(&x.c, &base->threads[i], -1) != 0)
			x.c.err = -1;
	return x.c.err;
}

int encode_threads(struct dump_ctx *d, struct pb_builder *b)
{
	/* Go's goroutine profile type: continuous profilers (Pyroscope,
	 * Parca) recognise the profile by it, in files as over HTTP. */
	static const struct pb_value_type types[] = {{"goroutine", "count"}};
	struct tc_ctx c = {.d = d, .b = b};

	pb_set_types(b, types, 1, types[0], 1, NULL);
	pb_set_time(b, d->now_real_ns, 0);
	encode_common(d, b);
	if (d->base && d->base->bit == PROF_THREADS)
		return encode_threads_delta(d, b);
	threadstacks_collect(d->r, add_thread, &c);
	return c.err;
}
