/*
 * signal_reset - a program that sets SIGUSR2 and SIGPROF back to SIG_DFL,
 * as git and spawn libraries do in a child just before exec.  Setting the
 * default action is not installing a handler: cprof must not say it is.
 *
 *   signal_reset exec     fork; the child resets every signal with git's
 *                         loop (run-command.c) and execs `signal_reset
 *                         child`; the parent waits and prints the status
 *   signal_reset child    the exec'ed child: reports what it sees
 *   signal_reset stay     reset SIGUSR2 and SIGPROF, burn CPU, exit 0: the
 *                         program keeps its reset for its whole life
 *   signal_reset raise    reset SIGUSR2, then raise it: the default action
 *                         (death by SIGUSR2), as without cprof
 *   signal_reset vfork    as exec, from a vfork child, which shares the
 *                         parent's memory until it execs; then the parent
 *                         burns CPU in burn_after (its CPU profile must
 *                         go on: the reset was the child's, not its own)
 *
 * Every mode prints what the program observed; the output is the same
 * with and without cprof.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile double sink;

static void burn(long n)
{
	double x = 0;
	for (long i = 0; i < n; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

__attribute__((noinline)) static void burn_after(void)
{
	burn(300000000);
}

static const char *disposition(int sig)
{
	struct sigaction old;
	sigaction(sig, NULL, &old);
	return old.sa_handler == SIG_DFL ? "default" : old.sa_handler == SIG_IGN ? "ignored" : "handled";
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "exec";

	if (strcmp(mode, "exec") == 0) {
		burn(20000000);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			/* git's start_command(): restore default handlers in case a
			 * signal arrives right before execve. */
			for (int sig = 1; sig < NSIG; sig++)
				if (signal(sig, SIG_DFL) == SIG_IGN)
					signal(sig, SIG_IGN);
			execl("/proc/self/exe", argv[0], "child", (char *)NULL);
			_exit(127);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		printf("parent: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return 0;
	}
	if (strcmp(mode, "vfork") == 0) {
		fflush(stdout);
		pid_t pid = vfork();
		if (pid == 0) {
			for (int sig = 1; sig < NSIG; sig++)
				if (signal(sig, SIG_DFL) == SIG_IGN)
					signal(sig, SIG_IGN);
			execl("/proc/self/exe", argv[0], "child", (char *)NULL);
			_exit(127);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		printf("parent: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		burn_after();
		return 0;
	}
	if (strcmp(mode, "child") == 0) {
		printf("child: usr2 %s, prof %s\n", disposition(SIGUSR2), disposition(SIGPROF));
		burn(20000000);
		return 0;
	}
	if (strcmp(mode, "stay") == 0) {
		signal(SIGUSR2, SIG_DFL);
		signal(SIGPROF, SIG_DFL);
		printf("stay: usr2 %s, prof %s\n", disposition(SIGUSR2), disposition(SIGPROF));
		burn(100000000);
		return 0;
	}
	if (strcmp(mode, "raise") == 0) {
		signal(SIGUSR2, SIG_DFL);
		printf("raise: usr2 %s\n", disposition(SIGUSR2));
		fflush(stdout);
		raise(SIGUSR2);
		printf("raise: still alive\n");
		return 0;
	}
	fprintf(stderr, "usage: signal_reset exec|child|stay|raise\n");
	return 2;
}
