/*
 * endpoints.h - the contract between the HTTP server (http.c: the thread,
 * libmicrohttpd, sockets, limits, authentication, the life of a request)
 * and the /debug/pprof endpoints (endpoints.c: what each path answers).
 *
 * Contexts: all of it runs on the one "cprof-http" thread (guard held,
 * every signal blocked), except endpoints_fork_child (the fork child).
 * Nothing here needs a lock of its own.
 */
#ifndef CPROF_ENDPOINTS_H
#define CPROF_ENDPOINTS_H

#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>

#include "arena.h"
#include "profiles.h"

#define HTTPD_MAX_BODY ((size_t)64 * 1024)   /* a POST body (/symbol) */

enum route { R_INDEX, R_CMDLINE, R_PROFILE, R_SYMBOL, R_KIND };
enum { Q_NEW, Q_WAITING, Q_DUE, Q_GONE };

/* One request: the server's fields, then the endpoint's. */
struct req {
	struct req *next;                  /* pending list */
	struct MHD_Connection *conn;
	struct region r;                   /* snapshot, body */
	enum route route;
	const struct profile_kind *kind;   /* R_KIND */
	char name[16];                     /* endpoint name: heap, allocs, goroutine... */
	bool allocs;
	bool godelta;                      /* delta_heap, delta_mutex, delta_block */
	bool peak;                         /* heap?peak=1 */
	bool post;
	bool post_ok;                      /* the endpoint takes POST (set by endpoints_route) */
	int state;
	bool in_pending;
	bool owns_cpu;                     /* holds the CPU window */
	int64_t due_ns, start_mono;
	int fd;                            /* the connection's socket, while waiting */
	struct prof_snapshot *snap;
	char *body;
	size_t body_len, discarded;
	bool body_too_large;
};

/* ---- what the server gives the endpoints (http.c) ---- */

struct hdr {
	const char *key, *value;
};

/* A body built in region r: only its bytes outlive the call (copied into
 * a region the response owns); r is emptied at once.  503 past the limit
 * on bytes held for slow readers. */
enum MHD_Result httpd_reply_owned(struct MHD_Connection *c, unsigned status, const char *ctype, void *buf,
				  size_t len, struct region *r, const struct hdr *extra, size_t nextra);
/* A short body libmicrohttpd copies. */
enum MHD_Result httpd_reply_copy(struct MHD_Connection *c, unsigned status, const char *ctype,
				 const char *body, const struct hdr *extra, size_t nextra);
/* Go's serveError: text/plain, X-Go-Pprof: 1, the message and a newline. */
enum MHD_Result httpd_reply_error(struct MHD_Connection *c, unsigned status, const char *msg);

/* A query argument, NULL when missing or empty. */
const char *httpd_arg(struct MHD_Connection *c, const char *key);
/* Every query argument, in order. */
void httpd_query_keys(struct MHD_Connection *c, MHD_KeyValueIterator it, void *cls);
/* Suspend q until `seconds` from now; then endpoints_due(q) is called
 * (or endpoints_end(q), if the client leaves first). */
enum MHD_Result httpd_wait(struct req *q, long seconds);

/* ---- what the endpoints give the server (endpoints.c) ---- */

/* The path after /debug/pprof/ ("" for the index): fill q's endpoint
 * fields; false for an unknown profile (404). */
bool endpoints_route(struct req *q, const char *name);
/* Answer q (its body, if any, has arrived). */
enum MHD_Result endpoints_serve(struct req *q);
/* q's wait is over: answer it. */
enum MHD_Result endpoints_due(struct req *q);
/* q ends, answered or not (the client left): let go of what it holds
 * besides its region (the CPU window). */
void endpoints_end(struct req *q);
/* The server stops for good: as endpoints_end for every request. */
void endpoints_stop(void);
/* The fork child: no CPU window of the parent's stays open. */
void endpoints_fork_child(void);

#endif
