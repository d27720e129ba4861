/*
 * dlopen_loop - loads libplugin.so, uses it and unloads it, N times, with
 * RTLD_DEEPBIND if asked; other threads allocate meanwhile.  The memory
 * plugin_alloc returns is kept after the library is gone: the heap
 * profile must still name plugin_alloc (the unloaded library's mapping is
 * remembered).  usage: dlopen_loop N [deepbind]
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int stop;
static volatile unsigned char sink;

static void *churn(void *arg)
{
	(void)arg;
	while (!stop) {
		unsigned char *p = malloc(256);
		p[0] = 1;
		sink += p[0];
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	int flags = RTLD_NOW | (argc > 2 && !strcmp(argv[2], "deepbind") ? RTLD_DEEPBIND : 0);
	char path[4096];
	snprintf(path, sizeof(path), "%s", argv[0]);
	char *slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0), "libplugin.so");
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, churn, NULL);
	int ok = 0;
	for (int i = 0; i < n; i++) {
		void *h = dlopen(path, flags);
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		void *(*work)(long, size_t) = (void *(*)(long, size_t))dlsym(h, "plugin_work");
		void *kept = work(2000000, 100000);
		ok += kept != NULL;
		/* plugin memory freed by the program after unloading, half the time */
		if (dlclose(h) != 0)
			return 1;
		if (i % 2)
			free(kept);
	}
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("loaded %d times\n", ok);
	return 0;
}
