/*
 * endpoints.c - what each /debug/pprof path answers (the server is
 * http.c; endpoints.h is the contract between them).
 *
 * DESIGN
 * Endpoints, parameters and response shapes follow Go's net/http/pprof:
 * /debug/pprof/ (HTML index), profile?seconds=N (CPU), heap, allocs,
 * mutex, block, threadcreate, goroutine (alias threads), each as gzipped
 * protobuf, as the legacy text with ?debug=1 (encoder/text.c), as a delta
 * over N seconds with ?seconds=N (all but profile, whose window is its
 * own; its seconds default to Go's 30 when missing, 0 or invalid),
 * goroutine?debug=2 (every thread's stack as text), cmdline, and symbol
 * (pprof's remote symbolization protocol); and godeltaprof's delta_heap,
 * delta_mutex and delta_block (each answer the change since the previous
 * one on that path, memory in use as it is now), which continuous
 * profilers scrape; and heap?peak=1, the heap profile as it was at the
 * peak of the sampled in-use heap (heapprof.h, "Peak"), with debug=1 too
 * (never as a delta).  Served profiles name the program in their command
 * comment without its arguments (dump_ctx.name_only).  Errors are
 * text/plain with Go's messages and Go's X-Go-Pprof header, so pprof shows
 * them as Go's.  /symbol and the
 * text forms read the main program's symbols through /proc/self/exe, so
 * they still name its functions after its file was deleted or replaced.
 *
 * Long requests.  ?seconds=N never blocks the loop.  The request records
 * its starting point (profile_snapshot() of the cumulative table, or for
 * /profile the start of a CPUWIN_HTTP window), suspends its connection
 * (MHD_suspend_connection) and joins the pending list with a deadline; the
 * poll timeout never exceeds the earliest deadline.  When it passes, the
 * loop resumes the connection, libmicrohttpd calls the handler again, and
 * the handler encodes the delta (dump_ctx.base = the snapshot, or
 * cpu_consumer = CPUWIN_HTTP with reset).  Other requests are answered
 * meanwhile.  One CPU window at a time: a second /profile gets Go's 500.
 * A client that goes away ends its request at once, as Go's request
 * context does: the loop also polls each waiting socket for a hang-up
 * (libmicrohttpd does not watch suspended connections), closes the CPU
 * window or frees the snapshot, and resumes the connection only for
 * libmicrohttpd to close it.  So an abandoned profile?seconds=600 never
 * keeps the CPU window busy, nor abandoned heap?seconds=86400 requests
 * the connection slots.
 *
 * Tables and symbols.  Every answer is made in a session (session.h), as
 * profile files are: the tables are read under dump_lock, symbols and
 * encoding happen after it is released.  dump_lock is never held during
 * the N seconds, nor across a call into libmicrohttpd, nor across any wait
 * for the program other than threadstacks' bounded one; so the exit dump
 * and the writer wait at most for one encoding, and the program's fork()
 * only for one reading of the tables.
 *
 * Contexts: the "cprof-http" thread only (guard held, signals blocked),
 * and endpoints_fork_child in the fork child.  The CPU window state
 * (cpu_busy, cpu_started) and the godelta bases are this thread's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "endpoints.h"
#include "session.h"
#include "cpuprof.h"
#include "cpuwin.h"
#include "dump.h"
#include "heapprof.h"
#include "lockprof.h"
#include "log.h"
#include "text.h"
#include "threads.h"

#define MAX_SECONDS (24L * 3600)
#define DEFAULT_CPU_SECONDS 30
#define CMDLINE_MAX ((size_t)1 << 20)

static bool cpu_busy;            /* a /profile window is open */
static atomic_bool cpu_started;  /* ... and it turned the CPU timers on */

static void end_cpu(struct req *q)
{
	if (!q->owns_cpu)
		return;
	q->owns_cpu = false;
	cpu_busy = false;
	if (atomic_exchange(&cpu_started, false))
		cpuprof_stop_window();
}
/* ---- parameters -------------------------------------------------------------------- */

