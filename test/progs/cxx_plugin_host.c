/*
 * cxx_plugin_host - a C program, not linked with libstdc++, that loads the
 * C++ plugin libcxxplugin.so with RTLD_LOCAL (as python3 loads an extension
 * module), calls it, unloads it, and does it again.  Prints what the plugin
 * returns; the output must be the same with and without cprof.
 *
 * With "probe", it also calls operator new and delete found with
 * dlsym(RTLD_DEFAULT): before the plugin is loaded (no C++ runtime in the
 * process; only cprof's operators exist) and while it is loaded.  Each
 * probe allocates PROBE_BYTES at probe_alloc.  It prints the same line
 * whether or not the operators exist.
 *
 * With "threads", 8 threads do all of that at once, 10 times each, starting
 * together (the first calls race into cprof's resolution of the
 * operators), and one line sums up.
 *
 * usage: cxx_plugin_host [probe|threads]
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_BYTES 1000

typedef void *(*new_fn)(size_t);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void (*del_fn)(void *);
typedef void (*del_al_fn)(void *, size_t);

__attribute__((noinline)) static char *probe_alloc(new_fn nw)
{
	return nw(PROBE_BYTES);
}

static const char *try_operators(void)
{
	new_fn nw = (new_fn)dlsym(RTLD_DEFAULT, "_Znwm");
	del_fn del = (del_fn)dlsym(RTLD_DEFAULT, "_ZdlPv");
	new_al_fn nw_al = (new_al_fn)dlsym(RTLD_DEFAULT, "_ZnwmSt11align_val_t");
	del_al_fn del_al = (del_al_fn)dlsym(RTLD_DEFAULT, "_ZdlPvSt11align_val_t");
	const char *result = "ok";

	if (nw && del) {
		char *p = probe_alloc(nw);
		if (!p)
			result = "operator new returned NULL";
		else {
			memset(p, 1, PROBE_BYTES);
			del(p);
		}
	}
	if (nw_al && del_al) {
		char *p = nw_al(100, 256);
		if (!p || (uintptr_t)p % 256)
			result = "aligned operator new failed";
		else {
			memset(p, 2, 100);
			del_al(p, 256);
		}
	}
	return result;
}

static void probe(const char *when)
{
	printf("probe %s: %s\n", when, try_operators());
}

static char plugin_path[4096];
static pthread_barrier_t start_line;

/* Load, run and unload the plugin; NULL on success, else what failed. */
static const char *use_plugin(char *buf, size_t len)
{
	void *h = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return "dlopen";
	long (*run)(int, char *, size_t) = (long (*)(int, char *, size_t))dlsym(h, "cxxplugin_run");
	if (!run)
		return "dlsym";
	run(1000, buf, len);
	return dlclose(h) ? "dlclose" : NULL;
}

static void *racer(void *arg)
{
	long bad = 0;
	char buf[256];
	(void)arg;
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < 10; i++) {
		bad += strcmp(try_operators(), "ok") != 0;
		const char *err = use_plugin(buf, sizeof(buf));
		bad += err != NULL || !strstr(buf, "caught 2 nothrow-null 1 aligned 1");
	}
	return (void *)bad;
}

static int threads(void)
{
	pthread_t th[8];
	long bad = 0;
	pthread_barrier_init(&start_line, NULL, 8);
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, racer, NULL);
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += (long)r;
	}
	printf("threads: 8 x 10 rounds, %ld failed\n", bad);
	return bad != 0;
}

int main(int argc, char **argv)
{
	int probing = argc > 1 && !strcmp(argv[1], "probe");
	char *path = plugin_path;
	snprintf(path, sizeof(plugin_path), "%s", argv[0]);
	char *slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof(plugin_path) - (size_t)(slash ? slash + 1 - path : 0),
		 "libcxxplugin.so");

	/* Proof that the host itself brings no C++ runtime. */
	printf("libstdc++ loaded at start: %s\n",
	       dlopen("libstdc++.so.6", RTLD_NOLOAD | RTLD_LAZY) ? "yes" : "no");
	if (argc > 1 && !strcmp(argv[1], "threads"))
		return threads();
	if (probing)
		probe("before loading");
	for (int round = 1; round <= 2; round++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		long (*run)(int, char *, size_t) = (long (*)(int, char *, size_t))dlsym(h, "cxxplugin_run");
		if (!run) {
			fprintf(stderr, "dlsym: %s\n", dlerror());
			return 1;
		}
		char buf[256];
		run(1000, buf, sizeof(buf));
		printf("round %d: %s\n", round, buf);
		if (probing)
			probe("with the plugin");
		if (dlclose(h) != 0) {
			fprintf(stderr, "dlclose: %s\n", dlerror());
			return 1;
		}
	}
	printf("done\n");
	return 0;
}
