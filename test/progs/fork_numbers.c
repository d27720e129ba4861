/*
 * fork_numbers - dump numbers (%n) in a forked child.
 *
 * The parent writes two dumps (cprof_dump, found with dlsym when cprof is
 * preloaded), then forks; the child writes one dump and exits normally
 * (its exit dump is its second), then the parent exits (its third).  A
 * child's numbers start at 1, as in any process: the files are
 * parent 1, 2, 3 and child 1, 2.  Prints "parent PID child PID status S".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int (*dump)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "cprof_dump");
	if (!dump) {
		printf("cprof_dump not found\n");
		return 2;
	}
	free(malloc(100));
	dump();
	dump();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		free(malloc(100));
		dump();
		exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	printf("parent %d child %d status %d\n", (int)getpid(), (int)pid, status);
	return 0;
}
