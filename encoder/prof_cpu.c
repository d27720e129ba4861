/*
 * prof_cpu.c - the CPU profile, as Go's (docs/profiles.md, "cpu").
 *
 * Sample types samples/count and cpu/nanoseconds; period cpu/nanoseconds =
 * 1e9 / CPROF_CPU_HZ; values [n, n * period] with n counting timer
 * overruns.  time_nanos is the start of the window and duration_nanos its
 * wall-clock length, so pprof's "Total samples = X (Y%)" shows the
 * program's CPU utilisation.  Each sample carries a `thread` label, and
 * the pairs of the label set current on the thread (labels.h).  Lost
 * samples appear as the synthetic function cprof_lost_samples with a
 * `cprof_lost` label naming the reason (signals_blocked, with a thread
 * label, for a thread's CPU time while it blocked the signal).
 */
#include "profiles.h"
#include "cpuprof.h"
#include "cpuwin.h"
#include "labels.h"
#include "stacktab.h"

struct cpu_ctx {
	struct pb_builder *b;
	int64_t period;
	uint32_t lost_stack; /* cprof_lost_samples */
	int err;
};

static void add(uint32_t stack, uint32_t name, uint32_t set, uint64_t count, void *arg)
{
	struct cpu_ctx *c = arg;
	int64_t vals[2] = {(int64_t)count, (int64_t)count * c->period};
	const char *tname = cpuwin_name(name);
	struct pb_label labels[2 + LABELS_MAX_PAIRS] = {{.key = "thread", .str = tname ? tname : "?"},
							{.key = "cprof_lost", .str = "signals_blocked"}};
	/* The thread's CPU time while it blocked the signal (cpuprof.c). */
	size_t n = stack == c->lost_stack ? 2 : 1;
	n = profile_labels(set, labels, n, CPROF_ARRAY_LEN(labels));
	if (pb_add_sample(c->b, stacktab_get(stack), 0, vals, labels, n) != 0)
		c->err = -1;
}

int encode_cpu(struct dump_ctx *d, struct pb_builder *b)
{
	static const struct pb_value_type types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
	static const char *const reasons[LOST_KINDS] = {"inside_cprof", "buffer_full", "unwind_blocked"};
	struct cpu_ctx c = {.b = b, .period = cpuprof_period_ns(),
			    .lost_stack = stacktab_synthetic(CPROF_PC_LOST_SAMPLES)};
	struct cpuwin_view view;

	pb_set_types(b, types, 2, (struct pb_value_type){"cpu", "nanoseconds"}, c.period, NULL);
	encode_common(d, b);
	cpuwin_foreach(d->cpu_consumer, add, &c, &view);
	for (int k = 0; k < LOST_KINDS; k++) {
		if (!view.lost[k])
			continue;
		uint32_t stack = c.lost_stack;
		int64_t vals[2] = {(int64_t)view.lost[k], (int64_t)view.lost[k] * c.period};
		struct pb_label label = {.key = "cprof_lost", .str = reasons[k]};
		if (pb_add_sample(b, stacktab_get(stack), 0, vals, &label, 1) != 0)
			c.err = -1;
	}
	pb_set_time(b, view.start_real, d->now_mono_ns - view.start_mono);
	if (d->reset)
		cpuwin_reset(d->cpu_consumer, d->now_mono_ns, d->now_real_ns);
	return c.err;
}
