/*
 * heap_peak - a heap that peaks through one site and ends smaller through
 * another: the ground truth for the peak heap profile.
 *
 * churn_before allocates and frees CHURN_BLOCKS blocks of BLOCK bytes one
 * at a time: memory that is no longer in use when the heap peaks.
 * peak_first then allocates FIRST_BLOCKS blocks of BLOCK bytes and keeps them;
 * main then frees them all and peak_second allocates SECOND_BLOCKS blocks
 * of the same size, kept to the end.  The peak of the heap is therefore
 * peak_first's blocks, and the heap at exit is peak_second's.  The program
 * prints the truth as JSON: {"churn_before": bytes, "peak_first": bytes,
 * "peak_second": bytes, "block": BLOCK}.  With a number of seconds it then prints "ready" and
 * sleeps that long (for the HTTP endpoint), else it exits.
 *
 * usage: heap_peak [seconds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 65536
#define FIRST_BLOCKS 1024   /* 64 MiB */
#define SECOND_BLOCKS 256   /* 16 MiB */
#define CHURN_BLOCKS 256    /* 16 MiB, never more than one block at once */

static void *volatile blocks[FIRST_BLOCKS];

__attribute__((noinline)) void churn_before(void)
{
	for (int i = 0; i < CHURN_BLOCKS; i++) {
		blocks[0] = malloc(BLOCK);
		memset(blocks[0], 3, 64);
		free(blocks[0]);
		blocks[0] = NULL;
	}
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void peak_first(void)
{
	for (int i = 0; i < FIRST_BLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		memset(blocks[i], 1, 64);
	}
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) void peak_second(void)
{
	for (int i = 0; i < SECOND_BLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		memset(blocks[i], 2, 64);
	}
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	churn_before();
	peak_first();
	for (int i = 0; i < FIRST_BLOCKS; i++) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
	peak_second();
	printf("{\"churn_before\": %d, \"peak_first\": %d, \"peak_second\": %d, \"block\": %d}\n",
	       CHURN_BLOCKS * BLOCK, FIRST_BLOCKS * BLOCK, SECOND_BLOCKS * BLOCK, BLOCK);
	if (argc > 1) {
		printf("ready\n");
		fflush(stdout);
		unsigned left = (unsigned)atoi(argv[1]);
		while (left)
			left = sleep(left);
	}
	return 0;
}
