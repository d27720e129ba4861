/*
 * closefrom_cpu - a daemon's start: close every inherited descriptor
 * (closefrom(3)), open two files of its own (they take 3 and 4), then
 * burn CPU in a recursion, rec(), for SECONDS.  At the end, are both
 * descriptors still the files it opened?  libunwind keeps a pipe on the
 * first free numbers and, when a write to it fails, closes the numbers it
 * recorded: a profiler that lets it do so closes the program's files.
 *
 * usage: closefrom_cpu DIR [seconds]
 * Prints "fds A B; a same|CHANGED, b same|CHANGED".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

__attribute__((noinline)) static void rec(int d)
{
	if (d) {
		rec(d - 1);
		sink++;
	} else {
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
	}
}

static const char *same(int fd, const struct stat *before)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_ino == before->st_ino ? "same" : "CHANGED";
}

int main(int argc, char **argv)
{
	char pa[4096], pb[4096];
	struct stat sa, sb;
	if (argc < 2)
		return 2;
	double secs = argc > 2 ? atof(argv[2]) : 2;
	snprintf(pa, sizeof(pa), "%s/a", argv[1]);
	snprintf(pb, sizeof(pb), "%s/b", argv[1]);
	closefrom(3);
	int a = open(pa, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	int b = open(pb, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (a < 0 || b < 0 || fstat(a, &sa) != 0 || fstat(b, &sb) != 0)
		return 2;
	double end = now() + secs;
	while (now() < end)
		rec(50);
	printf("fds %d %d; a %s, b %s\n", a, b, same(a, &sa), same(b, &sb));
	return 0;
}
