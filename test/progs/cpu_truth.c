/*
 * cpu_truth - functions burning CPU in known proportions on two threads.
 *
 * Thread 1 alternates burn_a (3 units) and burn_b (1 unit); thread 2 runs
 * burn_c (2 units).  The three functions run the same latency-bound loop,
 * so a unit costs the same CPU time in each.  Each thread reads its own CPU
 * time (CLOCK_THREAD_CPUTIME_ID) once, when it finishes, and splits it
 * between its functions by the units each ran.  At the end the program
 * prints, as JSON, each function's CPU nanoseconds and the process's total
 * CPU time from getrusage, the ground truth for the CPU profile written at
 * exit.
 *
 * Why not time every call: reading a CPU-time clock between the calls
 * changes where the kernel's per-thread CPU timers fire when the cores are
 * contended (burn_b then gets a third of its real share), so a program
 * that timed itself that way would measure the kernel, not the profiler.
 * See docs/profiles.md, "CPU".
 *
 * usage: cpu_truth [seconds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double seconds = 2.0;
static volatile double sink;
static long long units_done[3];
static long long spent[3];

static long long thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define UNIT 2000000L

#define BURN(name, idx)                                              \
	__attribute__((noinline)) void name(int units)               \
	{                                                            \
		double x = sink;                                     \
		for (long i = 0; i < units * UNIT; i++)              \
			x = x * 1.0000001 + 0.5;                     \
		sink = x;                                            \
		units_done[idx] += units;                            \
	}

BURN(burn_a, 0)
BURN(burn_b, 1)
BURN(burn_c, 2)

/* Split this thread's CPU time between functions first..last by units. */
static void settle(int first, int last)
{
	long long cpu = thread_cpu(), units = 0;
	for (int i = first; i <= last; i++)
		units += units_done[i];
	for (int i = first; i <= last; i++)
		spent[i] = units ? cpu * units_done[i] / units : 0;
}

static void *thread1(void *arg)
{
	double end = now() + seconds;
	(void)arg;
	while (now() < end) {
		burn_a(3);
		burn_b(1);
	}
	settle(0, 1);
	return NULL;
}

static void *thread2(void *arg)
{
	double end = now() + seconds;
	(void)arg;
	while (now() < end)
		burn_c(2);
	settle(2, 2);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t1, t2;
	if (argc > 1)
		seconds = atof(argv[1]);
	pthread_create(&t1, NULL, thread1, NULL);
	pthread_create(&t2, NULL, thread2, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long total = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
			  (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	printf("{\"burn_a\": %lld, \"burn_b\": %lld, \"burn_c\": %lld, \"rusage_ns\": %lld}\n",
	       spent[0], spent[1], spent[2], total);
	return 0;
}
