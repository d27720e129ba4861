/*
 * targets.h - where a scraper finds each process's /debug/pprof endpoint:
 * one Prometheus file_sd target file per serving process, in the directory
 * CPROF_HTTP_TARGETS names.
 *
 * DESIGN
 * A program of many processes (a master and its workers, a tree started
 * by a script) cannot share one port: with CPROF_HTTP=HOST:0 every process
 * serves on a port of its own, and with CPROF_HTTP_TARGETS=DIR each one
 * writes DIR/PID.json once it listens:
 *
 *   [{"targets": ["127.0.0.1:41235"],
 *     "labels": {"service_name": "nginx", "pid": "1234", "exe": "/usr/sbin/nginx"}}]
 *
 * which is the format of Prometheus's file_sd_configs, read by Grafana
 * Alloy's discovery.file and Parca's file_sd_configs alike, so a glob of
 * the JSON files in DIR follows the processes as they come and go.  A file is
 * written to a temporary name and renamed, so a scraper never reads half
 * of one.  It is removed when the process exits (the exit dump), dies of
 * SIGTERM or SIGINT through cprof's handler, or its server stops for good;
 * a process killed outright leaves its file, and every process that
 * publishes first removes the files of pids that no longer exist.  A fork
 * child never removes its parent's file; it publishes its own once it
 * serves.  The token (CPROF_HTTP_TOKEN) is never written: scrapers are
 * given it in their own configuration.
 *
 * Contexts: targets_publish() on the HTTP thread; targets_withdraw() from
 * the exiting thread and from a signal handler (async-signal-safe: one
 * unlink of a path prepared by publish); targets_fork_child() in the fork
 * child handler.
 */
#ifndef CPROF_TARGETS_H
#define CPROF_TARGETS_H

/* Announce "host:port" (as a client would connect to it). */
void targets_publish(const char *hostport);
void targets_withdraw(void);
void targets_fork_child(void);

#endif
