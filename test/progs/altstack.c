/*
 * altstack - a program that runs its SIGSEGV handler on a small
 * alternate signal stack and recovers from deliberate faults with
 * siglongjmp, in a loop, while burning CPU (so profiling signals arrive
 * both on the normal stack and while the program is on its alternate one).
 * usage: altstack [faults]
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sigjmp_buf env;
static volatile double sink;

static void on_segv(int sig)
{
	(void)sig;
	double x = sink;
	for (int i = 0; i < 20000; i++) /* linger on the alternate stack */
		x = x * 1.0000001 + 1;
	sink = x;
	siglongjmp(env, 1);
}

__attribute__((noinline)) void fault(void)
{
	*(volatile int *)8 = 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	stack_t ss;
	ss.ss_sp = malloc(SIGSTKSZ);
	ss.ss_size = SIGSTKSZ;
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	int recovered = 0;
	for (int i = 0; i < n; i++) {
		if (sigsetjmp(env, 1) == 0)
			fault();
		else
			recovered++;
	}
	printf("recovered %d\n", recovered);
	return recovered != n;
}
