/*
 * common.h - compiler helpers shared by every cprof translation unit.
 *
 * cprof runs inside someone else's process.  Everything here exists to keep
 * that process safe: symbols are hidden unless marked CPROF_EXPORT, thread
 * state uses the initial-exec TLS model (no allocation on first access, safe
 * in signal handlers), and slow paths are kept out of line so the hot
 * wrappers stay a handful of instructions.
 */
#ifndef CPROF_COMMON_H
#define CPROF_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Symbols the program may bind to: the interposed functions and the public
 * API.  Everything else in the library is hidden (-fvisibility=hidden). */
#define CPROF_EXPORT __attribute__((visibility("default")))

/* Rarely taken paths: out of line, optimised for size, moved away from the
 * hot text. */
#define CPROF_COLD __attribute__((cold, noinline))
#define CPROF_NOINLINE __attribute__((noinline))
#define CPROF_INLINE static inline __attribute__((always_inline))
#define CPROF_TLS __thread __attribute__((tls_model("initial-exec")))
#define CPROF_UNUSED __attribute__((unused))
#define CPROF_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define CPROF_CACHELINE 64
#define CPROF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Maximum frames kept per stack (issue: "depth up to 64"). */
#define CPROF_MAX_DEPTH 64

/*
 * Synthetic program counters.  Real code never lives in the first page, so
 * small values stand for frames cprof invents to make losses visible in the
 * profile instead of dropping them silently.  The encoder turns each into a
 * function with the name below.
 */
enum cprof_synthetic_pc {
	CPROF_PC_LOST_SAMPLES = 1,   /* "cprof_lost_samples" */
	CPROF_PC_STACKTAB_FULL = 2,  /* "cprof_stack_table_full" */
	CPROF_PC_NO_STACK = 3,       /* "cprof_stack_unavailable" */
	CPROF_PC_THREAD_NO_REPLY = 4,/* "cprof_thread_did_not_answer" */
	CPROF_PC_PARTIAL_STACK = 5,  /* "cprof_partial_stack": the root of a stack known only in part */
	CPROF_PC_SYNTHETIC_MAX = 4096
};

/*
 * A table's address and capacity in one word, for open-addressing tables
 * published to readers that take no lock (intern.c's indexes, heapprof.c's
 * live-set arrays): the table is page-aligned, its capacity a power of
 * two, and log2 of it rides in the low six bits.  A reader loads the word
 * once and has both, from one line, consistent with each other.
 */
CPROF_INLINE uintptr_t cprof_sized_make(void *table, uint32_t cap)
{
	return (uintptr_t)table | (uintptr_t)__builtin_ctz(cap);
}

CPROF_INLINE void *cprof_sized_addr(uintptr_t w)
{
	return (void *)(w & ~(uintptr_t)63);
}

CPROF_INLINE uint32_t cprof_sized_mask(uintptr_t w)
{
	return (uint32_t)((UINT64_C(1) << (w & 63)) - 1);
}

static inline uint64_t cprof_hash64(uint64_t x)
{
	/* splitmix64 finaliser: cheap, well mixed, good for pointers whose low
	 * bits are constant. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif
