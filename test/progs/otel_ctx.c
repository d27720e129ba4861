/*
 * otel_ctx - spans published through the OpenTelemetry thread context
 * (OTEP 4947, defined by libotelctx.so), with known work in each.
 *
 * Under the label set {handler=a}, the main thread burns 1 unit of CPU
 * and allocates 10 MiB (kept) in span 1, then 2 units and 20 MiB in span 2
 * (another trace), then 1 unit with a record whose valid byte is 0 (not
 * to be read), then 1 unit with no record.  A thread parks in sleep inside
 * span 3.  The heap, CPU and threads profiles must carry trace_id and
 * span_id (hex) next to handler=a where a valid record was published.
 *
 * Prints JSON with the ids in hex.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cprof.h>

#include "otel_ctx_abi.h"

void otelctx_attach(struct otel_thread_ctx_record *r);
void otelctx_detach(void);

#include "label_work.h"

static void fill(struct otel_thread_ctx_record *r, uint8_t seed)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(seed * 16 + i);
	for (int i = 0; i < 8; i++)
		r->span_id[i] = (uint8_t)(0xa0 + seed + i);
	r->trace_flags = 1;
	r->valid = 1;
}

static void hex(const uint8_t *b, int n, char *out)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static struct otel_thread_ctx_record s1, s2, s3, bad;

__attribute__((noinline)) void parked_in_span(void)
{
	for (;;)
		sleep(100);
}

static void *parker(void *arg)
{
	(void)arg;
	otelctx_attach(&s3);
	parked_in_span();
	return NULL;
}

int main(void)
{
	const char *a[] = {"handler", "a"};
	fill(&s1, 1);
	fill(&s2, 2);
	fill(&s3, 3);
	fill(&bad, 4);
	bad.valid = 0;

	calibrate();

	cprof_labels_set(cprof_labels_intern(a, 1));
	otelctx_attach(&s1);
	burn(1);
	keep(10);
	otelctx_attach(&s2);
	burn(2);
	keep(20);
	otelctx_attach(&bad);
	burn(1);
	otelctx_detach();
	burn(1);
	cprof_labels_set(0);

	pthread_t th;
	pthread_create(&th, NULL, parker, NULL);
	usleep(100000);

	char t1[33], p1[17], t2[33], p2[17], t3[33], p3[17];
	hex(s1.trace_id, 16, t1), hex(s1.span_id, 8, p1);
	hex(s2.trace_id, 16, t2), hex(s2.span_id, 8, p2);
	hex(s3.trace_id, 16, t3), hex(s3.span_id, 8, p3);
	printf("{\"trace1\": \"%s\", \"span1\": \"%s\", \"trace2\": \"%s\", \"span2\": \"%s\", "
	       "\"trace3\": \"%s\", \"span3\": \"%s\"}\n", t1, p1, t2, p2, t3, p3);
	fflush(stdout);
	return 0;
}
