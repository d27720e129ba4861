/*
 * demo_leak - a "service" that caches every request forever: the heap
 * profile points at cache_insert as the leak, with parse_request's
 * short-lived buffers visible only in alloc_space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *next;
	char payload[];
};

static struct entry *cache;

__attribute__((noinline)) static char *parse_request(int i)
{
	char *buf = malloc(4096);
	snprintf(buf, 4096, "GET /item/%d HTTP/1.1", i);
	return buf;
}

__attribute__((noinline)) static void cache_insert(const char *key)
{
	size_t n = strlen(key) + 1 + 2000;
	struct entry *e = malloc(sizeof(*e) + n);
	memcpy(e->payload, key, strlen(key) + 1);
	e->next = cache;
	cache = e;
}

__attribute__((noinline)) static void handle(int i)
{
	char *req = parse_request(i);
	cache_insert(req);
	free(req);
}

int main(void)
{
	for (int i = 0; i < 100000; i++)
		handle(i);
	printf("served 100000 requests, cache holds them all\n");
	return 0;
}
