/*
 * http.c - the live profiling endpoint's server: what Go programs get from
 * `import _ "net/http/pprof"`, for any native program (CPROF_HTTP).
 *
 * DESIGN
 * This file is the server: the thread, libmicrohttpd, sockets, limits,
 * authentication and the life of a request.  What each /debug/pprof path
 * answers is endpoints.c's; endpoints.h is the contract between the two.
 *
 * Threading.  One cprof thread, "cprof-http", does everything.  It is
 * created with REAL(pthread_create) while every signal is blocked, keeps
 * that mask, holds the reentrancy guard for its whole life and marks itself
 * internal (threads_mark_internal): nothing it runs is profiled, no CPU
 * timer is armed for it, the threads profile does not list it, and the
 * mallocs of libmicrohttpd (and of the libraries it pulls in, gnutls & co.)
 * pass straight through the hooks.  It loads libmicrohttpd with dlopen
 * (only when CPROF_HTTP is set; RTLD_LOCAL, every MHD_* function through
 * dlsym), binds the listening socket itself (SOCK_CLOEXEC) and drives
 * libmicrohttpd in external polling mode: MHD_USE_EPOLL without an
 * internal polling thread, so libmicrohttpd never creates a thread of its
 * own - there is no MHD thread that could lack the guard or the signal
 * mask.  The loop polls MHD's epoll descriptor, the listening socket and
 * the waiting connections with MHD's timeout, accepts, and calls
 * MHD_run().
 *
 * Long requests.  ?seconds=N never blocks the loop.  An endpoint that must
 * wait suspends its connection (httpd_wait: MHD_suspend_connection) and
 * the request joins the pending list with a deadline; the poll timeout
 * never exceeds the earliest deadline.  When it passes, the loop resumes
 * the connection and libmicrohttpd calls the handler again, which hands
 * the request to endpoints_due().  Other requests are answered meanwhile.
 * A client that goes away ends its request at once, as Go's request
 * context does: the loop also polls each waiting socket for a hang-up
 * (libmicrohttpd does not watch suspended connections), tells the
 * endpoints (endpoints_end: the CPU window closes, the snapshot is freed)
 * and resumes the connection only for libmicrohttpd to close it.  So an
 * abandoned profile?seconds=600 never keeps the CPU window busy, nor
 * abandoned heap?seconds=86400 requests the connection slots.
 *
 * Slow readers.  An answer's workspace (mappings, symbolizer, encoder) is
 * dropped as soon as the answer is built: only its bytes, copied into a
 * region of their own, wait for the client; all answers being read hold
 * at most MAX_HELD (32 MiB; past that, 503), and each connection's kernel
 * send buffer is set to 128 KiB, so a client that reads nothing holds a
 * bounded amount of the process's and the kernel's memory.
 *
 * Memory.  Request state: one zeroed mmap'd block per request
 * (pages_alloc), with a region for its snapshot and body, freed when
 * libmicrohttpd reports the request complete.  Each profile is encoded into
 * a region; its bytes go to a region the response owns and frees in its
 * free callback (MHD_create_response_from_buffer_with_free_callback_cls),
 * see Slow readers; short messages
 * are copied by libmicrohttpd (its malloc, passed through).  All of this
 * runs on the one thread, so regions need no locking.
 *
 * Security.  Loopback only, unless CPROF_HTTP_TOKEN is set; with a token
 * every request, loopback or not, must carry it as the HTTP basic-auth
 * password (any user name; `go tool pprof http://user:TOKEN@host:port/...`
 * sends it), compared in constant time; otherwise 401 with
 * WWW-Authenticate.  A CPROF_HTTP_TOKEN that is set but unusable (too
 * short, a space, a ':') means no server at all, said in one line that
 * never shows the value: a typo in the secret must not open the profiles
 * to every local user.  Limits: 64 connections (fewer under a low
 * descriptor limit, below), 16 per client address, 10 s idle timeout,
 * 32 KiB of memory per connection (a longer request line or
 * header block gets libmicrohttpd's 414/431 and a close), POST only on
 * /symbol with a body of at most 64 KiB (413), methods other than GET,
 * HEAD and that POST get 405.  A slow client only holds its own connection.
 *
 * Descriptors.  The program's own needs win.  cprof accepts connections
 * itself (libmicrohttpd runs with MHD_USE_NO_LISTEN_SOCKET and is handed
 * each one with MHD_add_connection), so before a connection becomes one
 * of libmicrohttpd's: at most a sixteenth of RLIMIT_NOFILE connections at
 * once (64 at 1024), and none while the program is within an eighth of
 * the limit (at least 32): accept() returns the lowest free descriptor,
 * and one that high means the program holds nearly all the rest, so it is
 * closed at once and accepting pauses for a second, as it does on EMFILE
 * or ENFILE (libmicrohttpd's own accept busy-waits there).  Clients wait
 * in the kernel's backlog meanwhile, costing the program nothing.  One
 * line says so, once.
 *
 * Fork.  The thread does not exist in a child and the parent's daemon is
 * never used there.  http_fork_child() closes the child's copies of the
 * listening and connection sockets, each checked by inode first (a
 * descriptor is recorded as (fd, inode) with the inode written before the
 * fd, so a torn record or a number the program reused never matches), so
 * a long-lived child never keeps the port or a client's connection open;
 * it also closes its copies of the epoll instance and the wake-up pipe,
 * and stops a CPU window the parent's /profile had opened.  With port 0
 * and CPROF_HTTP_TARGETS the child then starts a server of its own
 * (CHILD_DELAY_NS later, on a
 * thread of its own, announced by targets.c); a fork waits for a server
 * that is starting (start_lock), so the child's never builds on a
 * half-made one.
 *
 * Descriptors taken over.  A program that closes the server's descriptors
 * (closefrom at start-up) and reuses the numbers stops the server: see
 * fds_intact() below.
 *
 * Exit.  The thread dies with the process.  Once exit() reaches cprof's
 * turn among the finalisers (rt.exiting, init.c), or the exit dump has
 * run (state RT_STOPPED), it stops calling into libmicrohttpd and parks,
 * so the libraries' destructors, libmicrohttpd's among them, which run
 * after that turn and before the exit dump, find it outside
 * libmicrohttpd (unless it was inside one MHD_run() call at that very
 * moment).  A request being encoded when exit() begins delays the exit
 * dump by that encoding only.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "endpoints.h"
#include "targets.h"
#include "log.h"
#include "real.h"
#include "runtime.h"
#include "threads.h"
#include "tstate.h"

#define MAX_CONNECTIONS 64u
#define MAX_PER_IP 16u
#define IDLE_TIMEOUT_S 10u
#define CONN_MEMORY ((size_t)32 * 1024)
#define MAX_HELD ((size_t)32 << 20)     /* response bytes held for clients still reading */
#define SNDBUF_BYTES (128 * 1024)          /* per connection, in the kernel (it doubles it) */
#define MAX_DISCARD ((size_t)1 << 20)   /* past this, an oversized upload is cut off */
#define POLL_MAX_MS 250
#define FD_MARGIN_MIN 32ul
#define ACCEPT_BATCH 16
#define ACCEPT_PAUSE_NS 1000000000ll
#define CHILD_DELAY_NS 100000000l      /* a fork child starts serving after this */

