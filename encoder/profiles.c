/*
 * profiles.c - the table of profile kinds and what every profile shares.
 */
#include <string.h>

#include "profiles.h"
#include "config.h"
#include "log.h"
#include "runtime.h"

#ifndef CPROF_VERSION
#define CPROF_VERSION "0.1"
#endif

const struct profile_kind profile_kinds[] = {
	{PROF_CPU, "cpu", encode_cpu},
	{PROF_HEAP, "heap", encode_heap},
	{PROF_MUTEX, "mutex", encode_mutex},
	{PROF_BLOCK, "block", encode_block},
	{PROF_THREADS, "threads", encode_threads},
	{PROF_THREADCREATE, "threadcreate", encode_threadcreate},
};
const size_t profile_kinds_count = CPROF_ARRAY_LEN(profile_kinds);

const struct profile_kind *profile_kind_by_name(const char *name)
{
	for (size_t i = 0; i < profile_kinds_count; i++)
		if (strcmp(profile_kinds[i].name, name) == 0)
			return &profile_kinds[i];
	return NULL;
}

void encode_common(struct dump_ctx *d, struct pb_builder *b)
{
	char buf[4200];
	(void)d;
	cprof_fmt(buf, sizeof(buf), "cprof %s, pid %ld", CPROF_VERSION, (long)rt.pid);
	pb_add_comment(b, buf);
	if (rt.cmdline[0]) {
		cprof_fmt(buf, sizeof(buf), "command: %s", rt.cmdline);
		pb_add_comment(b, buf);
	}
}
