/*
 * libplugin.so - loaded and unloaded in a loop by dlopen_loop: burns CPU
 * in plugin_burn and allocates (and keeps) memory at plugin_alloc.
 */
#include <stdlib.h>
#include <string.h>

static volatile double sink;

__attribute__((noinline)) void *plugin_alloc(size_t n)
{
	char *p = malloc(n);
	memset(p, 9, n);
	return p;
}

__attribute__((noinline)) void plugin_burn(long n)
{
	double x = sink;
	for (long i = 0; i < n; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

void *plugin_work(long burn, size_t alloc)
{
	plugin_burn(burn);
	return plugin_alloc(alloc);
}
