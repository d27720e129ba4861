/*
 * spawn - run a command and report its resource usage.
 *
 * The harness starts every benchmark process through this small program
 * instead of forking it from Python directly.  The reason is peak memory:
 * Linux keeps a process's ru_maxrss high-water mark across execve, so a
 * child forked from the Python harness would report at least the harness's
 * own resident size (about 25 MiB), hiding what a profiler adds.  A child
 * of spawn starts from spawn's few hundred KiB instead.
 *
 * LD_PRELOAD is meant for the command, not for spawn: the harness passes it
 * as SPAWN_LD_PRELOAD, and spawn's child moves it back into LD_PRELOAD
 * before execve (a profiler preloaded into spawn would profile spawn, and
 * its files would pass for the command's).
 *
 * spawn forks, execs the command, waits for it with wait4 and writes one
 * JSON line to RESULT_FILE:
 *   {"status": S, "maxrss_kb": K, "utime": U, "stime": T, "nivcsw": N,
 *    "end_ns": E}
 * S is the wait status, U and T seconds of CPU time (the command and the
 * descendants it waited for), E the CLOCK_MONOTONIC time when wait4
 * returned.  spawn then exits with the command's exit status (128 + signal
 * if it was killed); 127 if the command could not be executed.
 *
 * usage: spawn RESULT_FILE COMMAND [ARG...]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn RESULT_FILE COMMAND [ARG...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("spawn: fork");
		return 127;
	}
	if (pid == 0) {
		const char *preload = getenv("SPAWN_LD_PRELOAD");
		if (preload) {
			setenv("LD_PRELOAD", preload, 1);
			unsetenv("SPAWN_LD_PRELOAD");
		}
		execvp(argv[2], argv + 2);
		fprintf(stderr, "spawn: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("spawn: wait4");
			return 127;
		}
	}
	int64_t end = bench_now_ns();
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror("spawn: result file");
		return 127;
	}
	fprintf(f, "{\"status\": %d, \"maxrss_kb\": %ld, \"utime\": %.6f, \"stime\": %.6f, "
		   "\"nivcsw\": %ld, \"minflt\": %ld, \"end_ns\": %lld}\n",
		status, ru.ru_maxrss, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_nivcsw, ru.ru_minflt,
		(long long)end);
	fclose(f);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
