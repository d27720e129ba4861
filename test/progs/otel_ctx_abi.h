/*
 * otel_ctx_abi.h - the OpenTelemetry thread context record of OTEP 4947,
 * as an SDK defines it (for the test programs that stand for an SDK and
 * its user).
 */
#ifndef OTEL_CTX_ABI_H
#define OTEL_CTX_ABI_H

#include <stdint.h>

struct otel_thread_ctx_record {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t valid;
	uint8_t trace_flags;
	uint16_t attrs_data_size;
} __attribute__((packed, aligned(2)));

#endif
