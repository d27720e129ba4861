/*
 * fibers - user-level context switching with makecontext/swapcontext:
 * four fibers on 64 KiB stacks take turns burning CPU (fiber_burn) and
 * allocating (fiber_alloc) while profiling signals arrive on fiber stacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define NF 4
static ucontext_t main_ctx, ctx[NF];
static volatile double sink;
static int rounds = 300;

__attribute__((noinline)) void *fiber_alloc(size_t n)
{
	char *p = malloc(n);
	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) void fiber_burn(long n)
{
	double x = sink;
	for (long i = 0; i < n; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

static void fiber_main(int id)
{
	for (int r = 0; r < rounds; r++) {
		fiber_burn(200000);
		free(fiber_alloc(4096 + (size_t)id));
		swapcontext(&ctx[id], &ctx[(id + 1) % NF == 0 ? 0 : (id + 1) % NF]);
	}
	swapcontext(&ctx[id], &main_ctx);
}

int main(void)
{
	for (int i = 0; i < NF; i++) {
		getcontext(&ctx[i]);
		ctx[i].uc_stack.ss_sp = malloc(65536);
		ctx[i].uc_stack.ss_size = 65536;
		ctx[i].uc_link = &main_ctx;
		makecontext(&ctx[i], (void (*)(void))fiber_main, 1, i);
	}
	swapcontext(&main_ctx, &ctx[0]);
	printf("fibers done\n");
	return 0;
}
