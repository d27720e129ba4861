/*
 * chdir_daemon - changes directory after start (as daemons do), then
 * allocates and exits normally.  A relative CPROF_OUTPUT must still land
 * in the directory the program started in.  usage: chdir_daemon DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) void *daemon_site(size_t n)
{
	char *p = malloc(n);
	memset(p, 1, n);
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1]) != 0)
		return 2;
	for (int i = 0; i < 100; i++)
		daemon_site(1 << 16);
	printf("cwd changed\n");
	return 0;
}
