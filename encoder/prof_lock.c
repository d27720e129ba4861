/*
 * prof_lock.c - the mutex and block profiles, as Go's (docs/profiles.md, "mutex and block").
 *
 * Both: period contentions/count = 1; sample types contentions/count and
 * delay/nanoseconds, so `go tool pprof -contentions`, `-total_delay` and
 * `-mean_delay` work unchanged.  Values are already unsampled (lockprof.c
 * scales by the mutex fraction and the block rate when it records).
 * Mutex samples are the unlocking stacks that ended contended critical
 * sections; block samples are the waiters' stacks.  Each carries the
 * label set of the thread whose stack it is (labels.h).
 */
#include "profiles.h"
#include "labels.h"
#include "lockprof.h"
#include "stacktab.h"

struct lock_ctx {
	struct dump_ctx *d;
	struct pb_builder *b;
	int err;
};

static void add(const struct lock_bucket_view *v, void *arg)
{
	struct lock_ctx *c = arg;
	uint64_t base[2];
	profile_base(c->d, v->id, base);
	uint64_t count_fp = v->count_fp - base[0], delay = v->delay_ns - base[1];
	if (!count_fp && !delay)
		return;
	int64_t vals[2] = {(int64_t)((count_fp + LOCKPROF_ONE / 2) / LOCKPROF_ONE), (int64_t)delay};
	if (vals[0] == 0)
		vals[0] = 1;
	struct pb_label labels[LABELS_MAX_PAIRS];
	size_t n = profile_labels(v->labels, labels, 0, CPROF_ARRAY_LEN(labels));
	if (pb_add_sample(c->b, stacktab_get(v->stack), 0, vals, labels, n) != 0)
		c->err = -1;
}

static int encode(struct dump_ctx *d, struct pb_builder *b, int which)
{
	static const struct pb_value_type types[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};
	struct lock_ctx c = {.d = d, .b = b};

	pb_set_types(b, types, 2, (struct pb_value_type){"contentions", "count"}, 1, NULL);
	pb_set_time(b, d->now_real_ns, 0);
	encode_common(d, b);
	lockprof_foreach(which, add, &c);
	return c.err;
}

int encode_mutex(struct dump_ctx *d, struct pb_builder *b)
{
	return encode(d, b, 0);
}

int encode_block(struct dump_ctx *d, struct pb_builder *b)
{
	return encode(d, b, 1);
}