/* ---- libmicrohttpd, loaded at run time -------------------------------------- */

static struct {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_add_connection) *add_conn;
	__typeof__(MHD_lookup_connection_value) *lookup;
	__typeof__(MHD_get_connection_values) *values;
	__typeof__(MHD_get_connection_info) *conn_info;
	__typeof__(MHD_create_response_from_buffer) *resp_copy;
	__typeof__(MHD_create_response_from_buffer_with_free_callback_cls) *resp_owned;
	__typeof__(MHD_add_response_header) *add_header;
	__typeof__(MHD_queue_response) *queue;
	__typeof__(MHD_destroy_response) *destroy;
	__typeof__(MHD_suspend_connection) *suspend;
	__typeof__(MHD_resume_connection) *resume;
} mhd;

#define SYM(field, name) {name, offsetof(__typeof__(mhd), field)}
static const struct {
	const char *name;
	size_t off;
} mhd_syms[] = {
	SYM(start_daemon, "MHD_start_daemon"),
	SYM(get_daemon_info, "MHD_get_daemon_info"),
	SYM(get_timeout, "MHD_get_timeout"),
	SYM(run, "MHD_run"),
	SYM(add_conn, "MHD_add_connection"),
	SYM(lookup, "MHD_lookup_connection_value"),
	SYM(values, "MHD_get_connection_values"),
	SYM(conn_info, "MHD_get_connection_info"),
	SYM(resp_copy, "MHD_create_response_from_buffer"),
	SYM(resp_owned, "MHD_create_response_from_buffer_with_free_callback_cls"),
	SYM(add_header, "MHD_add_response_header"),
	SYM(queue, "MHD_queue_response"),
	SYM(destroy, "MHD_destroy_response"),
	SYM(suspend, "MHD_suspend_connection"),
	SYM(resume, "MHD_resume_connection"),
};

static int load_mhd(void)
{
	static const char soname[] = "libmicrohttpd.so.12";
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		cprof_warn("cannot load %s (%s); no HTTP server (install libmicrohttpd12)", soname,
			   why ? why : "not found");
		return -1;
	}
	for (size_t i = 0; i < CPROF_ARRAY_LEN(mhd_syms); i++) {
		void *p = dlsym(h, mhd_syms[i].name);
		if (!p) {
			cprof_warn("%s has no %s (version 0.9.73 or later is needed); no HTTP server",
				   soname, mhd_syms[i].name);
			return -1;
		}
		memcpy((char *)&mhd + mhd_syms[i].off, &p, sizeof(p));
	}
	return 0;
}

/* ---- server state (the HTTP thread's, except where noted) ---------------------- */

