/*
 * libexitwatch.so - watches for profile files written after cprof's exit
 * dump.
 *
 * Its constructor runs before cprof's (the program links it; cprof is
 * preloaded) and registers its handler with no object handle
 * (__cxa_atexit(fn, NULL, NULL)), as cprof registers its exit dump: so it
 * runs after cprof's, that is after the exit dump (an atexit handler
 * would run with this library's finalisation, before it: see
 * preload/control/init.c).  When armed by the program (exitwatch_arm), the
 * handler counts the process's profile files in the current directory,
 * waits 50 ms and counts again, then prints the difference: files that
 * appeared then came from a dump started after the exit dump, one that
 * _exit could cut off halfway.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

static int armed;

void exitwatch_arm(void)
{
	armed = 1;
}

static int count_profiles(void)
{
	char prefix[64];
	int n = 0;
	snprintf(prefix, sizeof(prefix), "cprof.exit_dumps.%d.", (int)getpid());
	DIR *d = opendir(".");
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void watch(void)
{
	if (!armed)
		return;
	int before = count_profiles();
	struct timespec left = {0, 50000000};
	while (nanosleep(&left, &left) != 0)
		; /* dump requests keep interrupting it */
	printf("files at exit %d, written after the exit dump %d\n", before, count_profiles() - before);
	fflush(stdout);
}

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void watch_handler(void *arg)
{
	(void)arg;
	watch();
}

__attribute__((constructor)) static void exitwatch_init(void)
{
	__cxa_atexit(watch_handler, NULL, NULL);
}
