/*
 * prof_threads.c - the threadcreate and threads profiles (Go's
 * threadcreate and goroutine).
 *
 * Both: period NAME/count = 1, one sample type NAME/count.
 * threadcreate: one sample per distinct pthread_create call stack, counting
 * the threads created there since start.
 * threads: the current stack of every thread, counted per (stack, thread
 * name), each sample labelled with the thread name; threads that did not
 * answer in time appear under cprof_thread_did_not_answer (threadstacks.c).
 */
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
	if (pb_add_sample(c->b, stacktab_get(stack), &v, NULL, 0) != 0)
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

static void add_thread(const struct thread_stack *ts, void *arg)
{
	struct tc_ctx *c = arg;
	int64_t v = 1;
	struct pb_label labels[2] = {
		{.key = "thread", .str = ts->name},
		{.key = "tid", .num = ts->tid},
	};
	if (pb_add_sample(c->b, stacktab_get(ts->stack), &v, labels, 2) != 0)
		c->err = -1;
}

int encode_threads(struct dump_ctx *d, struct pb_builder *b)
{
	static const struct pb_value_type types[] = {{"threads", "count"}};
	struct tc_ctx c = {.d = d, .b = b};

	pb_set_types(b, types, 1, types[0], 1, NULL);
	pb_set_time(b, d->now_real_ns, 0);
	encode_common(d, b);
	threadstacks_collect(d->r, add_thread, &c);
	return c.err;
}
