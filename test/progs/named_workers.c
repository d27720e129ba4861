/*
 * named_workers - named threads that burn CPU and end before the profile
 * is written.
 *
 * Workers run two at a time; each names itself ("worker-N", with
 * pthread_setname_np for even N and prctl(PR_SET_NAME) for odd N, which
 * cprof does not see being called), burns `ms` milliseconds of its own CPU
 * time in worker_burn and ends.  Every CPU sample of a worker must carry
 * its name, including the samples it took just before it ended.
 *
 * Prints JSON: {"workers": ["worker-0", ...], "cpu_ns": {"worker-0": N, ...}}.
 * usage: named_workers [workers] [ms]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static int ms = 200;
static long long cpu_ns[64];
static volatile double sink;

static long long thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void worker_burn(long long until)
{
	double x = sink;
	do {
		for (int i = 0; i < 100000; i++)
			x = x * 1.0000001 + 0.5;
	} while (thread_cpu() < until);
	sink = x;
}

static void *worker(void *arg)
{
	long n = (long)arg;
	char name[16];
	snprintf(name, sizeof(name), "worker-%ld", n);
	if (n % 2 == 0)
		pthread_setname_np(pthread_self(), name);
	else
		prctl(PR_SET_NAME, name, 0, 0, 0);
	worker_burn(thread_cpu() + ms * 1000000LL);
	cpu_ns[n] = thread_cpu();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	if (argc > 2)
		ms = atoi(argv[2]);
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i += 2) {
		pthread_t th[2];
		int m = n - i < 2 ? 1 : 2;
		for (int k = 0; k < m; k++)
			pthread_create(&th[k], NULL, worker, (void *)(long)(i + k));
		for (int k = 0; k < m; k++)
			pthread_join(th[k], NULL);
	}
	printf("{\"workers\": [");
	for (int i = 0; i < n; i++)
		printf("%s\"worker-%d\"", i ? ", " : "", i);
	printf("], \"cpu_ns\": {");
	for (int i = 0; i < n; i++)
		printf("%s\"worker-%d\": %lld", i ? ", " : "", i, cpu_ns[i]);
	printf("}}\n");
	return 0;
}
