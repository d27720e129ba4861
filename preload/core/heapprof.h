/*
 * heapprof.h - the heap profile: sampled allocations and the live set.
 *
 * DESIGN
 * Buckets.  A sampled allocation is charged to the bucket (stack id, size
 * class, label set current on the allocating thread).  The class of a
 * size under 256 bytes is the size itself; from 256 bytes on, the size
 * with all but its four leading bits cleared: eight classes between two
 * powers of two, none wider than 1/8 of its smallest size (sizes from
 * 2^32 - 1 bytes on are again their own class: see the live table).  Go
 * keys its buckets by the size rounded up to its allocator's size class;
 * a bucket by exact size made one bucket, and one sample in every dump,
 * per distinct size a call site ever asked for: on an allocation-heavy
 * program with sizes of up to 256 KiB (bench/progs/malloc_mix.c) most
 * samples made a new bucket (a new intern record and index probe, about
 * 450 cycles of the sample's 1,050) and the exit dump encoded, sorted and
 * compressed 35,000 of them.  A bucket holds two sets of sums
 * (struct heap_counts): of its sampled allocations and of those freed
 * since.  Each set has the raw sample count and the sum of the sampled
 * sizes (the text format's figures, and the "bytes" label: their mean),
 * and the unbiased objects and bytes, each sample's weights (sampler.h,
 * sampler_weigh) added as it is taken: exact estimates whatever mix of
 * sizes a bucket holds (scaling a count by its bucket's mean size, as Go
 * does, is biased as soon as the sizes differ).  A free subtracts exactly
 * what its allocation added: the live table keeps each sample's size.
 *
 * Bucket tables.  Buckets live in HEAP_TABLES intern tables (intern.h),
 * and a thread makes its new buckets in one of them, given in turn at its
 * first sample (tstate.heap_table): the n-th thread to sample gets table
 * n mod HEAP_TABLES, so threads share a table once more than HEAP_TABLES
 * have sampled (threads that have exited count too).  On an
 * allocation-heavy program most samples make a new bucket (a size not
 * seen before), and with one
 * table every such sample took the same lock, advanced the same count
 * and wrote its record beside another thread's: three lines passed
 * between the cores at each sample.  A bucket's id carries its table
 * (heapprof.c).  The same (stack, size, labels) sampled by threads of
 * two tables is two buckets, two samples of the profile, which pprof
 * adds up as it adds up any samples with one stack; the dump does not
 * merge them (a hash of every bucket at each dump, for a few duplicate
 * samples).  The ids are sparse; a census numbers the buckets densely
 * for arrays indexed by bucket (the peak copy, the snapshot a delta
 * profile subtracts).
 *
 * Live table.  Every sampled pointer that is still allocated is in a hash
 * table (pointer -> bucket id and size, in 32 bits: UINT32_MAX stands
 * for sizes of 2^32 - 1 bytes and more, which are their bucket's class
 * and so its exact size), so frees and reallocs of sampled memory are
 * found exactly; unsampled pointers are not recorded anywhere.  The table is
 * split into 64 shards.  Each shard has a spinlock for writers (sampled
 * allocations and frees only: rare) and a sequence counter so the lookup
 * every free() performs reads without writing shared memory:
 *
 *    empty shard          -> one load, no match possible
 *    otherwise            -> seqlock read: probe, re-check the sequence
 *
 * In front of the table sits a filter small enough to stay in cache: a
 * bitmap of 2^16 bits (8 KiB) per region, indexed by the pointer's
 * cache-line number (address / 64, modulo 2^16), a bit set while at least
 * one sampled pointer in such a line is live.  free() probes the table only when its
 * bit is set: for about S / 65536 of frees with S live samples once the
 * heap spans more than 4 MiB (below that, fewer: the bits of the heap's
 * lines are all the filter has in use), and for frees of the blocks that
 * share a 64-byte line with a sampled one.  Indexing by address rather
 * than by hash keeps the program's locality: consecutive frees of nearby
 * blocks read the same filter line (one line covers 32 KiB of heap).
 * The grain was the 4 KiB page at first; on an allocation-heavy
 * program (bench/progs/malloc_mix.c: some 30 live samples among 2,500
 * pages) one free in a hundred then took the table probe, and those
 * probes were the largest single part of the heap profile's cost.
 * The filter's word is not in cache at most frees either (cachegrind:
 * 0.8 first-level misses a free on bench/progs/malloc_mix.c, whose
 * writes evict the filter's lines between two frees), but that miss
 * costs little: glibc's free misses on the block's size word just after,
 * and the two are in flight together.  Marking the sampled blocks by
 * their size instead (a sampled block asked for with a few bytes more, so
 * that its chunk's size carries a pattern, and free() reading that word,
 * which glibc's free reads anyway, before the filter) took those misses
 * away, and the time did not move: under perf the time in free() (cprof's
 * wrapper and glibc's together) stayed at 8% of the program's, only
 * moving into the wrapper with the size word's miss.  Not kept.
 * Exact 16-bit counts behind the bits (128 KiB a region, touched only by writers)
 * decide when a bit may clear.  A filter word covers 4 KiB of address
 * space (64 lines), and the live-set shard of a pointer is chosen by the
 * same address bits (heap_shard_of_ptr: a function of the filter word), so
 * every pointer whose bit sits in a given word belongs to one shard, and
 * the word and its counts change only under that shard's lock, in the
 * same critical section as the table.  A bit is therefore never cleared
 * while its count is non-zero (an unlocked add racing a remove could do
 * that, and the pointer's free would be missed), and a sample takes no
 * lock but its shard's: a global filter lock was one more cache line
 * passed between the cores at every sampled allocation and free.  A
 * count that saturates stays (false positives only).  Both arrays are in
 * .bss: usable before init, pages mapped as they are touched.
 *
 * Regions.  The filter and the shards are split in eight by the
 * pointer's 64 MiB block of address space (its number modulo 8).  glibc
 * gives each thread (up to eight per core) a heap of its own, 64 MiB and
 * aligned to it, mapped next to the previous one, so two threads' samples
 * and sampled frees mostly write different filter lines, count lines and
 * shards.  With one filter for all, every bit a thread
 * set or cleared was on a line the other threads' frees read, and every
 * shard was written by all of them: lines passed between the cores at
 * each sample and each sampled free, 55 to 190 ns each on the two-core
 * machine the benchmarks run on, depending on where its two virtual CPUs
 * sit.  Memory that is not a per-thread heap (the main heap, mmap'd
 * blocks, other allocators) is spread over the regions by its address as
 * before.  A free still reads one word: its region's, 8 KiB per region.
 *
 * A pointer can only be in the table while the program owns it, so a free()
 * never races with the insert of the same pointer; the seqlock protects the
 * probe against other pointers moving (backward-shift deletion, growth).
 * Old shard arrays are never unmapped (a reader may still be probing one);
 * growth doubles, so retired arrays cost at most as much as the live ones.
 *
 * Peak.  The sampled in-use heap is kept as one estimate, in_use: the sum,
 * over live sampled allocations, of their unbiased byte weights (s/p(s),
 * sampler.h).  A sampled allocation adds its weight, the free of a
 * sampled pointer subtracts it, so in_use is what the inuse_space total of a
 * heap profile written now would show (up to rounding).  The peak array
 * holds a copy of every bucket's sums (allocated, freed) taken at a
 * high point of in_use, by the thread that found it, under peak_lock:
 *  - a sampled allocation that takes in_use more than 1/16 above the
 *    level of the last copy copies (the heap is still growing: the copy
 *    stays at most 1/16 behind it);
 *  - a sampled free from a level more than 1/64 above the last copy
 *    copies (the heap was at a new high and starts to fall: a local
 *    maximum, which is where a heap that grows and shrinks peaks).
 * The peak profile is the heap profile made from that copy: the heap as
 * it was at the highest in_use seen since the start, to within 1/64 once
 * the heap has fallen from it (1/16 while it is still rising), with only
 * the buckets that had memory in use then (a program that churns through
 * many stacks and sizes holds few of them at any moment, and a sample per
 * bucket would double the size of every dump set for nothing the heap
 * profile does not already show).  tcmalloc's
 * peak heap tracker copies its live samples in the same way at each rise
 * of 1/10 (peak_sampling_heap_growth_fraction), on allocation only.
 * Cost: on the sample path and on the free of a sampled pointer, one
 * atomic add and one load on a line of their own.  A copy is O(buckets)
 * and each is at least 1/64 above the previous, so copies number at most
 * log(max in_use / first sample) / log(65/64): about 640 for a heap that
 * grows from one sample at 512 KiB to 10 GiB, fewer in practice (a
 * steady heap makes none).  Copies are made on program threads in normal
 * context (never in a signal handler), with no other cprof lock held.
 * A copy is not atomic with respect to other threads' samples made
 * meanwhile: each bucket's sums are read as the dump reads them (the
 * freed first), so it is always a valid heap profile.
 *
 * Contexts: all functions run on program threads in normal context, from
 * the allocation hooks' slow paths with the guard held, or on the dump
 * thread (heap_foreach_bucket, heap_foreach_peak).  No signal handler
 * touches these tables.  Every shard lock, every bucket table's lock and
 * peak_lock are taken around fork.
 */
