/* Unit test: the CPROF_* parser (preload/base/config.c). */
#include "../../preload/base/log.c"
#include "../../preload/base/config.c"
#include "unit.h"

static int set(struct cprof_config *c, const char *n, const char *v)
{
	char err[512];
	return config_set(c, n, v, err, sizeof(err));
}

static int said_lines;
static bool said_quiet_first = true;
static char said_last[512];

static void say_line(const struct cprof_config *c, const char *line, void *arg)
{
	(void)arg;
	said_lines++;
	if (!c->quiet)
		said_quiet_first = false;
	snprintf(said_last, sizeof(said_last), "%s", line);
}

int main(void)
{
	struct cprof_config c;
	char err[512];

	config_defaults(&c);
	CHECK_EQ(c.profiles, PROF_DEFAULT);
	CHECK(c.profiles & PROF_THREADS); /* threads is a default profile, like Go's goroutine */
	CHECK_EQ(c.heap_rate, 524288);
	CHECK_EQ(c.cpu_hz, 100);
	CHECK_EQ(c.dump_signal, SIGUSR2);
	CHECK_STR(c.output, "cprof.%e.%p.%n.%t.pb.gz");
	CHECK_EQ(c.mutex_fraction, 1);
	CHECK(c.follow_exec);

	/* "did you mean": at most two edits, fewer than half the word, case
	 * ignored, transpositions count once. */
	{
		const char *n;
		n = config_nearest("CPROF_PROFILE", 13, config_names);
		CHECK(n && strcmp(n, "CPROF_PROFILES") == 0);
		n = config_nearest("CPROF_HEAPRATE", 14, config_names);
		CHECK(n && strcmp(n, "CPROF_HEAP_RATE") == 0);
		n = config_nearest("cprof_quiet", 11, config_names);
		CHECK(n && strcmp(n, "CPROF_QUIET") == 0);
		CHECK(config_nearest("CPROF_QUIET", 11, config_names) == NULL); /* exact */
		CHECK(config_nearest("CPROF_WHATEVER", 14, config_names) == NULL);
		n = config_nearest_profile("goroutines");
		CHECK(n && strcmp(n, "goroutine") == 0);
		n = config_nearest_profile("hepa");   /* a transposition */
		CHECK(n && strcmp(n, "heap") == 0);
		n = config_nearest_profile("cpuu");
		CHECK(n && strcmp(n, "cpu") == 0);
		CHECK(config_nearest_profile("x") == NULL);
		CHECK(config_nearest_profile("zzzz") == NULL);
		char big[200];
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK(config_nearest_profile(big) == NULL);
		CHECK_EQ(config_set(&c, "CPROF_PROFILES", "heap,goroutines", err, sizeof(err)), -1);
		CHECK(strstr(err, "did you mean 'goroutine', the threads profile?") != NULL);
	}

	/* profiles */
	CHECK_EQ(set(&c, "CPROF_PROFILES", "cpu,heap"), 0);
	CHECK_EQ(c.profiles, PROF_CPU | PROF_HEAP);
	CHECK_EQ(set(&c, "CPROF_PROFILES", "goroutine"), 0);
	CHECK_EQ(c.profiles, PROF_THREADS);
	CHECK_EQ(set(&c, "CPROF_PROFILES", "all"), 0);
	CHECK_EQ(c.profiles, PROF_ALL);
	CHECK_EQ(set(&c, "CPROF_PROFILES", "none"), 0);
	CHECK_EQ(c.profiles, 0);
	CHECK_EQ(set(&c, "CPROF_PROFILES", "cpu,,heap,"), 0);
	CHECK_EQ(c.profiles, PROF_CPU | PROF_HEAP);
	CHECK_EQ(set(&c, "CPROF_PROFILES", "cpu,hepa"), -1);
	CHECK_EQ(c.profiles, PROF_CPU | PROF_HEAP); /* unchanged on error */
	CHECK_EQ(config_set(&c, "CPROF_PROFILES", "cpu,hepa", err, sizeof(err)), -1);
	CHECK(strstr(err, "CPROF_PROFILES=cpu,hepa") == err);
	CHECK(strstr(err, "'hepa'") != NULL);

	/* numbers: strict */
	CHECK_EQ(set(&c, "CPROF_HEAP_RATE", "1"), 0);
	CHECK_EQ(c.heap_rate, 1);
	CHECK_EQ(set(&c, "CPROF_HEAP_RATE", "0"), 0);
	CHECK_EQ(c.heap_rate, 0);
	const char *bad_numbers[] = {"", "-1", "+5", " 5", "5 ", "0x10", "1e6", "abc", "99999999999999999999999", "1099511627777"};
	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
		c.heap_rate = 42;
		CHECK_EQ(set(&c, "CPROF_HEAP_RATE", bad_numbers[i]), -1);
		CHECK_EQ(c.heap_rate, 42);
	}
	CHECK_EQ(set(&c, "CPROF_CPU_HZ", "0"), -1);
	CHECK_EQ(set(&c, "CPROF_CPU_HZ", "10001"), -1);
	CHECK_EQ(set(&c, "CPROF_CPU_HZ", "10000"), 0);
	CHECK_EQ(config_set(&c, "CPROF_CPU_HZ", "fast", err, sizeof(err)), -1);
	CHECK(strstr(err, "1 to 10000") != NULL);

	/* signals */
	CHECK_EQ(config_parse_signal("USR1"), SIGUSR1);
	CHECK_EQ(config_parse_signal("SIGUSR2"), SIGUSR2);
	CHECK_EQ(config_parse_signal("10"), 10);
	CHECK_EQ(config_parse_signal("RTMIN"), SIGRTMIN);
	CHECK_EQ(config_parse_signal("RTMIN+3"), SIGRTMIN + 3);
	CHECK_EQ(config_parse_signal("RTMIN+99"), -1);
	CHECK_EQ(config_parse_signal("0"), -1);
	CHECK_EQ(config_parse_signal("65"), -1);
	CHECK_EQ(config_parse_signal("BOGUS"), -1);
	CHECK_EQ(set(&c, "CPROF_SIGNAL", "none"), 0);
	CHECK_EQ(c.dump_signal, 0);
	CHECK_EQ(set(&c, "CPROF_SIGNAL", "KILL"), -1);
	CHECK_EQ(set(&c, "CPROF_SIGNAL", "PROF"), -1);
	CHECK_EQ(set(&c, "CPROF_SIGNAL", "SEGV"), -1);
	CHECK_EQ(set(&c, "CPROF_SIGNAL", "USR1"), 0);
	CHECK_EQ(c.dump_signal, SIGUSR1);

	/* output pattern */
	CHECK_EQ(set(&c, "CPROF_OUTPUT", "/tmp/x.%p.%t.pb.gz"), 0);
	CHECK_STR(c.output, "/tmp/x.%p.%t.pb.gz");
	CHECK_EQ(set(&c, "CPROF_OUTPUT", "x.%q"), -1);
	CHECK_EQ(set(&c, "CPROF_OUTPUT", "x.%"), -1);
	CHECK_EQ(set(&c, "CPROF_OUTPUT", ""), -1);
	CHECK_EQ(set(&c, "CPROF_OUTPUT", "dir/"), -1);
	CHECK_EQ(set(&c, "CPROF_OUTPUT", "100%%"), 0);
	char longp[2000];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	CHECK_EQ(set(&c, "CPROF_OUTPUT", longp), -1);

	/* the rest */
	CHECK_EQ(set(&c, "CPROF_UNWIND", "fp"), 0);
	CHECK_EQ(c.unwind, UNWIND_FP);
	CHECK_EQ(set(&c, "CPROF_UNWIND", "dwarf"), -1);
	CHECK_EQ(set(&c, "CPROF_QUIET", "yes"), 0);
	CHECK(c.quiet);
	CHECK_EQ(set(&c, "CPROF_QUIET", "maybe"), -1);
	CHECK_EQ(set(&c, "CPROF_HTTP", "127.0.0.1:6060"), 0);
	CHECK_EQ(set(&c, "CPROF_HTTP", "[::1]:0"), 0);
	CHECK_EQ(set(&c, "CPROF_HTTP", "localhost"), -1);
	CHECK_EQ(set(&c, "CPROF_HTTP", "h:70000"), -1);
	CHECK_EQ(set(&c, "CPROF_HTTP_TARGETS", "/run/cprof"), 0);
	CHECK(strcmp(c.http_targets, "/run/cprof") == 0);
	CHECK_EQ(set(&c, "CPROF_HTTP_TARGETS", "run/cprof"), -1); /* relative: kept as it was */
	CHECK(strcmp(c.http_targets, "/run/cprof") == 0);
	CHECK_EQ(set(&c, "CPROF_HTTP_TOKEN", "short"), -1);
	CHECK(c.http_token_bad && !c.http_token[0]);
	CHECK_EQ(set(&c, "CPROF_HTTP_TOKEN", "s3cret-token"), 0);
	CHECK(!c.http_token_bad);
	/* A secret: never echoed, and an unusable one is remembered as such
	 * (no server) rather than as "no token" (an open server). */
	CHECK_EQ(config_set(&c, "CPROF_HTTP_TOKEN", "has space inside", err, sizeof(err)), -1);
	CHECK(strstr(err, "has space") == NULL && strstr(err, "inside") == NULL);
	CHECK(strstr(err, "CPROF_HTTP_TOKEN") != NULL && strstr(err, "no HTTP server") != NULL);
	CHECK(c.http_token_bad && !c.http_token[0]);
	CHECK_EQ(set(&c, "CPROF_INTERVAL", "30"), 0);
	CHECK_EQ(c.interval, 30);
	CHECK_EQ(set(&c, "CPROF_INTERVAL", "999999999"), -1);
	CHECK_EQ(set(&c, "CPROF_FOLLOW_EXEC", "0"), 0);
	CHECK(!c.follow_exec);
	CHECK(!c.empty_files);
	CHECK_EQ(set(&c, "CPROF_EMPTY_FILES", "yes"), 0);
	CHECK(c.empty_files);
	CHECK_EQ(set(&c, "CPROF_EMPTY_FILES", "sometimes"), -1);
	CHECK(c.empty_files);
	CHECK_EQ(set(&c, "CPROF_MUTEX_FRACTION", "0"), 0);
	CHECK_EQ(set(&c, "CPROF_BLOCK_RATE", "1"), 0);
	CHECK_EQ(set(&c, "CPROF_NOT_A_VARIABLE", "1"), -2);
	for (const char *const *n = config_names; *n; n++)
		CHECK(strncmp(*n, "CPROF_", 6) == 0);

	/* pattern expansion, %e, and reading a whole environment (the code
	 * cprof-ctl shares with the library) */
	{
		char out[128];
		struct config_subst sub = {"prog", "42", "7", "heap", "host"};
		CHECK_EQ(config_expand("/d/%e.%p.%n.%t.%h.%%.pb.gz", &sub, out, 0, sizeof(out)),
			 strlen("/d/prog.42.7.heap.host.%.pb.gz"));
		CHECK_STR(out, "/d/prog.42.7.heap.host.%.pb.gz");
		memcpy(out, "/start/", 7);
		CHECK_EQ(config_expand("%t", &sub, out, 7, sizeof(out)), 11);
		CHECK_STR(out, "/start/heap");
		CHECK_EQ(config_expand("%e%e%e", &sub, out, 0, 8), (size_t)-1);
		CHECK_STR(out, "progpro");
		config_exe_name("/usr/bin/a b+c", out, sizeof(out));
		CHECK_STR(out, "a_b+c");
		config_exe_name("", out, sizeof(out));
		CHECK_STR(out, "program");
	}
	{
		char *envp[] = {"PATH=/bin", "CPROF_HEAP_RATE=12", "CPROF_CPU_HZ=0", "CPROF_QUIET=yes",
				"CPROF_HEAPRATE=1", "CPROF_LIB=/x", "CPROF_TEST_TMP=/t", "CPROF_HEAP_RATE=99", NULL};
		struct cprof_config lc;
		config_load(&lc, envp, say_line, NULL);
		CHECK_EQ(lc.heap_rate, 12); /* the first definition, as getenv */
		CHECK_EQ(lc.cpu_hz, 100);
		CHECK(lc.quiet);
		CHECK_EQ(said_lines, 2);
		CHECK(said_quiet_first);
		CHECK_STR(said_last, "unknown variable CPROF_HEAPRATE ignored (did you mean CPROF_HEAP_RATE?)");
	}

	/* the formatter used for every message */
	char buf[64];
	cprof_fmt(buf, sizeof(buf), "%s=%d %u %x %lu %zu %05d %c%%", "a", -12, 7u, 255u, 9ul, (size_t)3, 42, 'z');
	CHECK_STR(buf, "a=-12 7 ff 9 3 00042 z%");
	cprof_fmt(buf, sizeof(buf), "[%.*s][%.3s]", 4, "CPROF_X=1", "abcdef");
	CHECK_STR(buf, "[CPRO][abc]");
	cprof_fmt(buf, 8, "%s", "truncated string");
	CHECK_STR(buf, "truncat");
	UNIT_DONE();
}
