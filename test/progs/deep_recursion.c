/*
 * deep_recursion - 10,000 frames deep: allocates and burns CPU at the
 * bottom.  Stacks are truncated at cprof's maximum depth, nothing breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;
static void *kept[100];

__attribute__((noinline)) void bottom(int k)
{
	kept[k % 100] = malloc(100000);
	memset(kept[k % 100], 1, 100000);
	double x = sink;
	for (long i = 0; i < 3000000; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

__attribute__((noinline)) int recurse(int depth, int k)
{
	if (depth == 0) {
		bottom(k);
		return 0;
	}
	return recurse(depth - 1, k) + 1;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 10000;
	int total = 0;
	for (int k = 0; k < 100; k++)
		total += recurse(depth, k);
	printf("depth %d\n", total / 100);
	return 0;
}
