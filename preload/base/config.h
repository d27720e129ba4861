/*
 * config.h - the CPROF_* environment variables.
 *
 * Read once, in the constructor, before any sampling starts (values never
 * change afterwards, so hot paths read them without synchronisation).  The
 * parser is a pure function of (name, value) so it can be unit-tested and
 * fuzzed without a process environment: config_set() validates one
 * variable, writes it into the struct and returns 0, or leaves the default in
 * place and returns -1 with a one-line explanation in err.
 */
#ifndef CPROF_CONFIG_H
#define CPROF_CONFIG_H

#include <limits.h>
#include "common.h"

enum cprof_profile {
	PROF_CPU = 1u << 0,
	PROF_HEAP = 1u << 1,
	PROF_MUTEX = 1u << 2,
	PROF_BLOCK = 1u << 3,
	PROF_THREADS = 1u << 4,
	PROF_THREADCREATE = 1u << 5,
};
#define PROF_ALL (PROF_CPU | PROF_HEAP | PROF_MUTEX | PROF_BLOCK | PROF_THREADS | PROF_THREADCREATE)
#define PROF_COUNT 6
/* Default: every profile, as Go's goroutine profile is always there.  Each
 * must never disturb the program; the threads profile signals only running
 * threads, never one parked in a blocking call (threadstacks.h). */
#define PROF_DEFAULT PROF_ALL

enum cprof_unwind_mode { UNWIND_LIBUNWIND = 0, UNWIND_FP = 1 };

#define CPROF_PATTERN_MAX 1024

struct cprof_config {
	unsigned profiles;          /* CPROF_PROFILES: bitmask of enum cprof_profile */
	uint64_t heap_rate;         /* CPROF_HEAP_RATE: mean bytes between samples, 0 = off */
	unsigned cpu_hz;            /* CPROF_CPU_HZ */
	int unwind;                 /* CPROF_UNWIND */
	int dump_signal;            /* CPROF_SIGNAL: 0 = none */
	char output[CPROF_PATTERN_MAX]; /* CPROF_OUTPUT pattern */
	bool quiet;                 /* CPROF_QUIET */
	uint64_t mutex_fraction;    /* CPROF_MUTEX_FRACTION: keep 1 in n, 0 = off */
	uint64_t block_rate;        /* CPROF_BLOCK_RATE: ns, 0 = off */
	char http[256];             /* CPROF_HTTP: host:port, "" = off */
	char http_token[256];       /* CPROF_HTTP_TOKEN */
	bool http_token_bad;        /* CPROF_HTTP_TOKEN set but unusable: no server at all */
	char http_targets[256];     /* CPROF_HTTP_TARGETS: directory of file_sd target files, "" = off */
	unsigned interval;          /* CPROF_INTERVAL: seconds, 0 = off */
	bool follow_exec;           /* CPROF_FOLLOW_EXEC */
	long root_pid;              /* CPROF_ROOT_PID: set by the cprof command */
	bool empty_files;           /* CPROF_EMPTY_FILES: also write profiles without samples */
};

#define CPROF_DEFAULT_HEAP_RATE 524288
#define CPROF_DEFAULT_CPU_HZ 100
#define CPROF_MAX_CPU_HZ 10000
#define CPROF_DEFAULT_BLOCK_RATE 100000   /* ns: see docs/profiles.md */
#define CPROF_DEFAULT_OUTPUT "cprof.%e.%p.%n.%t.pb.gz"

void config_defaults(struct cprof_config *c);

/* Validate and apply one variable.  Returns 0 on success, -1 if the value
 * is invalid (err gets "CPROF_X=...: reason; expected ...; using default"),
 * -2 if the name is not a cprof variable. */
int config_set(struct cprof_config *c, const char *name, const char *value,
	       char *err, size_t errlen);

/* Names of every variable config_set() understands, NULL-terminated. */
extern const char *const config_names[];

/* Parse a profile list ("cpu,heap"); returns -1 on an unknown name. */
int config_parse_profiles(const char *s, unsigned *out, char *bad, size_t badlen);

/* Name of a single profile bit ("cpu", "heap", ...). */
const char *config_profile_name(unsigned bit);

/* The word of the NULL-terminated list nearest to word[0..len) (at most
 * two edits, case ignored; an exact match other than in case counts), or
 * NULL: the "did you mean" of a misspelt variable or profile name. */
const char *config_nearest(const char *word, size_t len, const char *const *words);
const char *config_nearest_profile(const char *word);

/* Parse a signal given as a name (USR2, SIGUSR2, RTMIN+3) or number. */
int config_parse_signal(const char *s);

/* Check an output pattern; -1 with a reason in err if it is unusable. */
int config_check_pattern(const char *p, char *err, size_t errlen);

/* What each escape of an output pattern stands for.  The library passes
 * the process's own facts; the cprof command passes another process's, or
 * placeholders such as "<n>". */
struct config_subst {
	const char *exe;   /* %e: config_exe_name() of the executable */
	const char *pid;   /* %p */
	const char *n;     /* %n: the dump number */
	const char *type;  /* %t: the profile type */
	const char *host;  /* %h */
};

/* Expand pattern (checked by config_check_pattern) into out, appending at
 * out[pos]; returns the new length, or (size_t)-1 if out is too small
 * (out is then truncated, NUL-terminated). */
size_t config_expand(const char *pattern, const struct config_subst *s, char *out, size_t pos,
		     size_t outlen);

/* %e: the last component of the executable's path with every byte outside
 * [A-Za-z0-9._+-] replaced by '_' ("program" if empty). */
void config_exe_name(const char *path, char *out, size_t outlen);

/* Read every CPROF_* variable of envp (NAME=VALUE strings, NULL-terminated)
 * as the library does at start: CPROF_QUIET first, then each variable of
 * config_names, then the CPROF_* names that are none of them.  say() gets
 * each line the library prints (without "cprof: "), after c->quiet is
 * known.  The one definition of what the library accepts: the cprof
 * command asks it through cprof-ctl. */
void config_load(struct cprof_config *c, char *const *envp,
		 void (*say)(const struct cprof_config *c, const char *line, void *arg), void *arg);

#endif
