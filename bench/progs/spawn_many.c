/*
 * spawn_many - the per-process cost of a profiler on a short command.
 *
 * Runs COMMAND 2 * PAIRS times, one process after the other, alternating
 * bare and profiled runs (bare, profiled, bare, ...), so each profiled run
 * has a bare neighbour made moments before it.  The profiler comes as
 * SPAWN_MANY_PRELOAD, which becomes LD_PRELOAD for the profiled runs only;
 * every other variable (CPROF_*) reaches both kinds of run (a bare run
 * ignores them).  Each run is timed from just before fork to the return of
 * wait4, and its CPU time (user + system) comes from wait4's rusage.
 *
 * Prints one JSON line: the medians, over the runs, of bare and profiled
 * wall and CPU times per process, and the median of the paired
 * differences (profiled minus its bare neighbour), in seconds.
 *
 * usage: spawn_many PAIRS COMMAND [ARG...]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int run(char **argv, const char *preload, double *wall, double *cpu)
{
	int64_t t0 = bench_now_ns();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	*wall = (bench_now_ns() - t0) / 1e9;
	*cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn_many PAIRS COMMAND [ARG...]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	const char *preload = getenv("SPAWN_MANY_PRELOAD");
	if (n < 1 || !preload) {
		fprintf(stderr, "spawn_many: PAIRS >= 1 and SPAWN_MANY_PRELOAD needed\n");
		return 2;
	}
	preload = strdup(preload);
	unsetenv("SPAWN_MANY_PRELOAD");
	unsetenv("LD_PRELOAD");
	double *v = calloc((size_t)n * 6, sizeof(double));
	if (!v)
		return 2;
	double *bw = v, *bc = v + n, *pw = v + 2 * n, *pc = v + 3 * n, *dw = v + 4 * n, *dc = v + 5 * n;
	for (int i = 0; i < n; i++) {
		if (run(argv + 2, NULL, &bw[i], &bc[i]) != 0 ||
		    run(argv + 2, preload, &pw[i], &pc[i]) != 0) {
			fprintf(stderr, "spawn_many: %s failed\n", argv[2]);
			return 1;
		}
		dw[i] = pw[i] - bw[i];
		dc[i] = pc[i] - bc[i];
	}
	printf("{\"pairs\": %d, \"bare_wall\": %.9f, \"bare_cpu\": %.9f, \"wall\": %.9f, "
	       "\"cpu\": %.9f, \"diff_wall\": %.9f, \"diff_cpu\": %.9f}\n",
	       n, bench_median(bw, n), bench_median(bc, n), bench_median(pw, n), bench_median(pc, n),
	       bench_median(dw, n), bench_median(dc, n));
	return 0;
}