/* Go's strconv.Atoi, with 0 for anything invalid (as net/http/pprof
 * treats debug and gc). */
static long atoi_or_zero(const char *s)
{
	long v = 0;
	bool neg = false;
	if (!s)
		return 0;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return neg ? -v : v;
}

/* A positive whole number of seconds, at most MAX_SECONDS; -1 otherwise. */
static long parse_seconds(const char *s)
{
	long v = 0;
	if (*s == '+')
		s++;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > MAX_SECONDS)
			return -1;
	}
	return v > 0 ? v : -1;
}

/* A whole number of seconds (sign allowed) above MAX_SECONDS. */
static bool parse_seconds_too_long(const char *s)
{
	long v = 0;
	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v <= MAX_SECONDS)
			v = v * 10 + (*s - '0');
	}
	return v > MAX_SECONDS;
}

/* ---- godeltaprof's endpoints ------------------------------------------------------ */

/* /debug/pprof/delta_heap, delta_mutex, delta_block (Grafana's
 * godeltaprof, which Alloy's pyroscope.scrape can ask for): each answer
 * is the change since the previous answer on the same path (the first:
 * since the start), allocations and contention as deltas and memory in
 * use as it is now.  One base per path, kept in its own region and
 * replaced by a snapshot taken with the answer's reading of the tables. */
struct godelta {
	struct region r;
	struct prof_snapshot *snap;
	int64_t mono;                /* when snap was taken */
};
static struct godelta godeltas[3];    /* heap, mutex, block */

static struct godelta *godelta_for(unsigned bit)
{
	switch (bit) {
	case PROF_HEAP: return &godeltas[0];
	case PROF_MUTEX: return &godeltas[1];
	case PROF_BLOCK: return &godeltas[2];
	default: return NULL;
	}
}

/* Under dump_lock, once the answer's tables are read (session.h): the
 * state they are in now is the next answer's base.  Kept in `next` until
 * the answer is made, then committed. */
struct godelta_next {
	unsigned bit;
	struct region r;
	struct prof_snapshot *snap;
	int64_t mono;
};

static void godelta_gathered(struct dump_ctx *d, void *arg)
{
	struct godelta_next *n = arg;
	n->snap = profile_snapshot(n->bit, &n->r);
	n->mono = d->now_mono_ns;
}

/* The answer was made: its snapshot is the next base.  Without one (out of
 * memory), the next answer covers a longer span. */
static void godelta_commit(struct godelta *gd, struct godelta_next *n)
{
	if (!n->snap) {
		region_reset(&n->r);
		return;
	}
	region_reset(&gd->r);
	gd->r = n->r;
	gd->snap = n->snap;
	gd->mono = n->mono;
}

/* ---- encoding ------------------------------------------------------------------- */

/* Encode kind k into r as a dump does; d carries base / cpu window /
 * allocs.  Returns 0 with *buf, *len in r, or -1. */
static int encode_proto(struct region *r, const struct profile_kind *k, struct dump_ctx *d,
			int64_t window_start_mono, void **buf, size_t *len)
{
	struct session s;
	session_begin(&s, r, true); /* no arguments in what scrapers ship elsewhere */
	int rc = session_proto(&s, k, d, window_start_mono, buf, len);
	session_end(&s);
	return rc;
}

static int encode_text(struct region *r, struct req *q, long debug, struct text_out *o)
{
	struct session s;
	struct dump_ctx d = {.allocs = q->allocs, .peak = q->peak};
	int rc;

	text_init(o, r);
	session_begin(&s, r, false);
	session_open(&s, &d);
	switch (q->kind->bit) {
	case PROF_HEAP: rc = text_heap(&d, o); break;
	case PROF_MUTEX:
	case PROF_BLOCK: rc = text_lock(&d, q->kind->bit, o); break;
	case PROF_THREADCREATE: rc = text_threadcreate(&d, o); break;
	case PROF_THREADS:
		rc = debug >= 2 ? text_threads_full(&d, o) : text_threads(&d, q->name, o);
		break;
	default: rc = -1; break;
	}
	session_close(&s, &d);
	session_end(&s);
	return rc;
}

