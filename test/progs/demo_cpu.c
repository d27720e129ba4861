/*
 * demo_cpu - a CPU hot spot: checksum() is naive and dominates; the CPU
 * profile shows it under process_batch, with encode() a distant second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned char data[1 << 20];

__attribute__((noinline)) static uint32_t checksum(const unsigned char *p, size_t n)
{
	uint32_t a = 1, b = 0;
	for (size_t i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}

__attribute__((noinline)) static void encode(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(p[i] * 31 + 7);
}

__attribute__((noinline)) static uint32_t process_batch(void)
{
	encode(data, sizeof(data));
	return checksum(data, sizeof(data));
}

int main(void)
{
	uint32_t x = 0;
	for (int i = 0; i < 300; i++)
		x ^= process_batch();
	printf("checksum %08x\n", x);
	return 0;
}