static atomic_bool started;      /* http_init created the thread (any thread) */
/* Held by a server thread for the whole of start() (loading libmicrohttpd,
 * binding, creating the daemon).  fork's prepare handler takes it like
 * every cprof lock, so a fork waits the few milliseconds a start takes and
 * a child never inherits a server half made (a library half loaded, a
 * daemon half created) that its own server would then build on. */
static cprof_mutex_t start_lock;
CPROF_MUTEX_CLASS(http_start, LOCK_RANK_HTTP_START, start_lock);
static struct MHD_Daemon *daemon_;
static int epoll_fd = -1;
static int listen_fd = -1;
static unsigned nconn;           /* connections libmicrohttpd holds */
static unsigned conn_cap;        /* at most this many (descriptor limit) */
static int64_t accept_after_ns;  /* accepting paused until then */
static pid_t owner_tid;          /* the mark on epoll_fd and an eventfd ITC (F_SETOWN_EX) */
/* libmicrohttpd's wake-up channel (ITC): an eventfd, or both ends of a
 * pipe (told apart by their shared inode). */
static struct {
	int fd;
	unsigned long ino;           /* pipe; 0 for an eventfd (marked instead) */
} itc[2] = {{-1, 0}, {-1, 0}};
static char token[256];

static struct req *pending;      /* suspended, waiting for their deadline */

/* Sockets the fork child must close: (fd + 1, inode), inode written
 * first; fd1 == 0 marks a free slot.  Slot 0 is the listening socket. */
#define TRACK_SLOTS (MAX_CONNECTIONS + 16)
static struct {
	atomic_int fd1;
	atomic_ulong ino;
} tracked[TRACK_SLOTS];

static void track(int fd, bool listener)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return;
	for (size_t i = listener ? 0 : 1; i < (listener ? 1 : TRACK_SLOTS); i++) {
		if (atomic_load(&tracked[i].fd1) != 0)
			continue;
		atomic_store(&tracked[i].ino, (unsigned long)st.st_ino);
		atomic_store(&tracked[i].fd1, fd + 1);
		return;
	}
}

static void untrack(int fd)
{
	for (size_t i = 0; i < TRACK_SLOTS; i++)
		if (atomic_load(&tracked[i].fd1) == fd + 1)
			atomic_store(&tracked[i].fd1, 0);
}

/* ---- requests ---------------------------------------------------------------------- */

static void unlink_pending(struct req *q)
{
	if (!q->in_pending)
		return;
	for (struct req **pp = &pending; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	q->next = NULL;
	q->in_pending = false;
}

static void req_free(struct req *q)
{
	unlink_pending(q);
	endpoints_end(q);
	region_reset(&q->r);
	pages_free(q, sizeof(*q));
}

/* ---- responses ------------------------------------------------------------------- */

/* Bytes mapped for responses that clients are still reading. */
static size_t held;

static void free_owned(void *cls)
{
	struct region r = *(struct region *)cls;
	held -= r.mapped < held ? r.mapped : held;
	region_reset(&r);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp,
				 const char *ctype, const struct hdr *extra, size_t nextra)
{
	if (!resp)
		return MHD_NO;
	mhd.add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	mhd.add_header(resp, "X-Content-Type-Options", "nosniff");
	for (size_t i = 0; i < nextra; i++)
		mhd.add_header(resp, extra[i].key, extra[i].value);
	enum MHD_Result r = mhd.queue(c, status, resp);
	mhd.destroy(resp);
	return r;
}

/* A body built in region r (with whatever else the encoding needed
 * there).  Only the body outlives this call: it is copied into a region
 * of its own, which the response owns, and r is emptied at once, so a
 * client reading slowly holds its bytes and nothing else.  All responses
 * being read hold at most MAX_HELD; past that a request gets 503. */
enum MHD_Result httpd_reply_owned(struct MHD_Connection *c, unsigned status, const char *ctype,
				   void *buf, size_t len, struct region *r,
				   const struct hdr *extra, size_t nextra)
{
	struct region keep = {0};
	struct region *hold = region_alloc(&keep, sizeof(*hold));
	char *body = hold ? region_alloc(&keep, len ? len : 1) : NULL;
	if (body && len)
		memcpy(body, buf, len);
	region_reset(r);
	if (!body) {
		region_reset(&keep);
		return httpd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cprof: out of memory");
	}
	if (held + keep.mapped > MAX_HELD) {
		region_reset(&keep);
		return httpd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "cprof: too much is being sent to slow clients already; try again later");
	}
	held += keep.mapped;
	*hold = keep;
	struct MHD_Response *resp = mhd.resp_owned(len, body, free_owned, hold);
	if (!resp) {
		free_owned(hold);
		return MHD_NO;
	}
	return send_resp(c, status, resp, ctype, extra, nextra);
}