/* ---- the endpoints ------------------------------------------------------------------ */

static enum MHD_Result serve_proto(struct req *q, const struct profile_kind *k, struct dump_ctx *d,
				   const char *filename)
{
	struct region r = {0};
	void *buf;
	size_t len;
	char disp[96];

	if (encode_proto(&r, k, d, q->start_mono, &buf, &len) != 0) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cprof: out of memory while encoding the profile");
	}
	cprof_fmt(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
	struct hdr h = {"Content-Disposition", disp};
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "application/octet-stream", buf, len, &r, &h, 1);
}

static enum MHD_Result serve_text(struct req *q, long debug)
{
	struct region r = {0};
	struct text_out o;

	if (encode_text(&r, q, debug, &o) != 0 || o.failed) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cprof: out of memory while writing the profile");
	}
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "text/plain; charset=utf-8", o.buf, o.len, &r, NULL, 0);
}

static enum MHD_Result serve_godelta(struct req *q)
{
	struct godelta *gd = godelta_for(q->kind->bit);
	struct godelta_next next = {.bit = q->kind->bit};
	struct dump_ctx d = {.base = gd->snap, .inuse_absolute = true, .on_gathered = godelta_gathered,
			     .on_gathered_arg = &next};
	struct region r = {0};
	void *buf;
	size_t len;
	char disp[96];

	if (encode_proto(&r, q->kind, &d, gd->mono, &buf, &len) != 0) {
		region_reset(&next.r);
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cprof: out of memory while encoding the profile");
	}
	godelta_commit(gd, &next);
	cprof_fmt(disp, sizeof(disp), "attachment; filename=\"%s\"", q->name);
	struct hdr h = {"Content-Disposition", disp};
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "application/octet-stream", buf, len, &r, &h, 1);
}

static enum MHD_Result serve_kind(struct req *q)
{
	struct MHD_Connection *c = q->conn;
	const char *sec = httpd_arg(c, "seconds");
	long debug = atoi_or_zero(httpd_arg(c, "debug"));
	/* ?gc=N is accepted and ignored: there is no collector to run. */

	if (q->kind->bit == PROF_HEAP && !q->allocs && !q->godelta && atoi_or_zero(httpd_arg(c, "peak"))) {
		if (sec)
			return httpd_reply_error(c, MHD_HTTP_BAD_REQUEST, "seconds and peak params are incompatible");
		q->peak = true;
		if (debug)
			return serve_text(q, debug);
		struct dump_ctx d = {0};
		return serve_proto(q, profile_kind_by_name("heappeak"), &d, "heap-peak");
	}

	if (sec) {
		long n = parse_seconds(sec);
		if (n <= 0)
			return httpd_reply_error(c, MHD_HTTP_BAD_REQUEST,
					   "invalid value for \"seconds\" - must be a positive integer");
		if (debug)
			return httpd_reply_error(c, MHD_HTTP_BAD_REQUEST, "seconds and debug params are incompatible");
		q->snap = session_snapshot(q->kind->bit, &q->r);
		if (!q->snap)
			return httpd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed to collect profile");
		q->start_mono = cprof_now_ns();
		return httpd_wait(q, n);
	}
	if (debug)
		return serve_text(q, debug);
	if (q->godelta)
		return serve_godelta(q);
	struct dump_ctx d = {.allocs = q->allocs};
	return serve_proto(q, q->kind, &d, q->name);
}

static enum MHD_Result finish_delta(struct req *q)
{
	char filename[32];
	struct dump_ctx d = {.base = q->snap, .allocs = q->allocs};
	cprof_fmt(filename, sizeof(filename), "%s-delta", q->name);
	return serve_proto(q, q->kind, &d, filename);
}

static enum MHD_Result start_cpu(struct req *q)
{
	struct MHD_Connection *c = q->conn;
	const char *sec = httpd_arg(c, "seconds");
	long n = DEFAULT_CPU_SECONDS;

