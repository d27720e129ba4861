/*
 * cprof.h - the public API of libcprof.so: profiler labels.
 *
 * Installed as $(PREFIX)/include/cprof.h by `make install`; a program
 * includes it and needs nothing else at build or link time.  Every
 * function is declared weak: in a process without libcprof.so loaded
 * (LD_PRELOAD) the calls below do nothing and return 0, and the program
 * runs exactly as it would without them.  This is the pattern of
 * heaptrack's heaptrack_api.h.
 *
 * Labels are key=value string pairs attached to the samples a thread takes
 * while a label set is current on it (Go's pprof.Do / SetGoroutineLabels).
 * They appear as pprof sample labels on CPU, heap, mutex, block and
 * threads samples: `go tool pprof -tagfocus=handler=login -top`, `-tags`.
 *
 *     static cprof_labels_t login;
 *     if (!login) {
 *         const char *kv[] = {"handler", "login", "tier", "web"};
 *         login = cprof_labels_intern(kv, 2);   // 2 pairs
 *     }
 *     cprof_labels_t prev = cprof_labels_set(login);
 *     handle_login(req);                        // samples carry both labels
 *     cprof_labels_set(prev);
 *
 * Interning copies the strings into cprof's own memory once and returns a
 * handle (a small integer) that names the set for the life of the
 * process; the same pairs in any order give the same handle.  Setting a
 * handle is a thread-local store (a few nanoseconds), so intern each set
 * once, not per request: there is room for 65,536 distinct sets (beyond
 * that, intern returns 0), so labels should have a bounded number of
 * values (a handler name, a tenant tier), not one per request.
 *
 * Rules (docs/profiles.md, "Labels"):
 *  - A set holds at most CPROF_LABELS_MAX pairs; keys and values are
 *    non-empty strings of at most 255 bytes.  A later pair with the same
 *    key replaces an earlier one.  Keys cprof itself puts on samples
 *    (thread, tid, bytes, cprof_lost) are left out of a set.
 *  - Handle 0 is the empty set: cprof_labels_set(0) clears the labels.
 *  - A set is per thread: a new thread starts with none.
 *
 * Calls are safe from any thread, at any time (before cprof started, in
 * the child of a fork); cprof_labels_set and cprof_labels_get are also
 * async-signal-safe.  Build the program as a position-independent
 * executable (Debian's default) or a shared library, so that the weak
 * references are bound when libcprof.so is preloaded.
 */
#ifndef CPROF_PUBLIC_H
#define CPROF_PUBLIC_H

#ifdef __cplusplus
extern "C" {
#endif

/* A label set interned by cprof_labels_intern; 0 is the empty set. */
typedef unsigned int cprof_labels_t;

#define CPROF_LABELS_MAX 16

#ifdef CPROF_BUILDING_LIBRARY
#define CPROF_API_ __attribute__((visibility("default")))
#else
#define CPROF_API_ __attribute__((weak))
#endif

/* The set of n key/value pairs kv[0]=kv[1], kv[2]=kv[3], ...; 0 when cprof
 * is not loaded, n is 0 or the table is full. */
CPROF_API_ cprof_labels_t cprof_labels_intern(const char *const *kv, int n);

/* The set `base` with the n pairs of kv added (replacing base's values of
 * the same keys): Go's pprof.WithLabels. */
CPROF_API_ cprof_labels_t cprof_labels_with(cprof_labels_t base, const char *const *kv, int n);

/* Make `set` current on the calling thread; returns the set it replaces,
 * to be restored when the labelled work ends. */
CPROF_API_ cprof_labels_t cprof_labels_set(cprof_labels_t set);

/* The calling thread's current set. */
CPROF_API_ cprof_labels_t cprof_labels_get(void);

#undef CPROF_API_

#ifndef CPROF_BUILDING_LIBRARY
/* Each call goes to libcprof.so when it is loaded and is a no-op returning
 * 0 otherwise (a macro does not expand inside its own expansion, and a
 * parenthesised name is not a macro call, so these reach the functions). */
#define cprof_labels_intern(kv, n) (cprof_labels_intern ? (cprof_labels_intern)((kv), (n)) : 0u)
#define cprof_labels_with(base, kv, n) \
	(cprof_labels_with ? (cprof_labels_with)((base), (kv), (n)) : 0u)
#define cprof_labels_set(set) (cprof_labels_set ? (cprof_labels_set)(set) : 0u)
#define cprof_labels_get() (cprof_labels_get ? (cprof_labels_get)() : 0u)
#endif

#ifdef __cplusplus
}
#endif

#endif
