/*
 * libotelctx - a stand-in for an OpenTelemetry SDK's native part: it
 * defines the thread context variable of OTEP 4947, otel_thread_ctx_v1, a
 * pointer to the record of the span active on the thread, in a shared
 * library (global-dynamic TLS, as an SDK would ship it), with attach and
 * detach functions (test/progs/otel_ctx.c).
 */
#include <stdint.h>

#include "otel_ctx_abi.h"

__attribute__((visibility("default"))) __thread struct otel_thread_ctx_record *otel_thread_ctx_v1;

void otelctx_attach(struct otel_thread_ctx_record *r)
{
	otel_thread_ctx_v1 = r;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void otelctx_detach(void)
{
	otel_thread_ctx_v1 = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