	/* Go's Profile handler: seconds missing, 0, negative or not a number
	 * means its 30 s default (scrapers send seconds=0 to mean "yours").
	 * Only a window longer than cprof keeps requests is refused. */
	if (sec) {
		long v = parse_seconds(sec);
		if (v > 0)
			n = v;
		else if (parse_seconds_too_long(sec))
			return httpd_reply_error(c, MHD_HTTP_BAD_REQUEST,
					   "invalid value for \"seconds\" - must be a positive integer of at most 86400");
	}
	if (cpu_busy)
		return httpd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "Could not enable CPU profiling: cpu profiling already in use");
	bool started = false;
	if (!cpuprof_enabled()) {
		if (cpuprof_start_window() != 0 || !cpuprof_enabled()) {
			cpuprof_stop_window();
			return httpd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					   "Could not enable CPU profiling: cprof cannot arm CPU timers in this "
					   "process (no free signal, or out of memory)");
		}
		started = true;
	}
	cpu_busy = true;
	q->owns_cpu = true;
	atomic_store(&cpu_started, started);
	cprof_mutex_lock(&dump_lock);
	cpuprof_drain();
	cpuwin_reset(CPUWIN_HTTP, cprof_now_ns(), cprof_realtime_ns());
	cprof_mutex_unlock(&dump_lock);
	q->start_mono = cprof_now_ns();
	return httpd_wait(q, n);
}

static enum MHD_Result finish_cpu(struct req *q)
{
	const struct profile_kind *k = profile_kind_by_name("cpu");
	struct dump_ctx d = {.cpu_consumer = CPUWIN_HTTP, .reset = true};
	struct region r = {0};
	void *buf;
	size_t len;

	int rc = k ? encode_proto(&r, k, &d, q->start_mono, &buf, &len) : -1;
	end_cpu(q);
	if (rc != 0) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cprof: out of memory while encoding the profile");
	}
	struct hdr h = {"Content-Disposition", "attachment; filename=\"profile\""};
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "application/octet-stream", buf, len, &r, &h, 1);
}

static enum MHD_Result serve_cmdline(struct req *q)
{
	struct region r = {0};
	struct text_out o;
	char buf[4096];
	ssize_t n;

	text_init(&o, &r);
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && o.len < CMDLINE_MAX) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		text_putn(&o, buf, (size_t)n);
	}
	if (fd >= 0)
		close(fd);
	/* Go joins os.Args with NUL: no NUL after the last one. */
	if (o.len && o.buf[o.len - 1] == '\0')
		o.len--;
	if (o.failed) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cprof: out of memory");
	}
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "text/plain; charset=utf-8", o.buf ? o.buf : "", o.len,
			   &r, NULL, 0);
}

/* pprof's remote symbolization, as Go's net/http/pprof: GET without
 * arguments -> "num_symbols: 1"; "0xADDR+0xADDR..." as the POST body or
 * the GET query -> also "0xADDR name" for each address inside a function. */
static uint64_t parse_addr(const char *s, size_t n, bool *ok)
{
	uint64_t v = 0;
	unsigned base = 10;
	*ok = false;
	while (n && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		n--;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	}
	if (!n || n > 20)
		return 0;
	for (; n; s++, n--) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return 0;
		v = v * base + (unsigned)d;
	}
	*ok = true;
	return v;
}

/* GET /symbol?0xADDR+0xADDR: libmicrohttpd has split the query into
 * arguments and turned each '+' into a space; put the words back into
 * one '+'-separated list, as Go reads r.URL.RawQuery. */
static enum MHD_Result add_query_word(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct text_out *o = cls;
	(void)kind;
	(void)value;
	if (o->len)
		text_puts(o, "+");
	for (const char *p = key; *p && o->len < HTTPD_MAX_BODY; p++)
		text_putn(o, *p == ' ' ? "+" : p, 1);
	return o->len < HTTPD_MAX_BODY && !o->failed ? MHD_YES : MHD_NO;
}

struct symbol_list {
	const char *list;
	size_t len;
	struct text_out *o;
};

