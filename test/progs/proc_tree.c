/*
 * proc_tree - a tree of short-lived processes, as a build or a test suite
 * makes: the root starts MIDS processes at once; each runs LEAVES leaves
 * one after the other.  Most leaves are /bin/true, which does nothing; one
 * in BUSY_EVERY is BUSY_EXE (a copy of this program, so its files carry
 * another name), which burns about 40 ms of CPU in busy_leaf and
 * allocates 8 MiB in alloc_leaf: enough for CPU and heap samples at the
 * default rates.
 *
 * usage: proc_tree MIDS LEAVES BUSY_EVERY BUSY_EXE
 *        proc_tree mid LEAVES BUSY_EVERY BUSY_EXE   (started by the root)
 *        proc_tree busy                            (a busy leaf)
 * Each mid prints "true PID" or "busy PID" for every leaf it started and
 * "mid PID" for itself; the root prints "root PID" and, once every process
 * ended with status 0, "processes N".  Exits 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile double sink;

static void say(const char *what, long pid)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s %ld\n", what, pid);
	/* One write per line: lines of concurrent processes do not mix. */
	if (write(1, line, (size_t)n) != n)
		_exit(3);
}

__attribute__((noinline)) static void busy_leaf(void)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			sink += i * 0.5;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 40000000L);
}

__attribute__((noinline)) static void alloc_leaf(void)
{
	for (int i = 0; i < 128; i++) {
		char *p = malloc(65536);
		if (!p)
			exit(2);
		memset(p, i, 65536);
		sink += p[i];
		free(p);
	}
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int ok(pid_t pid)
{
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int mid(int leaves, int busy_every, char *busy_exe)
{
	int failed = 0;
	say("mid", (long)getpid());
	for (int i = 0; i < leaves; i++) {
		int busy = busy_every > 0 && i % busy_every == 0;
		char *true_argv[] = {"/bin/true", NULL};
		char *busy_argv[] = {busy_exe, "busy", NULL};
		pid_t pid = spawn(busy ? busy_argv : true_argv);
		say(busy ? "busy" : "true", (long)pid);
		failed += !ok(pid);
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "busy") == 0) {
		busy_leaf();
		alloc_leaf();
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "mid") == 0)
		return mid(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (argc != 5) {
		fprintf(stderr, "usage: proc_tree MIDS LEAVES BUSY_EVERY BUSY_EXE\n");
		return 2;
	}
	int mids = atoi(argv[1]), failed = 0;
	pid_t *pids = calloc((size_t)mids, sizeof(pid_t));
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!pids || n <= 0)
		return 2;
	self[n] = '\0';
	say("root", (long)getpid());
	for (int i = 0; i < mids; i++) {
		char *mid_argv[] = {self, "mid", argv[2], argv[3], argv[4], NULL};
		pids[i] = spawn(mid_argv);
	}
	for (int i = 0; i < mids; i++)
		failed += !ok(pids[i]);
	if (failed)
		return 1;
	say("processes", 1L + mids + (long)mids * atoi(argv[2]));
	return 0;
}