/* A short body libmicrohttpd copies. */
enum MHD_Result httpd_reply_copy(struct MHD_Connection *c, unsigned status, const char *ctype,
				  const char *body, const struct hdr *extra, size_t nextra)
{
	struct MHD_Response *resp = mhd.resp_copy(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	return send_resp(c, status, resp, ctype, extra, nextra);
}

/* Go's serveError: text/plain, X-Go-Pprof: 1, the message and a newline. */
enum MHD_Result httpd_reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char body[512];
	static const struct hdr go = {"X-Go-Pprof", "1"};
	cprof_fmt(body, sizeof(body), "%s\n", msg);
	return httpd_reply_copy(c, status, "text/plain; charset=utf-8", body, &go, 1);
}

/* ---- what the endpoints use of libmicrohttpd ------------------------------------------ */

const char *httpd_arg(struct MHD_Connection *c, const char *key)
{
	const char *v = mhd.lookup(c, MHD_GET_ARGUMENT_KIND, key);
	return v && *v ? v : NULL;
}

void httpd_query_keys(struct MHD_Connection *c, MHD_KeyValueIterator it, void *cls)
{
	mhd.values(c, MHD_GET_ARGUMENT_KIND, it, cls);
}

/* ---- authentication ---------------------------------------------------------------- */

