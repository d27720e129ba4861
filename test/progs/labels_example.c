/*
 * labels_example - profiler labels from C (docs/profiles.md, "Labels").
 *
 * A toy server handles two kinds of request; each kind runs under its own
 * label set, so `go tool pprof -tagfocus=handler=search` shows only the
 * search requests' CPU time and memory, though both kinds call the same
 * functions.  Builds with the header alone (cc -I$PREFIX/include); run
 * without libcprof.so, the label calls do nothing.
 *
 *     LD_PRELOAD=libcprof.so CPROF_OUTPUT=%e.%t.pb.gz labels_example
 *     go tool pprof -tags labels_example.cpu.pb.gz
 *     go tool pprof -top -tagfocus=handler=search labels_example.cpu.pb.gz
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cprof.h>

static volatile unsigned long sink;

/* The work both kinds of request share. */
__attribute__((noinline)) static void parse(int n)
{
	unsigned char *buf = malloc(4096);
	unsigned long h = 5381;
	memset(buf, n, 4096);
	for (int i = 0; i < n * 100; i++)
		h = h * 33 + buf[i % 4096];
	sink += h;
	free(buf);
}

static void handle(cprof_labels_t handler, int cost)
{
	/* Current for this thread until restored: every sample taken
	 * meanwhile (CPU, allocations, lock waits) carries the labels. */
	cprof_labels_t prev = cprof_labels_set(handler);
	parse(cost);
	cprof_labels_set(prev);
}

int main(void)
{
	/* Intern each set once: the handle names it for the life of the
	 * process, and setting it is a thread-local store. */
	const char *search[] = {"handler", "search", "tier", "web"};
	const char *upload[] = {"handler", "upload", "tier", "web"};
	cprof_labels_t h_search = cprof_labels_intern(search, 2);
	cprof_labels_t h_upload = cprof_labels_intern(upload, 2);

	/* Requests of varying size, searches three times the work of an
	 * upload on average (work in a fixed rhythm would line up with the
	 * CPU timer's ticks and skew a short profile). */
	unsigned r = 12345;
	for (int i = 0; i < 20000; i++) {
		r = r * 1103515245u + 12345u;
		int jitter = (int)((r >> 16) % 101) - 50;   /* -50 .. 50 */
		handle(h_search, 300 + 3 * jitter);
		handle(h_upload, 100 - jitter);
	}
	printf("labels %s\n", h_search ? "on" : "off (libcprof.so not loaded)");
	return 0;
}
