/*
 * signal_owner - a program that owns SIGUSR2 (like nginx) and SIGPROF.
 * It installs its own handlers in main, after cprof initialised, then
 * raises both signals and reports how many it received.  cprof must let it
 * have them (the program's handlers run, nothing is stolen) and its CPU
 * timers must never deliver a signal to the program's SIGPROF handler.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t usr2, prof, prof_timer;

static void on_usr2(int sig) { (void)sig; usr2++; }

static void on_prof(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	prof++;
	if (si->si_code == SI_TIMER)
		prof_timer++;
}

static volatile double sink;

int main(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, NULL, &old);
	printf("usr2 before: %s\n", old.sa_handler == SIG_DFL ? "default" : "handled");
	sigaction(SIGUSR2, &sa, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_prof;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGPROF, NULL, &old);
	printf("prof before: %s\n", old.sa_handler == SIG_DFL ? "default" : "handled");
	sigaction(SIGPROF, &sa, NULL);
	/* Burn CPU so any leftover timer would fire. */
	double x = 0;
	for (long i = 0; i < 300000000; i++)
		x = x * 1.0000001 + 1;
	sink = x;
	raise(SIGUSR2);
	raise(SIGPROF);
	printf("usr2 %d prof %d prof_timer %d\n", (int)usr2, (int)prof, (int)prof_timer);
	return !(usr2 == 1 && prof == 1 && prof_timer == 0);
}