#ifndef CPROF_HEAPPROF_H
#define CPROF_HEAPPROF_H

#include <stdatomic.h>
#include "common.h"
#include "lock.h"

#define HEAP_SHARDS 64

struct heap_shard {
	atomic_uint seq;        /* odd while a writer modifies the shard */
	atomic_uint live;       /* entries in this shard */
	spinlock_t lock;
	_Atomic uintptr_t arr;  /* (key, bucket id) slots | log2 of their number (heapprof.c) */
} __attribute__((aligned(CPROF_CACHELINE)));

extern struct heap_shard heap_shards[HEAP_SHARDS] __attribute__((visibility("hidden")));

/* The filter and the shards are split into regions by the pointer's
 * 64 MiB block of address space (see above): 2^16 bits and 8 shards per
 * region, 8 regions. */
#define HEAP_REGION_BITS 3
#define HEAP_REGION_SHIFT 26  /* 64 MiB: glibc's per-thread heaps' size and alignment */
#define HEAP_FILTER_BITS 16   /* bits per region */
#define HEAP_FILTER_ALL_BITS (HEAP_FILTER_BITS + HEAP_REGION_BITS)
#define HEAP_FILTER_GRAIN 6   /* 64-byte granules (see above) */
extern uint64_t heap_filter[(1u << HEAP_FILTER_ALL_BITS) / 64] __attribute__((visibility("hidden")));