/* "0xADDR name" for each address of the '+'-separated list in a function. */
static void symbolize_list(struct session *s, void *arg)
{
	struct symbol_list *sl = arg;
	for (size_t pos = 0; pos < sl->len && s->sym;) {
		const char *w = sl->list + pos;
		const char *plus = memchr(w, '+', sl->len - pos);
		size_t wl = plus ? (size_t)(plus - w) : sl->len - pos;
		pos += wl + 1;
		bool ok;
		uint64_t pc = parse_addr(w, wl, &ok);
		struct mapping *m = ok && pc ? mappings_find(&s->ms, (uintptr_t)pc) : NULL;
		const char *name = m ? mappings_symbol(s->sym, m, (uintptr_t)pc, NULL) : NULL;
		if (!name)
			continue;
		const char *at = strchr(name, '@');
		text_printf(sl->o, "0x%llx ", (unsigned long long)pc);
		text_putn(sl->o, name, at && at != name ? (size_t)(at - name) : strlen(name));
		text_puts(sl->o, "\n");
	}
}

static enum MHD_Result serve_symbol(struct req *q)
{
	struct region r = {0};
	struct text_out o, words;
	const char *list = q->body;
	size_t list_len = q->body_len;

	if (q->body_too_large) {
		char msg[128];
		cprof_fmt(msg, sizeof(msg), "request body too large (at most %zu bytes)", HTTPD_MAX_BODY);
		return httpd_reply_error(q->conn, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	text_init(&o, &r);
	/* pprof only cares whether the number is 0 (no symbols) or not. */
	text_puts(&o, "num_symbols: 1\n");
	if (!q->post) {
		text_init(&words, &r);
		httpd_query_keys(q->conn, add_query_word, &words);
		list = words.failed ? NULL : words.buf;
		list_len = words.failed ? 0 : words.len;
	}
	if (list && list_len) {
		struct session s;
		struct symbol_list sl = {list, list_len, &o};
		session_begin(&s, &r, false);
		session_symbolize(&s, symbolize_list, &sl);
		session_end(&s);
	}
	if (o.failed) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cprof: out of memory");
	}
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "text/plain; charset=utf-8", o.buf, o.len, &r, NULL, 0);
}

struct count_ctx {
	uint64_t n;
};

static void count_thread(struct thread_rec *r, void *arg)
{
	(void)r;
	((struct count_ctx *)arg)->n++;
}

static void count_create(uint32_t id, uint32_t stack, uint64_t count, void *arg)
{
	(void)id;
	(void)stack;
	((struct count_ctx *)arg)->n += count;
}

static enum MHD_Result serve_index(struct req *q)
{
	struct region r = {0};
	struct text_out o;
	struct count_ctx threads = {0}, creates = {0};

	cprof_mutex_lock(&dump_lock);
	uint64_t heap = heap_bucket_count(), mutex = lockprof_count(0), block = lockprof_count(1);
	threads_foreach(count_thread, &threads);
	threads_foreach_create(count_create, &creates);
	cprof_mutex_unlock(&dump_lock);

