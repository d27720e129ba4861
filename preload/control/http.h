/*
 * http.h - the live profiling endpoint (CPROF_HTTP=host:port): Go's
 * /debug/pprof/ for any program, served by GNU libmicrohttpd on one cprof
 * thread.  See http.c for the design (threading, limits, security) and
 * endpoints.c for what each path answers.
 *
 * Contexts: http_init() from the constructor, after the writer thread is
 * up; http_fork_child() from the fork child handler (init.c), where the
 * server never runs.
 */
#ifndef CPROF_HTTP_H
#define CPROF_HTTP_H

/* Start the server thread when CPROF_HTTP is set.  Returns 0, or -1 when
 * the thread could not be created (said on stderr).  Loading
 * libmicrohttpd, binding and the address checks happen on that thread,
 * which reports its own failures with one cprof: line each. */
int http_init(void);

/* Fork child: close the child's copies of the server's sockets and stop a
 * CPU window a /profile request had opened.  With port 0 and
 * CPROF_HTTP_TARGETS, the child starts a server of its own (after
 * CHILD_DELAY_NS: a child that execs at once never binds one); otherwise
 * it does not serve. */
void http_fork_child(void);

#endif