static int b64(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Basic auth whose password is the token (any user name). */
static bool authorized(struct MHD_Connection *c)
{
	unsigned char out[768];
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	const char *h = mhd.lookup(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h)
		return false;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Basic ", 6) != 0)
		return false;
	for (h += 6; *h == ' '; h++)
		;
	for (; *h && *h != '=' && *h != ' '; h++) {
		int v = b64(*h);
		if (v < 0)
			return false;
		acc = ((acc << 6) | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == sizeof(out))
				return false;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	const unsigned char *colon = memchr(out, ':', n);
	if (!colon)
		return false;
	const unsigned char *pw = colon + 1;
	size_t pwlen = n - (size_t)(pw - out), tlen = strlen(token);
	unsigned diff = pwlen != tlen;
	for (size_t i = 0; i < tlen; i++)
		diff |= (unsigned)(unsigned char)token[i] ^ (i < pwlen ? pw[i] : 0u);
	return diff == 0;
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------- */

/* Content-Length: a decimal number of at most 20 digits. */
static uint64_t content_length(const char *s, bool *ok)
{
	uint64_t v = 0;
	size_t n = strlen(s);
	*ok = false;
	if (!n || n > 20)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*ok = true;
	return v;
}

/* The first call for a request (headers received): authenticate, route,
 * check the method and the announced body size.  Errors are answered at
 * once (libmicrohttpd then discards any body and closes). */
static enum MHD_Result first_call(struct MHD_Connection *c, const char *url, const char *method,
				  void **con_cls)
{
	static const char prefix[] = "/debug/pprof/";
	static const struct hdr www = {"WWW-Authenticate", "Basic realm=\"cprof\", charset=\"UTF-8\""};

	if (!rt_running())
		return httpd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cprof: profiling has stopped in this process");
	if (token[0] && !authorized(c))
		return httpd_reply_copy(c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8",
				  "401 unauthorized: this endpoint needs CPROF_HTTP_TOKEN as the basic-auth password\n",
				  &www, 1);
	if (strcmp(url, "/debug/pprof") == 0) {
		static const struct hdr loc = {"Location", "/debug/pprof/"};
		return httpd_reply_copy(c, MHD_HTTP_MOVED_PERMANENTLY, "text/html; charset=utf-8",
				  "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n", &loc, 1);
	}
	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
		return httpd_reply_copy(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "404 page not found\n", NULL, 0);

	struct req *q = pages_alloc(sizeof(*q));
	if (!q)
		return httpd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cprof: out of memory");
	q->conn = c;
	if (!endpoints_route(q, url + sizeof(prefix) - 1)) {
		pages_free(q, sizeof(*q));
		return httpd_reply_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
	}

	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	if (!(strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ||
	      (post && q->post_ok))) {
		static const struct hdr allow = {"Allow", "GET, HEAD"};
		static const struct hdr allow_post = {"Allow", "GET, HEAD, POST"};
		bool post_ok = q->post_ok;
		pages_free(q, sizeof(*q));
		return httpd_reply_copy(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
					"405 method not allowed\n", post_ok ? &allow_post : &allow, 1);
	}
	if (post) {
		const char *cl = mhd.lookup(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		bool ok;
		uint64_t n = cl ? content_length(cl, &ok) : 0;
		if (cl && (!ok || n > HTTPD_MAX_BODY)) {
			char msg[128];
			pages_free(q, sizeof(*q));
			cprof_fmt(msg, sizeof(msg), "request body too large (at most %zu bytes)", HTTPD_MAX_BODY);
			return httpd_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
		}
	}
	q->post = post;
	*con_cls = q;
	return MHD_YES;
}

static void take_body(struct req *q, const char *data, size_t n)
{
	if (!q->post || q->body_too_large || q->body_len + n > HTTPD_MAX_BODY) {
		q->body_too_large = q->post;
		q->discarded += n;
		return;
	}
	if (!q->body) {
		q->body = region_alloc(&q->r, HTTPD_MAX_BODY);
		if (!q->body) {
			q->body_too_large = true;
			return;
		}
	}
	memcpy(q->body + q->body_len, data, n);
	q->body_len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req *q = *con_cls;
	(void)cls;
	(void)version;

	if (!q)
		return first_call(c, url, method, con_cls);
	if (*upload_size) {
		take_body(q, upload, *upload_size);
		*upload_size = 0;
		return q->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
	}
	if (q->state == Q_GONE)
		return MHD_NO; /* the client left while waiting: close, free (on_completed) */
	if (q->state == Q_DUE)
		return endpoints_due(q);
	if (q->state == Q_WAITING)
		return MHD_YES; /* not due yet (a spurious call) */
	if (!rt_running())
		return httpd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cprof: profiling has stopped in this process");
	return endpoints_serve(q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	if (*con_cls) {
		req_free(*con_cls);
		*con_cls = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)socket_context;
	const union MHD_ConnectionInfo *ci = mhd.conn_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		nconn++;
		track(ci->connect_fd, false);
	} else {
		nconn -= nconn > 0;
		untrack(ci->connect_fd);
	}
}

/* Suspend q's connection until `seconds` from now (the loop resumes it). */
enum MHD_Result httpd_wait(struct req *q, long seconds)
{
	const union MHD_ConnectionInfo *ci = mhd.conn_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	q->fd = ci ? ci->connect_fd : -1;
	q->due_ns = cprof_now_ns() + (int64_t)seconds * 1000000000;
	q->state = Q_WAITING;
	q->next = pending;
	pending = q;
	q->in_pending = true;
	mhd.suspend(q->conn);
	return MHD_YES;
}

/* ---- the listening socket ------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* host:port (host: IPv4, [IPv6], a name, or empty for every interface,
 * as Go's ":6060") into ss.  The syntax was checked by config.c. */
static int resolve_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	size_t hlen = colon ? (size_t)(colon - spec) : 0;
	unsigned long port = 0;

	if (!colon || hlen >= sizeof(host))
		return -1;
	for (const char *p = colon + 1; *p >= '0' && *p <= '9'; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (port > 65535)
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
			return -1;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	v4->sin_family = AF_INET;
	v4->sin_port = htons((uint16_t)port);
	*len = sizeof(*v4);
	if (!host[0]) {
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (strcmp(host, "localhost") == 0) {
		v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1)
		return 0;
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	/* A host name (getaddrinfo allocates: passed through, guard held). */
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return -1;
	int rc = -1;
	if (res->ai_addrlen <= sizeof(*ss)) {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*len = res->ai_addrlen;
		if (ss->ss_family == AF_INET)
			v4->sin_port = htons((uint16_t)port);
		else
			v6->sin6_port = htons((uint16_t)port);
		rc = 0;
	}
	freeaddrinfo(res);
	return rc;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		cprof_fmt(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		cprof_fmt(out, outlen, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	}
}

static int open_listener(struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t sl = sizeof(*ss);
	if (bind(fd, (struct sockaddr *)ss, len) != 0 || listen(fd, (int)MAX_CONNECTIONS) != 0 ||
	    getsockname(fd, (struct sockaddr *)ss, &sl) != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* ---- descriptors: the program's needs come first ------------------------------------- */

/* The program's descriptor limit now (it may raise or lower it). */
static unsigned long fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1UL << 30))
		return 1UL << 30;
	return (unsigned long)rl.rlim_cur;
}

/* Descriptors left to the program, never touched by the server: an
 * eighth of the limit, at least FD_MARGIN_MIN. */
static unsigned long fd_margin(unsigned long limit)
{
	unsigned long m = limit / 8;
	return m < FD_MARGIN_MIN ? FD_MARGIN_MIN : m;
}

/* Connections at once: MAX_CONNECTIONS, or a sixteenth of the limit
 * (1024 -> 64, 256 -> 16, 64 -> 4), at least 1. */
static unsigned connection_cap(void)
{
	unsigned long c = fd_limit() / 16;
	if (c > MAX_CONNECTIONS)
		c = MAX_CONNECTIONS;
	return c ? (unsigned)c : 1;
}

static atomic_int warned_fds;

static void pause_accepting(const char *why)
{
	accept_after_ns = cprof_now_ns() + ACCEPT_PAUSE_NS;
	cprof_warn_once(&warned_fds, "%s: the HTTP server accepts no connections while it is so, and "
			"takes none of the program's descriptors", why);
}

/* Take the connections waiting on the listening socket, while the
 * program keeps its margin.  accept() returns the lowest free descriptor:
 * one at or above limit - margin means the program has (nearly) all the
 * rest, so it is closed at once and accepting pauses for a second;
 * EMFILE/ENFILE pause too (never a loop retrying at once). */
static void accept_some(void)
{
	for (int i = 0; i < ACCEPT_BATCH && nconn < conn_cap; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepting("the process is out of descriptors");
			return;
		}
		unsigned long limit = fd_limit();
		if ((unsigned long)fd + fd_margin(limit) >= limit) {
			close(fd);
			pause_accepting("the program is near its descriptor limit (RLIMIT_NOFILE)");
			return;
		}
		/* A client that reads slowly holds at most this much of the
		 * kernel's memory for its answer; the rest waits in ours. */
		int sndbuf = SNDBUF_BYTES;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		/* libmicrohttpd closes the socket itself if it will not take it. */
		mhd.add_conn(daemon_, fd, (struct sockaddr *)&ss, len);
	}
}

/* ---- the server's descriptors: still its own? ------------------------------------------ */

/* Many daemons close every inherited descriptor at start-up (closefrom(3))
 * and then open their own, which take the lowest numbers: cprof's old
 * ones.  libmicrohttpd would go on using those numbers, waiting on the
 * program's epoll instance and writing to what is now the program's file.
 * So before each round the loop checks that every descriptor of the server
 * is still the one it opened: sockets and libmicrohttpd's wake-up pipe by
 * inode (recorded as for fork); the epoll instance, and the eventfd
 * libmicrohttpd may wake with instead, whose anonymous inodes are all
 * alike, by an owner mark (F_SETOWN_EX to this thread; neither file sends
 * signals, so the mark does nothing else).  A check can race with
 * a program closing and reopening between it and the next use; the loop
 * checks again right after waiting, so that window is a few instructions. */

static void mark(int fd)
{
	struct f_owner_ex o = {.type = F_OWNER_TID, .pid = owner_tid};
	if (fd >= 0)
		fcntl(fd, F_SETOWN_EX, &o);
}

static bool marked(int fd)
{
	struct f_owner_ex o;
	return fd >= 0 && fcntl(fd, F_GETOWN_EX, &o) == 0 && o.type == F_OWNER_TID && o.pid == owner_tid;
}

/* Whether marks can be checked at all (a seccomp filter may refuse
 * F_SETOWN_EX): if not, only the sockets and the pipe are checked. */
static bool marks_work;

static bool socket_is(int fd, unsigned long ino)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && (unsigned long)st.st_ino == ino;
}

static bool fifo_is(int fd, unsigned long ino)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (unsigned long)st.st_ino == ino;
}

/* libmicrohttpd's ITC: the one descriptor its epoll instance watches
 * right after start (no listening socket, no client yet), and for a pipe
 * its write end, created with it (pipe2: the neighbouring number). */
static void find_itc(void)
{
	char path[64], buf[2048];
	struct stat st;
	cprof_fmt(path, sizeof(path), "/proc/self/fdinfo/%d", epoll_fd);
	long n = cprof_read_file(path, buf, sizeof(buf));
	const char *t = n > 0 ? strstr(buf, "tfd:") : NULL;
	if (!t)
		return;
	for (t += 4; *t == ' ' || *t == '\t'; t++)
		;
	int fd = 0;
	for (; *t >= '0' && *t <= '9' && fd < (1 << 24); t++)
		fd = fd * 10 + (*t - '0');
	if (fstat(fd, &st) != 0)
		return;
	itc[0].fd = fd;
	if (!S_ISFIFO(st.st_mode)) {
		mark(fd);
		return;
	}
	itc[0].ino = (unsigned long)st.st_ino;
	for (int d = -2; d <= 2; d++) {
		if (d && fd + d >= 0 && fifo_is(fd + d, itc[0].ino)) {
			itc[1].fd = fd + d;
			itc[1].ino = itc[0].ino;
			break;
		}
	}
}

static bool itc_is(int i)
{
	return itc[i].ino ? fifo_is(itc[i].fd, itc[i].ino) : marked(itc[i].fd);
}

static bool fds_intact(void)
{
	if (marks_work && !marked(epoll_fd))
		return false;
	for (int i = 0; i < 2; i++)
		if (itc[i].fd >= 0 && (itc[i].ino || marks_work) && !itc_is(i))
			return false;
	for (size_t i = 0; i < TRACK_SLOTS; i++) {
		int fd1 = atomic_load(&tracked[i].fd1);
		if (fd1 && !socket_is(fd1 - 1, atomic_load(&tracked[i].ino)))
			return false;
	}
	return true;
}

/* The program took the server's descriptors: never call libmicrohttpd
 * again (it would close or use the program's), close what is still the
 * server's own, give the CPU window back, and end the thread.  The
 * daemon's memory is left behind. */
static CPROF_COLD void abandon(void)
{
	for (size_t i = 0; i < TRACK_SLOTS; i++) {
		int fd1 = atomic_load(&tracked[i].fd1);
		if (fd1 && socket_is(fd1 - 1, atomic_load(&tracked[i].ino)))
			close(fd1 - 1);
		atomic_store(&tracked[i].fd1, 0);
	}
	for (int i = 0; i < 2; i++)
		if (itc[i].fd >= 0 && itc_is(i))
			close(itc[i].fd);
	if (marked(epoll_fd))
		close(epoll_fd);
	while (pending)
		req_free(pending); /* libmicrohttpd will never call back with it */
	endpoints_stop();
	daemon_ = NULL;
	epoll_fd = itc[0].fd = itc[1].fd = listen_fd = -1;
	targets_withdraw();
	cprof_warn("the program closed or reused the HTTP server's descriptors (closefrom at start-up?); "
		   "the HTTP server has stopped, leaving the program's descriptors alone");
}

/* ---- the thread ----------------------------------------------------------------------- */

/* Port 0: each process serves on a port of its own, fork children too. */
static bool any_port(void)
{
	const char *colon = strrchr(rt.cfg.http, ':');
	return colon && strcmp(colon + 1, "0") == 0;
}

/* The target file (targets.h): the address a local client connects to
 * (the unspecified address means this host's loopback). */
static void publish(const struct sockaddr_storage *bound)
{
	struct sockaddr_storage ss = *bound;
	char where[128];
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
			a->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	format_addr(&ss, where, sizeof(where));
	targets_publish(where);
}

static int start(void)
{
	const char *spec = rt.cfg.http;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char where[128];

	cprof_fmt(token, sizeof(token), "%s", rt.cfg.http_token);
	if (resolve_addr(spec, &ss, &len) != 0) {
		cprof_warn("CPROF_HTTP=%s: cannot resolve the address; no HTTP server", spec);
		return -1;
	}
	if (!is_loopback(&ss) && !token[0]) {
		cprof_warn("CPROF_HTTP=%s is not a loopback address: refusing to serve profiles there without "
			   "CPROF_HTTP_TOKEN; no HTTP server (bind 127.0.0.1, or set a token)", spec);
		return -1;
	}
	if (load_mhd() != 0)
		return -1;
	int fd = open_listener(&ss, len);
	if (fd < 0) {
		const char *why = strerrordesc_np(errno);
		if (errno == EADDRINUSE) /* every process of a tree would say it */
			cprof_warn_tree("CPROF_HTTP=%s: cannot listen (%s); no HTTP server in this process (with "
					"port 0 each process of a program serves on a port of its own: see "
					"CPROF_HTTP_TARGETS)", spec, why ? why : "error");
		else
			cprof_warn("CPROF_HTTP=%s: cannot listen (%s); no HTTP server", spec, why ? why : "error");
		return -1;
	}
	track(fd, true);
	/* cprof accepts (accept_some), libmicrohttpd serves what it is given:
	 * so the program's descriptor needs are checked before each accept. */
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	conn_cap = connection_cap();
	daemon_ = mhd.start_daemon(flags, 0, NULL, NULL, on_request, NULL,
				   MHD_OPTION_CONNECTION_LIMIT, conn_cap,
				   MHD_OPTION_PER_IP_CONNECTION_LIMIT, MAX_PER_IP,
				   MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
				   MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				   MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				   MHD_OPTION_END);
	const union MHD_DaemonInfo *di = daemon_ ? mhd.get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!daemon_ || !di) {
		untrack(fd);
		close(fd);
		cprof_warn("CPROF_HTTP=%s: libmicrohttpd would not start; no HTTP server", spec);
		return -1;
	}
	epoll_fd = di->epoll_fd;
	listen_fd = fd;
	owner_tid = gettid();
	mark(epoll_fd);
	marks_work = marked(epoll_fd);
	find_itc();
	format_addr(&ss, where, sizeof(where));
	cprof_info("serving /debug/pprof on http://%s%s", where, token[0] ? " (basic-auth token required)" : "");
	publish(&ss);
	return 0;
}

static void wake_due(void)
{
	int64_t now = cprof_now_ns();
	struct req **pp = &pending;
	while (*pp) {
		struct req *q = *pp;
		if (q->due_ns > now) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		q->next = NULL;
		q->in_pending = false;
		q->state = Q_DUE;
		mhd.resume(q->conn);
	}
}

static CPROF_COLD void park(void)
{
	/* The exit dump has run: leave libmicrohttpd alone until the process
	 * is gone (its destructors may run now). */
	for (;;) {
		struct timespec ts = {3600, 0};
		nanosleep(&ts, NULL);
	}
}

/* A waiting client that hung up (or half-closed, as Go's server also
 * takes for gone) ends its window now: the CPU window closes, the
 * snapshot is freed, the connection is resumed only to be closed.  A
 * suspended connection is not watched by libmicrohttpd, so the loop polls
 * the waiting sockets itself. */
static void drop_gone(const struct pollfd *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!(p[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
			continue;
		for (struct req *q = pending; q; q = q->next) {
			if (q->fd != p[i].fd || q->state != Q_WAITING)
				continue;
			unlink_pending(q);
			endpoints_end(q);
			q->state = Q_GONE;
			mhd.resume(q->conn);
			break;
		}
	}
}

static void loop(void)
{
	struct pollfd p[2 + MAX_CONNECTIONS];
	for (;;) {
		if (atomic_load(&rt.state) == RT_STOPPED || atomic_load(&rt.exiting))
			park();
		long timeout = POLL_MAX_MS;
		MHD_UNSIGNED_LONG_LONG to;
		if (mhd.get_timeout(daemon_, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)timeout)
			timeout = (long)to;
		int64_t now = cprof_now_ns();
		bool accepting = nconn < conn_cap && now >= accept_after_ns;
		if (!accepting && nconn < conn_cap && (accept_after_ns - now) / 1000000 < timeout)
			timeout = (long)((accept_after_ns - now) / 1000000) + 1;
		size_t n = 2;
		p[0] = (struct pollfd){.fd = epoll_fd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = accepting ? listen_fd : -1, .events = POLLIN};
		for (struct req *q = pending; q; q = q->next) {
			int64_t left = (q->due_ns - now + 999999) / 1000000;
			if (left < timeout)
				timeout = left < 0 ? 0 : (long)left;
			if (q->fd >= 0 && n < CPROF_ARRAY_LEN(p))
				p[n++] = (struct pollfd){.fd = q->fd, .events = POLLRDHUP};
		}
		if (!fds_intact())
			break;
		poll(p, n, (int)timeout);
		if (atomic_load(&rt.state) == RT_STOPPED || atomic_load(&rt.exiting))
			park();
		if (!fds_intact())
			break;
		drop_gone(p + 2, n - 2);
		wake_due();
		if (p[1].revents & POLLIN)
			accept_some();
		mhd.run(daemon_);
	}
	abandon();
}

static void *server(void *arg)
{
	cprof_tls.guard = 1; /* for the thread's whole life */
	threads_mark_internal();
	REAL(pthread_setname_np)(pthread_self(), "cprof-http");
	if (arg) {
		/* A fork child's server: most children that exec do so at
		 * once, and this thread and the port go with the old image. */
		struct timespec ts = {0, CHILD_DELAY_NS};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	cprof_mutex_lock(&start_lock);
	bool serving = rt_running() && start() == 0;
	cprof_mutex_unlock(&start_lock);
	if (serving)
		loop();
	/* Not serving: leave the registry as if this thread never was. */
	threads_unregister_self();
	return NULL;
}

static int start_thread(bool child)
{
	pthread_t th;
	pthread_attr_t attr;
	sigset_t all, old;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = REAL(pthread_create)(&th, &attr, server, child ? (void *)1 : NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		cprof_warn("cannot start the HTTP server thread (%s); no /debug/pprof",
			   strerrordesc_np(r) ? strerrordesc_np(r) : "error");
		return -1;
	}
	return 0;
}

int http_init(void)
{
	if (!rt.cfg.http[0])
		return 0;
	/* A token was set but is unusable: config.c said so in its one line
	 * (without the value).  Serving without it would fail open. */
	if (rt.cfg.http_token_bad)
		return 0;
	if (start_thread(false) != 0)
		return -1;
	atomic_store(&started, true);
	return 0;
}

/* ---- fork ---------------------------------------------------------------------------- */

static bool is_eventpoll(int fd)
{
	char path[64], link[64];
	cprof_fmt(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventpoll]") == 0;
}

void http_fork_child(void)
{
	/* Whether or not the server had finished starting: the listener is
	 * recorded as soon as it exists. */
	for (size_t i = 0; i < TRACK_SLOTS; i++) {
		int fd1 = atomic_load(&tracked[i].fd1);
		if (!fd1)
			continue;
		unsigned long ino = atomic_load(&tracked[i].ino);
		struct stat st;
		if (fstat(fd1 - 1, &st) == 0 && S_ISSOCK(st.st_mode) && (unsigned long)st.st_ino == ino)
			close(fd1 - 1);
		atomic_store(&tracked[i].fd1, 0);
	}
	/* The epoll instance lives on in the parent; the child's reference
	 * only costs a descriptor.  Its number never changes while serving. */
	if (epoll_fd >= 0 && is_eventpoll(epoll_fd))
		close(epoll_fd);
	for (int i = 0; i < 2; i++)
		if (itc[i].fd >= 0 && itc[i].ino && fifo_is(itc[i].fd, itc[i].ino))
			close(itc[i].fd);
	itc[0].fd = itc[1].fd = -1;
	epoll_fd = -1;
	listen_fd = -1;
	nconn = 0;
	pending = NULL;
	held = 0;              /* the parent's answers are the parent's */
	accept_after_ns = 0;
	endpoints_fork_child();
	targets_fork_child();
	daemon_ = NULL;
	/* Started in the parent, even if not listening yet (a master that
	 * forks its workers at once): with port 0 and target files
	 * (CPROF_HTTP_TARGETS, how a scraper finds it) the child serves too. */
	if (atomic_load(&started) && any_port() && rt.cfg.http_targets[0] && rt_running())
		start_thread(true);
}