	/* Go's index page, entries sorted by name. */
	const struct {
		const char *name;
		uint64_t count;
		const char *desc;
	} entries[] = {
		{"allocs", heap, "A sampling of all past memory allocations"},
		{"block", block, "Stack traces that led to blocking on synchronization primitives"},
		{"cmdline", 0, "The command line invocation of the current program"},
		{"goroutine", threads.n, "Stack traces of all current threads (also served as threads). "
					 "Use debug=2 as a query parameter to export every thread's full stack as text."},
		{"heap", heap, "A sampling of memory allocations of live objects. The gc GET parameter "
			       "is accepted and ignored. Add peak=1 for the live objects at the peak of "
			       "the sampled in-use heap."},
		{"mutex", mutex, "Stack traces of holders of contended mutexes"},
		{"profile", 0, "CPU profile. You can specify the duration in the seconds GET parameter. "
			       "After you get the profile file, use the go tool pprof command to investigate the profile."},
		{"threadcreate", creates.n, "Stack traces that led to the creation of new OS threads"},
	};
	text_init(&o, &r);
	text_puts(&o, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n"
		      "\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n"
		      "/debug/pprof/\n<br>\n<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
		      "<br>\nTypes of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n");
	for (size_t i = 0; i < CPROF_ARRAY_LEN(entries); i++) {
		text_printf(&o, "<tr><td>%llu</td><td><a href='%s?debug=1'>", (unsigned long long)entries[i].count,
			    entries[i].name);
		text_put_html(&o, entries[i].name);
		text_puts(&o, "</a></td></tr>\n");
	}
	text_puts(&o, "</table>\n<a href=\"goroutine?debug=2\">full thread stack dump</a>\n<br>\n<p>\n"
		      "Profile Descriptions:\n<ul>\n");
	for (size_t i = 0; i < CPROF_ARRAY_LEN(entries); i++) {
		text_puts(&o, "<li><div class=profile-name>");
		text_put_html(&o, entries[i].name);
		text_puts(&o, ": </div> ");
		text_put_html(&o, entries[i].desc);
		text_puts(&o, "</li>\n");
	}
	text_printf(&o, "</ul>\n</p>\n<p>Served by cprof in process %ld.</p>\n</body>\n</html>", (long)rt.pid);
	if (o.failed) {
		region_reset(&r);
		return httpd_reply_error(q->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cprof: out of memory");
	}
	return httpd_reply_owned(q->conn, MHD_HTTP_OK, "text/html; charset=utf-8", o.buf, o.len, &r, NULL, 0);
}

/* ---- routing ---------------------------------------------------------------------- */

bool endpoints_route(struct req *q, const char *name)
{
	q->route = R_KIND;
	if (!*name) {
		q->route = R_INDEX;
	} else if (strcmp(name, "cmdline") == 0) {
		q->route = R_CMDLINE;
	} else if (strcmp(name, "profile") == 0) {
		q->route = R_PROFILE;
	} else if (strcmp(name, "symbol") == 0) {
		q->route = R_SYMBOL;
		q->post_ok = true;
	} else if (strcmp(name, "goroutine") == 0 || strcmp(name, "threads") == 0) {
		q->kind = profile_kind_by_name("threads");
	} else if (strcmp(name, "allocs") == 0) {
		q->kind = profile_kind_by_name("heap");
		q->allocs = true;
	} else if (strcmp(name, "heap") == 0 || strcmp(name, "mutex") == 0 || strcmp(name, "block") == 0 ||
		   strcmp(name, "threadcreate") == 0) {
		q->kind = profile_kind_by_name(name);
	} else if (strcmp(name, "delta_heap") == 0 || strcmp(name, "delta_mutex") == 0 ||
		   strcmp(name, "delta_block") == 0) {
		q->kind = profile_kind_by_name(name + 6);
		q->godelta = true;
	}
	if (q->route == R_KIND && !q->kind)
		return false;
	cprof_fmt(q->name, sizeof(q->name), "%s", name);
	return true;
}

enum MHD_Result endpoints_serve(struct req *q)
{
	switch (q->route) {
	case R_INDEX: return serve_index(q);
	case R_CMDLINE: return serve_cmdline(q);
	case R_SYMBOL: return serve_symbol(q);
	case R_PROFILE: return start_cpu(q);
	case R_KIND: return serve_kind(q);
	}
	return MHD_NO;
}

enum MHD_Result endpoints_due(struct req *q)
{
	return q->route == R_PROFILE ? finish_cpu(q) : finish_delta(q);
}

void endpoints_end(struct req *q)
{
	end_cpu(q);
}

void endpoints_stop(void)
{
	if (atomic_exchange(&cpu_started, false) && rt_running())
		cpuprof_stop_window();
	cpu_busy = false;
}

void endpoints_fork_child(void)
{
	cpu_busy = false;
	if (atomic_exchange(&cpu_started, false) && rt_running())
		cpuprof_stop_window();
}
