/*
 * prof_heap.c - the heap profile, exactly as Go's (docs/profiles.md, "heap").
 *
 * Sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes; period space/bytes = the sampling rate; no default
 * sample type, so pprof shows inuse_space.  One sample per (stack, size
 * class) bucket, carrying a numeric `bytes` label with the mean size of
 * its sampled allocations (the size itself when they all had one, as
 * always below 256 bytes, where a class is one size) and the allocating
 * thread's label set (labels.h: inuse keeps it).  The values are the
 * buckets' unbiased sums (sampler.h; heapprof.h, "Buckets").
 *
 * Heap stacks start at the program's call site: cprof's own frames are
 * never captured, and the C++ runtime's and allocators' entry points
 * (operator new calling malloc) are trimmed; drop_frames tells pprof the
 * same for any it symbolizes itself.
 *
 * The peak profile (heappeak) is the same profile made from the copy of
 * the buckets taken at the peak of the sampled in-use heap (heapprof.h,
 * "Peak"), with the buckets that had memory in use then: its time is when
 * that copy was taken, and a comment gives the estimated in-use bytes
 * then.  It is never a delta.
 */
#include "profiles.h"
#include "heapprof.h"
#include "labels.h"
#include "log.h"
#include "sampler.h"
#include "stacktab.h"

static const char *const trim[] = {
	"_Znwm", "_Znam", "__libc_malloc", "__libc_calloc", "__libc_realloc",
	"__libc_memalign", "__posix_memalign", "je_", "tc_", "__default_morecore",
	"_ZN9__gnu_cxx13new_allocator", "_ZNSt15__new_allocator", NULL,
};

#define HEAP_DROP_FRAMES \
	"(_Zn[wa]m.*|operator new.*|malloc|calloc|realloc|reallocarray|memalign|" \
	"posix_memalign|aligned_alloc|valloc|pvalloc|mallocx|rallocx|xallocx|" \
	"__libc_(malloc|calloc|realloc|memalign))"

struct heap_ctx {
	struct dump_ctx *d;
	struct pb_builder *b;
	int err;
};

static void add_bucket(const struct heap_bucket_view *v, void *arg)
{
	struct heap_ctx *c = arg;
	int64_t vals[4];
	struct heap_counts base[2];

	profile_heap_base(c->d, v->id, base);
	/* A delta profile (?seconds=N) subtracts the earlier sums:
	 * allocations since then, and the change in use (possibly
	 * negative). */
	if (c->d->inuse_absolute)
		base[1] = base[0];
	vals[0] = sampler_objects((int64_t)(v->alloc.objects - base[0].objects));
	vals[1] = (int64_t)(v->alloc.space - base[0].space);
	vals[2] = sampler_objects((int64_t)(v->alloc.objects - v->freed.objects) -
				  (int64_t)(base[0].objects - base[1].objects));
	vals[3] = (int64_t)(v->alloc.space - v->freed.space) - (int64_t)(base[0].space - base[1].space);
	if (c->d->base && !vals[0] && !vals[2])
		return;
	/* Only what is filled is written (an initialiser would zero all 17
	 * entries, 544 bytes, for each of a heap profile's buckets). */
	struct pb_label labels[1 + LABELS_MAX_PAIRS];
	labels[0] = (struct pb_label){.key = "bytes", .num = (int64_t)v->size, .num_unit = "bytes"};
	size_t n = profile_labels(v->labels, labels, 1, CPROF_ARRAY_LEN(labels));
	if (pb_add_sample(c->b, stacktab_get(v->stack), v->size, vals, labels, n) != 0)
		c->err = -1;
}

int encode_heap(struct dump_ctx *d, struct pb_builder *b)
{
	static const struct pb_value_type types[] = {
		{"alloc_objects", "count"}, {"alloc_space", "bytes"},
		{"inuse_objects", "count"}, {"inuse_space", "bytes"},
	};
	struct heap_ctx c = {.d = d, .b = b};

	pb_set_types(b, types, 4, (struct pb_value_type){"space", "bytes"}, (int64_t)heap_rate(),
		     d->allocs ? "alloc_space" : NULL);
	pb_set_time(b, d->now_real_ns, 0);
	pb_set_drop_frames(b, HEAP_DROP_FRAMES);
	pb_set_trim_prefixes(b, trim);
	encode_common(d, b);
	pb_expect_samples(b, heap_bucket_count(), 1);
	if (!d->peak) {
		heap_foreach_bucket(add_bucket, &c);
		return c.err;
	}
	uint64_t bytes = 0;
	int64_t when = 0;
	d->base = NULL;
	if (heap_foreach_peak(add_bucket, &c, &bytes, &when)) {
		char note[224];
		pb_set_time(b, when, 0);
		cprof_fmt(note, sizeof(note),
			  "cprof: peak of the sampled in-use heap since the start: about %llu bytes "
			  "(within 1/64 of the highest point once the heap fell from it)",
			  (unsigned long long)bytes);
		pb_add_comment(b, note);
	} else {
		pb_add_comment(b, "cprof: no peak yet (no allocation sampled)");
	}
	return c.err;
}

int encode_heap_peak(struct dump_ctx *d, struct pb_builder *b)
{
	d->peak = true;
	return encode_heap(d, b);
}