/* p's bit: its region (the low bits of its 64 MiB block's number, so
 * consecutive blocks, as glibc maps its heaps, fall in different
 * regions), then its 64-byte line within the region, modulo 2^16.  Two
 * shifts and masks: every free() computes it. */
CPROF_INLINE uint32_t heap_filter_index(uintptr_t p)
{
	const uint32_t line = (1u << HEAP_FILTER_BITS) - 1;
	const uint32_t region = ((1u << HEAP_REGION_BITS) - 1) << HEAP_FILTER_BITS;
	return ((uint32_t)(p >> (HEAP_REGION_SHIFT - HEAP_FILTER_BITS)) & region) |
	       ((uint32_t)(p >> HEAP_FILTER_GRAIN) & line);
}

/* Is the filter bit of pointer p set? (one load, usually cached) */
CPROF_INLINE bool heap_filter_hit(uintptr_t p)
{
	uint32_t i = heap_filter_index(p);
	return (__atomic_load_n(&heap_filter[i >> 6], __ATOMIC_RELAXED) >> (i & 63)) & 1;
}

/* Fibonacci hashing of a pointer: allocations are 16-byte aligned, and a
 * multiply spreads the remaining bits over the top ones (the slot within
 * a shard's table). */
CPROF_INLINE uint64_t heap_ptr_hash(uintptr_t p)
{
	return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ULL;
}

/* The shard that owns p's filter word (see above), a function of the word
 * alone: the word's region's eighth shard chosen by the word's index
 * modulo 8, so consecutive 4 KiB of a region go to consecutive shards of
 * that region, and a region's words never share a shard with another's. */
CPROF_INLINE struct heap_shard *heap_shard_of_ptr(uintptr_t p)
{
	uint32_t word = heap_filter_index(p) >> 6;
	uint32_t per = HEAP_SHARDS >> HEAP_REGION_BITS;
	return &heap_shards[(word >> (HEAP_FILTER_BITS - 6)) * per + (word & (per - 1))];
}

/* Bucket tables (see above): a bucket id's low bits are its table. */
#define HEAP_TABLE_BITS 4
#define HEAP_TABLES (1u << HEAP_TABLE_BITS)

