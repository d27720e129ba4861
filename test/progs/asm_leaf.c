/*
 * asm_leaf - a hand-written assembly leaf with no unwind information that
 * overwrites the frame pointer with garbage while it spins: both unwinders
 * must survive it (libunwind's frame-chain fallback validates its reads;
 * the fp walker checks every frame against the stack bounds).
 */
#include <stdio.h>
#include <stdlib.h>

void clobber_loop(long n);
__asm__(".text\n"
	".globl clobber_loop\n"
	".type clobber_loop,@function\n"
	"clobber_loop:\n"
	"  push %rbp\n"
	"  movabs $0xdeadbeefdeadbe00, %rbp\n"
	"1: dec %rdi\n"
	"  jnz 1b\n"
	"  pop %rbp\n"
	"  ret\n"
	".size clobber_loop, .-clobber_loop\n");

__attribute__((noinline)) void caller_of_asm(long n)
{
	clobber_loop(n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1500000000L;
	caller_of_asm(n);
	printf("asm leaf done\n");
	return 0;
}
