/*
 * fuzz_config - libFuzzer target for the CPROF_* parser.
 *
 * The input is read as lines "NAME=VALUE" (or a bare value, tried against
 * every variable); each is applied with config_set() to one config struct,
 * and the profile-list, signal and pattern parsers are also called
 * directly; the input is also expanded as an output pattern and read whole
 * as an environment (config_load).  The parser must never crash, read out
 * of bounds or loop, and must leave every field within its documented
 * range.
 */
#include <stdint.h>
#include <string.h>

#include "../../preload/base/log.c"
#include "../../preload/base/config.c"

static void check(const struct cprof_config *c)
{
	if (c->cpu_hz < 1 || c->cpu_hz > CPROF_MAX_CPU_HZ)
		__builtin_trap();
	if (c->heap_rate > (1ULL << 40))
		__builtin_trap();
	if (c->unwind != UNWIND_LIBUNWIND && c->unwind != UNWIND_FP)
		__builtin_trap();
	if (c->profiles & ~(unsigned)PROF_ALL)
		__builtin_trap();
	if (memchr(c->output, 0, sizeof(c->output)) == NULL || c->output[0] == '\0')
		__builtin_trap();
	if (c->dump_signal < 0 || c->dump_signal >= 65)
		__builtin_trap();
}

static void fuzz_say(const struct cprof_config *c, const char *line, void *arg)
{
	(void)c;
	(void)arg;
	if (!memchr(line, 0, 512))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[8192];
	struct cprof_config c;
	char err[512];

	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = '\0';
	config_defaults(&c);
	for (char *line = buf, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			config_set(&c, line, eq + 1, err, sizeof(err));
		} else {
			for (const char *const *n = config_names; *n; n++)
				config_set(&c, *n, line, err, sizeof(err));
			unsigned mask;
			char bad[32];
			config_parse_profiles(line, &mask, bad, sizeof(bad));
			config_parse_signal(line);
			config_check_pattern(line, err, sizeof(err));
			char out[256];
			cprof_fmt(out, sizeof(out), "%s %.*s", line, 3, line);
			/* expansion of any text (checked or not) into a small buffer,
			 * and %e of any path */
			struct config_subst sub = {"exe", "1", "2", "heap", "host"};
			size_t r = config_expand(line, &sub, out, 0, sizeof(out));
			if ((r != (size_t)-1 && r >= sizeof(out)) || !memchr(out, 0, sizeof(out)))
				__builtin_trap();
			config_exe_name(line, out, 16);
			if (!memchr(out, 0, 16))
				__builtin_trap();
		}
		check(&c);
	}
	/* the whole input as an environment, one variable a line */
	{
		static char env[8192];
		char *envp[64];
		int k = 0;
		memcpy(env, data, size);
		env[size] = '\0';
		for (char *line = env, *next; line && k < 63; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			envp[k++] = line;
		}
		envp[k] = NULL;
		struct cprof_config lc;
		config_load(&lc, envp, fuzz_say, NULL);
		check(&lc);
	}
	return 0;
}