/* The buckets that exist at one moment, numbered 1..total, table after
 * table: heap_census_index() of a bucket id is its number, or 0 for a
 * bucket made after the census. */
struct heap_census {
	uint32_t n[HEAP_TABLES];   /* buckets of each table */
	uint32_t off[HEAP_TABLES]; /* numbers before each table's */
	uint32_t total;
};
void heap_census_take(struct heap_census *c);

CPROF_INLINE uint32_t heap_census_index(const struct heap_census *c, uint32_t id)
{
	uint32_t t = id & (HEAP_TABLES - 1), n = id >> HEAP_TABLE_BITS;
	return n && n <= c->n[t] ? c->off[t] + n : 0;
}

/* Slow part of the lookup: the shard has entries. */
bool heap_lookup_slow(struct heap_shard *s, uintptr_t key);

/*
 * Fast check made by every free(): is p possibly a live sampled pointer?
 * False means certainly not (the common case, no shared writes).
 */
CPROF_INLINE bool heap_maybe_live(const void *p)
{
	if (likely(!heap_filter_hit((uintptr_t)p)))
		return false;
	return heap_lookup_slow(heap_shard_of_ptr((uintptr_t)p), (uintptr_t)p);
}

int heap_init(uint64_t rate);

/* Set the filter bits of [p, p + n) for good (the boot pool's blocks, so
 * that free() takes its slow path for them). */
void heap_filter_mark(const void *p, size_t n);

/* A sampled allocation of `size` bytes at p: capture the caller's stack,
 * charge its bucket, remember p.  Caller holds the guard. */
void heap_record_alloc(void *p, size_t size);

/* A live sample as the live table holds it: bucket id in the low 32
 * bits, size in the high 32 (UINT32_MAX: the bucket's class, see
 * above); 0: not a sample. */
typedef uint64_t heap_live_t;

/* Remove p from the live set if it is there; returns its entry (0 if p
 * was not sampled).  heap_forget() then counts the free; heap_restore()
 * puts p back (a realloc that failed). */
heap_live_t heap_take(void *p);
void heap_forget(heap_live_t e);
void heap_restore(void *p, heap_live_t e);

/* The bucket key of an allocation of s bytes (see above). */
CPROF_INLINE uint64_t heap_size_class(uint64_t s)
{
	if (s < 256 || s >= UINT32_MAX)
		return s;
	return s & ~(((uint64_t)1 << (60 - __builtin_clzll(s))) - 1);
}

/* A bucket's sums over a set of samples (see above). */
struct heap_counts {
	uint64_t samples;       /* raw count */
	uint64_t bytes;         /* raw: the sampled sizes' sum */
	uint64_t objects;       /* unbiased, SAMPLER_OBJ_ONE per object (sampler.h) */
	uint64_t space;         /* unbiased bytes */
};

struct heap_bucket_view {
	uint32_t id;        /* never 0, stable for the process's life (see above) */
	uint32_t stack;
	uint64_t size;      /* the mean sampled size: alloc.bytes / alloc.samples */
	uint32_t labels;    /* label set of the allocating thread (labels.h) */
	struct heap_counts alloc;  /* sampled allocations */
	struct heap_counts freed;  /* of those, freed since */
};
typedef void (*heap_bucket_fn)(const struct heap_bucket_view *b, void *arg);
void heap_foreach_bucket(heap_bucket_fn fn, void *arg);
/* Every bucket that had sampled memory in use at the peak of the sampled
 * in-use heap (see above), with its counts then; fn runs with peak_lock
 * held.  Returns
 * false, calling nothing, when no peak was recorded (no sample yet).
 * *bytes and *real_ns (either may be NULL) get the estimated in-use bytes
 * at the peak and when it was recorded (CLOCK_REALTIME). */
bool heap_foreach_peak(heap_bucket_fn fn, void *arg, uint64_t *bytes, int64_t *real_ns);
/* Has a peak been recorded? */
bool heap_peak_recorded(void);
/* The current estimate of in-use bytes (see above). */
int64_t heap_inuse_estimate(void);
/* Buckets made so far. */
uint32_t heap_bucket_count(void);
uint64_t heap_rate(void);
/* Sampled pointers currently tracked (for tests and the index page). */
uint64_t heap_live_count(void);


#endif
