#!/usr/bin/python3
"""cprof benchmarks: overhead, accuracy and cost growth, against other profilers.

    make bench                                   # everything, writes docs/performance.md
    /usr/bin/python3 bench/run.py --build build  # the same
    /usr/bin/python3 bench/run.py --quick        # smoke test: small subset, 2-3 repetitions
    /usr/bin/python3 bench/run.py --only malloc --only accuracy-heap
    /usr/bin/python3 bench/run.py --list         # the sections --only accepts

Every workload is run bare and under each profiler in alternation (bare, A,
B, ..., then again with the order rotated) for R repetitions; each run is
compared with the bare run of the same repetition and the tables give the
median of those ratios and their spread.  Profilers' outputs go to a
temporary directory, are checked (a profiler that wrote nothing is not
measured) and deleted.  The full run writes docs/performance.md (the tables,
the machine, the commands) and <build>/bench/results.json (every number);
--quick and --only write <build>/bench/performance.md (and
results-partial.json) unless --out is given, so a smoke test never replaces
the committed results; --only with --update RESULTS measures those sections
again and puts them into an earlier full run's results (the page says which
sections were measured when).

Programs: bench/progs/*.c are built into <build>/bench/ with gcc -O2 -g
-pthread; the ground-truth programs come from <build>/test/progs (make
progs).  Real programs come from Debian: redis-server and redis-benchmark,
sqlite3, python3 (/usr/bin/python3).  scripts/deps.sh bench installs what
only the benchmarks need.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))

import accuracy  # noqa: E402
from checks import free_port  # noqa: E402
import costs  # noqa: E402
import measure  # noqa: E402
import profilers  # noqa: E402
import report  # noqa: E402

CPROF = ["cprof-heap", "cprof-cpu", "cprof-lock", "cprof-all"]
HEAP_OTHERS = ["jemalloc", "jemalloc-prof", "tcmalloc", "tcmalloc-sample", "heaptrack"]
CPU_OTHERS = ["gperf-cpu", "perf"]


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- context

class Ctx:
    """Paths, options, the configurations and the results of one run."""

    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.build = os.path.abspath(args.build)
        self.benchdir = os.path.join(self.build, "bench")
        self.lib = os.path.join(self.build, "libcprof.so")
        self.testprogs = os.path.join(self.build, "test", "progs")
        self.progs = {}
        self.configs = {}
        self.results = {"sections": {}}
        self.tmp = None
        self.env = measure.clean_env()

    def reps(self, full, quick=2):
        if self.args.reps:
            return self.args.reps
        return quick if self.quick else full

    def config(self, key):
        return self.configs[key]

    def mkdtemp(self):
        return tempfile.mkdtemp(dir=self.tmp)


# ---------------------------------------------------------------- building

PROG_SOURCES = ["malloc_mix", "malloc_pair", "lock_pair", "lock_contended", "cpu_burn", "stacks",
                "spawn", "spawn_many", "labels_pair"]


def build_progs(ctx):
    """Compile bench/progs into <build>/bench (when the source or bench.h is
    newer than the binary)."""
    os.makedirs(ctx.benchdir, exist_ok=True)
    src = os.path.join(HERE, "progs")
    hdr = os.path.join(src, "bench.h")
    for name in PROG_SOURCES:
        c = os.path.join(src, name + ".c")
        out = os.path.join(ctx.benchdir, name)
        if (not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(c)
                or os.path.getmtime(out) < os.path.getmtime(hdr)):
            # -I: the public header (cprof.h), which labels_pair uses.
            cmd = ["gcc", "-std=gnu11", "-O2", "-g", "-pthread", "-D_GNU_SOURCE", "-Wall",
                   "-Wextra", "-I" + os.path.join(ROOT, "preload", "base"), c, "-o", out]
            log("  CC      %s" % os.path.relpath(c, ROOT))
            subprocess.run(cmd, check=True)
        ctx.progs[name] = out
    measure.SPAWN = ctx.progs["spawn"]
    # The do-nothing interposer: a shared object, not a program.
    c = os.path.join(src, "null_interposer.c")
    out = os.path.join(ctx.benchdir, "libnull_interposer.so")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(c):
        log("  CC      %s" % os.path.relpath(c, ROOT))
        subprocess.run(["gcc", "-std=gnu11", "-O2", "-g", "-shared", "-fPIC", "-Wall", "-Wextra",
                        c, "-o", out], check=True)
    ctx.progs["null_interposer"] = out
    # tcmalloc_check needs gperftools' C++ header and libtcmalloc.so to link.
    cc = os.path.join(src, "tcmalloc_check.cc")
    out = os.path.join(ctx.benchdir, "tcmalloc_check")
    if os.path.exists("/usr/include/gperftools/malloc_extension.h"):
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(cc):
            log("  CXX     %s" % os.path.relpath(cc, ROOT))
            r = subprocess.run(["g++", "-O2", "-g", "-pthread", cc, "-o", out, "-ltcmalloc"])
            if r.returncode != 0:
                out = None
        if out:
            ctx.progs["tcmalloc_check"] = out
    for name in ("heap_truth", "cpu_truth"):
        p = os.path.join(ctx.testprogs, name)
        if os.path.exists(p):
            ctx.progs[name] = p


# ---------------------------------------------------------------- machine

def _cmd_out(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _pkg_version(pkg):
    v = _cmd_out(["dpkg-query", "-W", "-f=${Version}", pkg])
    return v if v and "no packages found" not in v else None


def machine_info(ctx):
    info = {}
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info["cpu"] = model
    info["cores"] = os.cpu_count()
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                info["memory"] = "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
    info["kernel"] = platform.release()
    info["glibc"] = " ".join(os.confstr("CS_GNU_LIBC_VERSION").split()[1:])
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        info["debian"] = "?"
    hv = re.search(r"Hypervisor vendor:\s*(.+)", _cmd_out(["lscpu"]))
    info["virtualization"] = (("virtual machine, %s" % hv.group(1).strip()) if hv
                              else "no hypervisor reported")
    info["gcc"] = _cmd_out(["gcc", "-dumpfullversion"])
    head = _cmd_out(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])
    # Only the library's own sources decide which cprof was measured.
    dirty = _cmd_out(["git", "-C", ROOT, "status", "--porcelain", "--", "preload", "hooks",
                      "encoder", "Makefile"])
    info["cprof"] = "commit " + head + (" with uncommitted changes to the library"
                                        if dirty else "")
    pk = {}
    for p in ("redis-server", "redis-tools", "sqlite3", "python3", "libjemalloc2",
              "libgoogle-perftools4", "heaptrack", "linux-perf", "golang-go"):
        v = _pkg_version(p)
        if v:
            pk[p] = v
    info["packages"] = pk
    with open("/proc/sys/kernel/perf_event_paranoid") as f:
        info["perf_event_paranoid"] = f.read().strip()
    return info


class Load:
    """Share of the machine's CPU time used by other processes since this
    object was made: busy time from /proc/stat minus our own CPU time and
    that of the children we have reaped (each run is reaped before the
    next starts)."""

    def __init__(self):
        self.b0 = busy_jiffies()
        self.t0 = os.times()

    def foreign(self):
        b1 = busy_jiffies()
        t1 = os.times()
        hz = float(os.sysconf("SC_CLK_TCK"))
        ours = sum(getattr(t1, f) - getattr(self.t0, f)
                   for f in ("user", "system", "children_user", "children_system"))
        total = (b1[1] - self.b0[1]) / hz
        if total <= 0:
            return 0.0
        return max(0.0, ((b1[0] - self.b0[0]) / hz - ours) / total)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def busy_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def wait_idle(limit_s, threshold):
    """Wait until the 1-minute load average is below threshold (at most
    limit_s seconds); returns the load average then."""
    t0 = time.monotonic()
    while True:
        la = loadavg()
        if la[0] < threshold or time.monotonic() - t0 > limit_s:
            return la
        log("  waiting for an idle machine: load average %.2f" % la[0])
        time.sleep(15)


# ---------------------------------------------------------------- workloads

class Workload:
    """A program run bare and under configurations, metric per run.

    metric     "wall" (seconds, lower is better), "ns_per_op" (lower is
               better, compared by difference), "rps" (higher is better)
    adjacent   every configuration runs right next to a bare run of its
               own, which it is compared with (schedule())
    """

    links_jemalloc = False
    adjacent = False
    metric = "wall"
    stdin = None
    may_be_empty = ()   # profile types the workload may legitimately leave empty

    def __init__(self, key, title, what, configs, reps):
        self.key = key
        self.title = title
        self.what = what
        self.configs = configs
        self.reps = reps

    def prepare(self, ctx, tmp):
        pass

    def argv(self, ctx):
        raise NotImplementedError

    def command_text(self, ctx):
        a = self.argv(ctx)
        text = " ".join(os.path.relpath(x, ROOT) if x.startswith(ROOT) else x for x in a)
        if self.stdin:
            text += " < %s" % os.path.basename(self.stdin)
        return text

    def measure(self, ctx, cfg, outdir):
        argv, env = cfg.wrap(self.argv(ctx), ctx.env, outdir, self)
        r = measure.run(argv, env, outdir, stdin_path=self.stdin, timeout=600)
        m = {"wall": r.wall, "cpu": r.cpu, "maxrss": r.maxrss, "minflt": r.minflt}
        j = r.json() or {}
        if "elapsed_ns" in j:
            m["work"] = j["elapsed_ns"] / 1e9
        if "ns_per_op" in j:
            m["ns_per_op"] = j["ns_per_op"]
        if "bytes" in j:
            m["bytes"] = j["bytes"]
        if "ops" in j:
            m["ops"] = j["ops"]
        return m


class Prog(Workload):
    def __init__(self, key, title, what, configs, reps, prog, args, metric="wall",
                 adjacent=False):
        Workload.__init__(self, key, title, what, configs, reps)
        self.prog = prog
        self.args = [str(a) for a in args]
        self.metric = metric
        self.adjacent = adjacent

    def argv(self, ctx):
        return [ctx.progs[self.prog]] + self.args


class Command(Workload):
    """A fixed command line (for probes and accuracy runs)."""

    def __init__(self, argv):
        Workload.__init__(self, "command", "", "", [], 1)
        self.cmd = list(argv)

    def argv(self, ctx):
        return self.cmd


class Sqlite(Workload):
    def __init__(self, key, title, what, configs, reps, scale):
        Workload.__init__(self, key, title, what, configs, reps)
        self.scale = scale

    def prepare(self, ctx, tmp):
        self.stdin = os.path.join(tmp, "sqlite-bench.sql")
        with open(self.stdin, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "workloads", "sqlgen.py"),
                            str(self.scale)], stdout=f, check=True)

    def argv(self, ctx):
        return [shutil.which("sqlite3") or "sqlite3", ":memory:"]


class Python(Workload):
    def __init__(self, key, title, what, configs, reps, scale):
        Workload.__init__(self, key, title, what, configs, reps)
        self.scale = scale

    def argv(self, ctx):
        return ["/usr/bin/python3", os.path.join(HERE, "workloads", "pyload.py"), str(self.scale)]


class Redis(Workload):
    """redis-server started under the configuration, redis-benchmark run
    bare against it on loopback; the metric is the benchmark's throughput
    over all its tests (total requests / total time)."""

    links_jemalloc = True
    metric = "rps"

    def __init__(self, key, title, what, configs, reps, requests, tests):
        Workload.__init__(self, key, title, what, configs, reps)
        self.requests = requests
        self.tests = tests

    def server_argv(self, port, outdir):
        return [shutil.which("redis-server") or "redis-server", "--port", str(port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--loglevel", "warning", "--daemonize", "no",
                "--dir", outdir]

    def bench_argv(self, port):
        return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(self.requests),
                "-c", "50", "-P", "16", "-t", self.tests, "-q", "--csv"]

    def argv(self, ctx):
        return self.server_argv("PORT", "<tmp>")

    def command_text(self, ctx):
        return ("server: redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no "
                "(under the profiler); client: %s (bare)"
                % " ".join(self.bench_argv("PORT")))

    def _ping(self, ctx, port):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env=ctx.env, timeout=10)
        return r.stdout.strip() == "PONG"

    def measure(self, ctx, cfg, outdir):
        port = free_port()
        argv, env = cfg.wrap(self.server_argv(port, outdir), ctx.env, outdir, self)
        res_path = os.path.join(outdir, "spawn.json")
        sout = open(os.path.join(outdir, "server.out"), "wb")
        t0 = time.monotonic_ns()
        p = subprocess.Popen([measure.SPAWN, res_path] + argv, env=measure.spawn_env(env),
                             cwd=outdir, stdin=subprocess.DEVNULL, stdout=sout,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not self._ping(ctx, port):
                if p.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(outdir, "server.out"), errors="replace") as f:
                        raise measure.RunError("redis-server did not start: %s"
                                               % f.read()[-400:])
                time.sleep(0.02)
            bdir = os.path.join(outdir, "client")
            os.mkdir(bdir)
            b = measure.run(self.bench_argv(port), ctx.env, bdir, timeout=300)
            total_req, total_t = 0, 0.0
            for line in b.stdout.splitlines():
                m = re.match(r'"([A-Z_ ]+[^"]*)","([0-9.]+)"', line)
                if m and float(m.group(2)) > 0:
                    total_req += self.requests
                    total_t += self.requests / float(m.group(2))
            if not total_req:
                raise measure.RunError("redis-benchmark printed no results: %s" % b.stdout[-300:])
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "shutdown", "nosave"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ctx.env,
                           timeout=30)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                raise measure.RunError("redis-server did not exit after shutdown")
            wall = (time.monotonic_ns() - t0) / 1e9
        finally:
            sout.close()
            if p.returncode is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        sp = measure.read_spawn(res_path) or {}
        return {"rps": total_req / total_t, "wall": wall, "client_cpu": b.cpu,
                "server_cpu": sp.get("utime", 0) + sp.get("stime", 0) if sp else None,
                "maxrss": sp.get("maxrss_kb")}


def overhead_workloads(ctx):
    q = ctx.quick
    malloc_ops = 2000000 if q else 8000000
    ws = [
        Prog("malloc", "malloc-heavy",
             "bench/progs/malloc_mix.c: 2 threads, %d operations on windows of 4,096 live blocks "
             "(free + malloc 70%%, calloc 20%%, realloc(NULL) 10%%, of 16 B-256 KiB, filled), "
             "about 2.6 KiB per allocation" % malloc_ops,
             ["bare", "cprof-heap", "cprof-heap-hooks", "null-interposer", "cprof-heap-fp"]
             + CPROF[1:]
             + HEAP_OTHERS + CPU_OTHERS, ctx.reps(15),
             "malloc_mix", [2, malloc_ops]),
        Prog("malloc-heap", "malloc-heavy, heap profile next to bare",
             "The malloc-heavy workload (bench/progs/malloc_mix.c 2 %d), each configuration "
             "run right next to a bare run of its own: the heap profile's targets" % malloc_ops,
             ["bare", "cprof-heap", "cprof-heap-hooks"], ctx.reps(41),
             "malloc_mix", [2, malloc_ops], adjacent=True),
        Prog("malloc-pair", "malloc+free pair",
             "bench/progs/malloc_pair.c: one thread, malloc(64)+free in a tight loop; "
             "the program times the loop itself (ns per pair)",
             ["bare"] + CPROF + ["jemalloc", "jemalloc-prof", "tcmalloc", "tcmalloc-sample"],
             ctx.reps(7, 3), "malloc_pair", [5000000 if q else 20000000, 64],
             metric="ns_per_op"),
        Prog("lock-pair", "uncontended lock+unlock pair",
             "bench/progs/lock_pair.c: one thread, pthread_mutex_lock+unlock of a default "
             "mutex in a tight loop (a second thread exists, idle); ns per pair",
             ["bare"] + CPROF, ctx.reps(7, 3), "lock_pair", [10000000 if q else 50000000],
             metric="ns_per_op"),
        Prog("lock-contended", "contended locks",
             "bench/progs/lock_contended.c: 4 threads sharing 4 mutexes, %d iterations each "
             "(a short critical section, then ~100 ns of work)" % (1500000 if q else 6000000),
             ["bare"] + CPROF + CPU_OTHERS, ctx.reps(7), "lock_contended",
             [4, 4, 1500000 if q else 6000000]),
        Prog("cpu", "CPU-bound",
             "bench/progs/cpu_burn.c: 4 threads, %d units each of floating-point work at the "
             "bottom of a 17-frame recursion" % (100 if q else 400),
             ["bare"] + CPROF + CPU_OTHERS, ctx.reps(7), "cpu_burn", [4, 100 if q else 400]),
        Sqlite("sqlite", "sqlite3",
               "sqlite3 :memory: < script from bench/workloads/sqlgen.py %s: %s literal INSERTs in "
               "one transaction, 4 indexes, joins, GROUP BY, a window function, UPDATE, DELETE"
               % ("0.3" if q else "1.0", "54,600" if q else "182,000"),
               ["bare"] + CPROF + HEAP_OTHERS + CPU_OTHERS, ctx.reps(7),
               0.3 if q else 1.0),
        Python("python", "python3",
               "/usr/bin/python3 bench/workloads/pyload.py %s: dict, list and str work "
               "(word counts, an index of lists, formatting and parsing records, sorting)"
               % ("0.3" if q else "1.0"),
               ["bare"] + CPROF + HEAP_OTHERS + CPU_OTHERS, ctx.reps(7), 0.3 if q else 1.0),
        Redis("redis", "redis-server under redis-benchmark",
              "redis-server (Debian, linked with jemalloc) under the profiler; redis-benchmark "
              "(bare) on loopback: %d requests per test, 50 clients, pipeline 16, tests %s"
              % (30000 if q else 200000, "set,get" if q else "set,get,incr,lpush,rpop,sadd,hset"),
              ["bare"] + CPROF + ["jemalloc-prof", "tcmalloc", "tcmalloc-sample", "heaptrack"]
              + CPU_OTHERS, ctx.reps(7), 30000 if q else 200000,
              "set,get" if q else "set,get,incr,lpush,rpop,sadd,hset"),
    ]
    # These allocate (almost) nothing: an empty heap profile is right there.
    for w in ws:
        if w.key in ("lock-pair", "lock-contended", "cpu"):
            w.may_be_empty = ("heap",)
    return ws


# ---------------------------------------------------------------- the alternation

def fmt_metric(w, v):
    if v is None:
        return "-"
    if w.metric == "ns_per_op":
        return "%.2fns" % v
    if w.metric == "rps":
        return "%.0f/s" % v
    return "%.3fs" % v


def schedule(keys, r, rng, adjacent):
    """The runs of repetition r, in order: (configuration, None), or for a
    bare run that belongs to one configuration ("bare", that
    configuration).  Without `adjacent`, every configuration (bare among
    them) once, in an order rng shuffles anew for each repetition, so no
    configuration always runs right after the same neighbour: a profiler
    that leaves work behind (files to write back, a helper process
    finishing) would otherwise always slow down the same next one.  With it,
    the configurations other than bare in such an order, each right next
    to a bare run of its own: bare first in pair j of repetition r when
    r + j is even, second otherwise, so neither side of a pair is always
    the one that runs first."""
    order = [k for k in keys if not (adjacent and k == "bare")]
    rng.shuffle(order)
    if not adjacent:
        return [(k, None) for k in order]
    seq = []
    for j, k in enumerate(order):
        pair = [("bare", k), (k, None)]
        seq += pair if (r + j) % 2 == 0 else pair[::-1]
    return seq


def alternate(ctx, w, tmp):
    """Run w under its configurations in alternation; returns the section's
    results: per configuration the per-repetition metrics, the output checks,
    and the paired comparisons with bare."""
    res = {"title": w.title, "what": w.what, "metric": w.metric, "reps": w.reps,
           "adjacent": w.adjacent, "configs": {}, "unavailable": {}, "skipped": {}}
    keys = []
    for k in w.configs:
        c = ctx.config(k)
        if not c.available:
            res["unavailable"][k] = c.reason
        elif not c.applies(w):
            res["skipped"][k] = "same as bare (%s already uses it)" % w.title
        else:
            keys.append(k)
    w.prepare(ctx, tmp)
    res["command"] = w.command_text(ctx)
    # One bare run first, discarded: page cache, lazy binding, CPU caches.
    d = ctx.mkdtemp()
    try:
        w.measure(ctx, ctx.config("bare"), d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    runs = {k: [None] * w.reps for k in keys}
    outputs = {k: {"first": None, "missing": 0, "errors": []} for k in keys}
    res["foreign"] = []
    res["repeated"] = 0
    # Seeded: the same order on every run of the harness (schedule()).
    rng = random.Random(w.key)
    bare_of = {k: [None] * w.reps for k in keys if k != "bare"} if w.adjacent else {}
    r = 0
    while r < w.reps:
        line = []
        load = Load()
        for k, partner in schedule(keys, r, rng, w.adjacent):
            cfg = ctx.config(k)
            d = ctx.mkdtemp()
            try:
                m = w.measure(ctx, cfg, d)
                out = cfg.check(d, deep=outputs[k]["first"] is None,
                                may_be_empty=w.may_be_empty)
                if outputs[k]["first"] is None:
                    outputs[k]["first"] = out.detail
                if not out.ok:
                    outputs[k]["missing"] += 1
                    outputs[k]["errors"].append(out.detail)
                    m = None      # a profiler that wrote nothing is not measured
            except measure.RunError as e:
                outputs[k]["errors"].append(str(e).splitlines()[0][:200])
                log("    %s: %s" % (k, str(e).strip()[:400]))
                m = None
            finally:
                shutil.rmtree(d, ignore_errors=True)
            if partner is None:
                runs[k][r] = m
            else:
                bare_of[partner][r] = m
            line.append("%s %s" % (k, fmt_metric(w, m.get(w.metric) if m else None)))
        foreign = load.foreign()
        log("  %-15s %d/%d  %s  [other load %.0f%%]" % (w.key, r + 1, w.reps, ", ".join(line),
                                                        100 * foreign))
        # A repetition during which other processes took a good share of
        # the machine is run again (at most `reps` times per section): on
        # 2 cores, one busy neighbour distorts every ratio of the rep.
        if foreign > ctx.args.max_other_load and res["repeated"] < w.reps:
            res["repeated"] += 1
            log("  %-15s repetition %d disturbed (other processes used %.0f%% of the CPU): "
                "running it again" % (w.key, r + 1, 100 * foreign))
            time.sleep(5)
            continue
        res["foreign"].append(foreign)
        r += 1
    if w.adjacent:
        # The bare row: every bare run, each its own comparison.
        runs["bare"] = [bare_of[k][i] for i in range(w.reps) for k in keys if k != "bare"]
    for k in keys:
        entry = {"label": ctx.config(k).label, "kind": ctx.config(k).kind, "runs": runs[k],
                 "output": outputs[k]}
        if k in bare_of:
            entry["bare_runs"] = bare_of[k]
        cb = ctx.config(k).base
        entry.update(measure.summarize_config(w.metric, runs[k], bare_of.get(k, runs["bare"]),
                                              (cb, runs[cb]) if cb and cb in runs else None))
        res["configs"][k] = entry
    if w.key in ("malloc", "malloc-heap"):
        b = [m for m in runs["bare"] if m and "bytes" in m and "work" in m]
        if b:
            res["alloc_rate"] = {
                "bytes_per_s": measure.median([m["bytes"] / m["work"] for m in b]),
                "allocs_per_s": measure.median([m["ops"] / m["work"] for m in b])}
            # What one heap sample costs: cprof heap's extra CPU time over
            # the number of samples a 512 KiB Poisson sampler takes.
            h = [(m, bm) for m, bm in zip(runs.get("cprof-heap", []),
                                          bare_of.get("cprof-heap", runs["bare"]))
                 if m and bm and "bytes" in m]
            if h:
                res["per_sample_us"] = measure.median(
                    [(m["cpu"] - bm["cpu"]) / (m["bytes"] / 524288.0) * 1e6 for m, bm in h])
                res["samples_per_s"] = res["alloc_rate"]["bytes_per_s"] / 524288.0
    log(report.console_summary(res))
    return res


def fixed_costs(ctx):
    """Start-up plus exit cost of every configuration on /bin/true (median
    of 3 runs, minus bare): the part of a wall-time ratio that does not grow
    with the program's run time (perf and heaptrack start helper processes;
    perf also waits about a second before it exits)."""
    w = Command([shutil.which("true") or "/bin/true"])
    out = {}
    keys = [k for k, c in ctx.configs.items() if c.available]
    vals = {k: [] for k in keys}
    for r in range(3):
        for k in keys:
            d = ctx.mkdtemp()
            try:
                vals[k].append(w.measure(ctx, ctx.config(k), d)["wall"])
            except measure.RunError:
                pass
            finally:
                shutil.rmtree(d, ignore_errors=True)
    b = measure.median(vals["bare"])
    for k in keys:
        if vals[k]:
            out[k] = measure.median(vals[k]) - b
    out["bare_s"] = b
    return out


def spot_gperf_heap(ctx, tmp):
    """gperftools' heap profiler records every allocation under one lock;
    it is too slow for the alternation (a 1-second malloc_mix takes minutes),
    so it is timed once, on a workload 40 times smaller, beside one bare
    run of the same size."""
    cfg = ctx.config("gperf-heap")
    if not cfg.available:
        return {"unavailable": cfg.reason}
    ops = 100000 if ctx.quick else 400000
    w = Prog("malloc-spot", "", "", [], 1, "malloc_mix", [2, ops])
    out = {"ops": ops}
    for k in ("bare", "gperf-heap", "bare"):
        d = ctx.mkdtemp()
        try:
            m = w.measure(ctx, ctx.config(k), d)
            o = ctx.config(k).check(d, deep=False)
            out.setdefault(k, []).append(m["wall"])
            out[k + "_output"] = o.detail
        finally:
            shutil.rmtree(d, ignore_errors=True)
    out["ratio"] = out["gperf-heap"][0] / measure.median(out["bare"])
    log("  gperftools heap profiler spot check: malloc_mix 2 %d: bare %.3fs, HEAPPROFILE %.3fs"
        % (ops, measure.median(out["bare"]), out["gperf-heap"][0]))
    return out


# ---------------------------------------------------------------- accuracy

def accuracy_heap(ctx, tmp):
    """heap_truth under each heap profiler; per-site estimates and errors."""
    prog = ctx.progs.get("heap_truth")
    if not prog:
        return {"unavailable": "build/test/progs/heap_truth missing (make progs)"}
    scale, threads = (1, 2) if ctx.quick else (4, 2)
    sampled_reps = 2 if ctx.quick else 5
    argv = [prog, str(scale), str(threads)]
    res = {"command": "heap_truth %d %d" % (scale, threads), "rate": 524288, "profilers": {}}
    plan = [("cprof-heap", sampled_reps), ("jemalloc-prof", sampled_reps),
            ("gperf-heap", 1), ("heaptrack", 1), ("tcmalloc-sample", 0)]
    truth = None
    for key, reps in plan:
        cfg = ctx.config(key)
        entry = {"label": cfg.label, "runs": []}
        res["profilers"][key] = entry
        if not cfg.available:
            entry["unavailable"] = cfg.reason
            continue
        if reps == 0:
            entry["unavailable"] = "writes no profile (samples only reachable in-process)"
            continue
        for i in range(reps):
            d = ctx.mkdtemp()
            try:
                wargv, env = cfg.wrap(argv, ctx.env, d, Command(argv))
                if key == "jemalloc-prof":
                    env["MALLOC_CONF"] += ",prof_accum:true"
                r = measure.run(wargv, env, d, timeout=600)
                t = r.json()
                if truth is None:
                    truth = t
                if key == "cprof-heap":
                    f = glob.glob(os.path.join(d, "cprof.*.heap.pb.gz"))
                    got = accuracy.cprof_heap(f[0])
                elif key == "jemalloc-prof":
                    f = sorted(glob.glob(os.path.join(d, "jeprof.*.heap")))
                    got = accuracy.jemalloc_heap(prog, f[-1], d)
                elif key == "gperf-heap":
                    f = sorted(glob.glob(os.path.join(d, "gpheap.*.heap")))
                    got = accuracy.gperf_heap(prog, f[-1], d)
                else:
                    f = glob.glob(os.path.join(d, "heaptrack*"))
                    got = accuracy.heaptrack_heap(f[0], d)
                entry["runs"].append({"truth": t, "got": got})
            except (measure.RunError, RuntimeError, IndexError, OSError) as e:
                entry.setdefault("errors", []).append(str(e)[:300])
                log("    accuracy-heap %s: %s" % (key, str(e)[:300]))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        log("  accuracy-heap   %s: %d run(s)" % (key, len(entry["runs"])))
    res["truth"] = truth
    if truth:
        spec = accuracy.check_spec(accuracy.heap_truth_spec(scale, threads), truth)
        res["expected_sd"] = {
            site: {"alloc_bytes": accuracy.expected_rel_sd(a, res["rate"]),
                   "alloc_objects": accuracy.expected_rel_sd_count(a, res["rate"]),
                   "inuse_bytes": accuracy.expected_rel_sd(l, res["rate"])}
            for site, (a, l) in spec.items()}
    return res


def accuracy_cpu(ctx, tmp):
    prog = ctx.progs.get("cpu_truth")
    if not prog:
        return {"unavailable": "build/test/progs/cpu_truth missing (make progs)"}
    secs = 1 if ctx.quick else 2
    reps = 1 if ctx.quick else 3
    res = {"command": "cpu_truth %d" % secs, "profilers": {}}
    for key in ("cprof-cpu", "gperf-cpu", "perf"):
        cfg = ctx.config(key)
        entry = {"label": cfg.label, "runs": []}
        res["profilers"][key] = entry
        if not cfg.available:
            entry["unavailable"] = cfg.reason
            continue
        for i in range(reps):
            d = ctx.mkdtemp()
            try:
                wargv, env = cfg.wrap([prog, str(secs)], ctx.env, d, Command([prog]))
                r = measure.run(wargv, env, d, timeout=300)
                t = r.json()
                if key == "cprof-cpu":
                    f = glob.glob(os.path.join(d, "cprof.*.cpu.pb.gz"))
                    flat, total = accuracy.cprof_cpu(f[0])
                elif key == "gperf-cpu":
                    flat, total = accuracy.gperf_cpu(prog, os.path.join(d, "gpcpu.prof"), d)
                else:
                    flat, total = accuracy.perf_cpu(os.path.join(d, "perf.data"))
                entry["runs"].append({"truth": t, "flat": {k: v for k, v in flat.items()
                                                           if k.startswith("burn_")},
                                      "total": total})
            except (measure.RunError, RuntimeError, IndexError, OSError) as e:
                entry.setdefault("errors", []).append(str(e)[:300])
                log("    accuracy-cpu %s: %s" % (key, str(e)[:300]))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        log("  accuracy-cpu    %s: %d run(s)" % (key, len(entry["runs"])))
    return res


# ---------------------------------------------------------------- growth

def growth_threads(ctx, tmp):
    """Overhead against thread count, with the total work fixed."""
    counts = [1, 4] if ctx.quick else [1, 2, 4, 8, 16]
    reps = ctx.reps(3, 2)
    res = {"counts": counts, "reps": reps, "malloc": {}, "cpu": {}}
    ops = 2000000 if ctx.quick else 8000000
    units = 60 if ctx.quick else 240
    for n in counts:
        w = Prog("malloc-t%d" % n, "malloc_mix %d threads" % n, "",
                 ["bare", "cprof-heap", "cprof-all"], reps, "malloc_mix", [n, ops])
        res["malloc"][n] = alternate(ctx, w, tmp)
    for n in counts:
        u = max(1, units // n)
        w = Prog("cpu-t%d" % n, "cpu_burn %d threads" % n, "", ["bare", "cprof-cpu", "cprof-all"],
                 reps, "cpu_burn", [n, u])
        res["cpu"][n] = alternate(ctx, w, tmp)
    res["malloc_command"] = "malloc_mix N %d (total operations fixed)" % ops
    res["cpu_command"] = "cpu_burn N %d/N (total units fixed)" % units
    return res


def growth_rate(ctx, tmp):
    """Overhead against allocation rate: malloc_mix with WORK iterations of
    integer work between operations; the operation count is calibrated so
    every point runs about as long as the others."""
    works = [0, 400] if ctx.quick else [0, 50, 200, 800]
    reps = ctx.reps(3, 2)
    target = 0.3 if ctx.quick else 0.8
    res = {"works": works, "reps": reps, "points": {}}
    configs = ["bare", "cprof-heap", "cprof-all", "jemalloc", "jemalloc-prof"]
    for wk in works:
        d = ctx.mkdtemp()
        try:
            probe = Prog("p", "", "", [], 1, "malloc_mix", [2, 400000, wk]).measure(
                ctx, ctx.config("bare"), d)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        ops = max(200000, int(400000 * target / max(probe["work"], 1e-3)))
        w = Prog("rate-w%d" % wk, "malloc_mix work %d" % wk, "", configs, reps,
                 "malloc_mix", [2, ops, wk])
        r = alternate(ctx, w, tmp)
        r["ops"] = ops
        res["points"][wk] = r
    return res


def growth_live(ctx, tmp):
    """malloc+free pair cost against the size of the live heap: a heap
    profiler in front of the allocator must tell, on every free(), sampled
    blocks from the others, and the more sampled blocks are live the more
    that lookup may cost."""
    lives = [0, 64] if ctx.quick else [0, 64, 1024]
    reps = ctx.reps(3, 2)
    res = {"lives": lives, "reps": reps, "points": {}}
    iters = 5000000 if ctx.quick else 20000000
    for mb in lives:
        w = Prog("live-%dM" % mb, "malloc_pair with %d MiB live" % mb, "",
                 ["bare", "cprof-heap", "cprof-all", "jemalloc", "jemalloc-prof"], reps,
                 "malloc_pair", [iters, 64, mb], metric="ns_per_op")
        res["points"][mb] = alternate(ctx, w, tmp)
    res["command"] = "malloc_pair %d 64 LIVE_MB" % iters
    return res


def growth_stacks(ctx, tmp):
    """Profiler memory and dump time against the number of distinct stacks."""
    # N=1 measures what the profiler costs with (almost) no stacks: the
    # per-stack figures are the growth from there.
    ns = [1, 1000, 10000] if ctx.quick else [1, 1000, 10000, 100000]
    reps = ctx.reps(3, 2)
    prog = ctx.progs["stacks"]
    lib = ctx.lib
    cfgs = {
        "bare": ctx.config("bare"),
        "cprof": profilers.Cprof("cprof-heap-all", "cprof heap, every allocation", "heap", lib,
                                 {"CPROF_HEAP_RATE": "1"}),
        "jemalloc": ctx.config("jemalloc"),
        "jemalloc-prof": profilers.Preload(
            "jemalloc-prof-all", "jemalloc prof, every allocation", ctx.config("jemalloc").lib,
            {"MALLOC_CONF": "prof:true,lg_prof_sample:0,prof_final:true,prof_prefix:<tmp>/jeprof"},
            outputs="jeprof.*.heap", jemalloc=True),
        "tcmalloc": ctx.config("tcmalloc"),
        "gperf-heap": ctx.config("gperf-heap"),
    }
    for k in ("jemalloc-prof",):
        cfgs[k].available = ctx.config("jemalloc-prof").available
        cfgs[k].reason = ctx.config("jemalloc-prof").reason
    keys = [k for k, c in cfgs.items() if c.available]
    res = {"ns": ns, "reps": reps, "labels": {k: c.label for k, c in cfgs.items()},
           "settings": {k: c.settings for k, c in cfgs.items()},
           "unavailable": {k: c.reason for k, c in cfgs.items() if not c.available},
           "points": {}}
    dummy = Command([prog])
    for n in ns:
        pt = {k: {"maxrss": [], "exit_ms": [], "size": [], "detail": None} for k in keys}
        for r in range(reps):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for k in order:
                cfg = cfgs[k]
                d = ctx.mkdtemp()
                try:
                    argv, env = cfg.wrap([prog, str(n)], ctx.env, d, dummy)
                    run = measure.run(argv, env, d, timeout=600)
                    j = run.json() or {}
                    pt[k]["maxrss"].append(run.maxrss)
                    if "exit_ns" in j:
                        pt[k]["exit_ms"].append((run.end_ns - j["exit_ns"]) / 1e6)
                    files = [f for f in glob.glob(os.path.join(d, "*"))
                             if re.search(r"\.heap(\.pb\.gz)?$", f)]
                    if files:
                        pt[k]["size"].append(max(os.path.getsize(f) for f in files))
                    if pt[k]["detail"] is None and files:
                        # How many of the N stacks the written profile holds.
                        if k == "cprof":
                            import pprofdec
                            p = pprofdec.load(files[0])
                            stacks = {tuple(s.location_ids) for s in p.samples()}
                            pt[k]["detail"] = {"samples": p.num_samples, "stacks": len(stacks)}
                        else:
                            c = profilers.count_samples(sorted(files)[-1])
                            if c:
                                pt[k]["detail"] = {"stacks": c[0]}
                except measure.RunError as e:
                    log("    stacks %s: %s" % (k, str(e)[:300]))
                finally:
                    shutil.rmtree(d, ignore_errors=True)
        # SIGUSR2: time from the signal to the renamed (complete) file.
        sig = []
        if "cprof" in keys:
            for r in range(reps):
                t = sigusr2_dump(ctx, cfgs["cprof"], prog, n)
                if t is not None:
                    sig.append(t)
        pt["cprof_signal_ms"] = sig
        res["points"][n] = pt
        log("  growth-stacks   N=%d: %s" % (n, ", ".join(
            "%s rss %.1f MiB exit %.1f ms" % (k, measure.median(pt[k]["maxrss"] or [0]) / 1024.0,
                                             measure.median(pt[k]["exit_ms"] or [0]))
            for k in keys)))
        if sig:
            log("  growth-stacks   N=%d: cprof SIGUSR2 dump %.1f ms" % (n, measure.median(sig)))
    return res


def short_lived(ctx, tmp):
    """Per-process cost of short processes (a build, a shell script, a test
    suite: every process pays the profiler's start and exit): /bin/true run
    many times, bare and under cprof in alternation (bench/progs/spawn_many.c
    pairs each profiled run with the bare run just before it), with the
    default profiles and with none.  Each repetition gives the medians over
    its runs; the table gives the median of the repetitions and their
    spread, and how many files a process left behind."""
    pairs = 50 if ctx.quick else 200
    reps = ctx.reps(7, 2)
    true = shutil.which("true") or "/bin/true"
    keys = ["cprof-all", "cprof-none"]
    cfgs = {"cprof-all": ctx.config("cprof-all"),
            "cprof-none": profilers.Cprof("cprof-none", "cprof, no profiles", "none", ctx.lib)}
    res = {"command": "spawn_many %d %s" % (pairs, true), "pairs": pairs, "reps": reps,
           "labels": {k: cfgs[k].label for k in keys},
           "settings": {k: cfgs[k].settings.replace(" CPROF_EMPTY_FILES=1", "") for k in keys},
           "configs": {}}
    dummy = Command([true])
    for k in keys:
        runs = []
        files = []
        for r in range(reps):
            d = ctx.mkdtemp()
            try:
                argv, env = cfgs[k].wrap([ctx.progs["spawn_many"], str(pairs), true], ctx.env, d,
                                         dummy)
                env["SPAWN_MANY_PRELOAD"] = env.pop("LD_PRELOAD")
                env.pop("CPROF_EMPTY_FILES", None)  # as a user runs it: see short_lived
                p = subprocess.run(argv, env=env, cwd=d, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=600)
                lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
                if p.returncode != 0 or not lines:
                    log("    short-lived %s: exit %d: %s" % (k, p.returncode, p.stderr[-300:]))
                    continue
                runs.append(json.loads(lines[-1]))
                files.append(len(glob.glob(os.path.join(d, "cprof.*"))) / float(pairs))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        entry = {"runs": runs, "files_per_process": measure.summary(files)}
        summarize_short(entry)
        res["configs"][k] = entry
        if runs:
            log("  short-lived     %s: %s per process bare %.2f ms, +%.2f ms wall, +%.2f ms CPU, "
                "%.2f files" % (k, true, 1000 * entry["bare_wall"]["median"],
                                1000 * entry["diff_wall"]["median"],
                                1000 * entry["diff_cpu"]["median"],
                                entry["files_per_process"]["median"]))
    res["build"] = build_tree(ctx, reps)
    return res


def build_tree(ctx, reps):
    """A real process tree: `make -j2` of this project's library into a
    fresh build directory, bare and with LD_PRELOAD (and the default
    profiles) exported to make, so every make, gcc, cc1, as, ld and sh is
    profiled.  The processes are counted once, with CPROF_EMPTY_FILES=1 and
    only the threadcreate profile: one file per profiled process."""
    cmd = ["make", "--no-print-directory", "-s", "-C", ROOT, "-j2", "all"]
    res = {"command": "make -j2 all (this project's library, into a fresh build directory)",
           "reps": reps, "bare": [], "cprof": [], "bare_cpu": [], "cprof_cpu": [],
           "files": []}
    cfg = ctx.config("cprof-all")
    dummy = Command(cmd)

    def one(profiled, extra=None):
        d = ctx.mkdtemp()
        try:
            b = os.path.join(d, "build")
            os.makedirs(b)
            # Packages are installed already: no scripts/deps.sh per run.
            open(os.path.join(b, ".deps-build"), "w").close()
            env = dict(ctx.env)
            for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
                env.pop(k, None)
            if profiled:
                _, env = cfg.wrap(cmd, env, d, dummy)
                env.update(extra or {})
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            p = subprocess.run(cmd + ["BUILD=" + b], env=env, cwd=d, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, timeout=900)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                log("    build: exit %d: %s" % (p.returncode, p.stderr[-300:]))
                return None
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            files = glob.glob(os.path.join(d, "cprof.*.pb.gz"))
            pids = {f.split(".")[-5] for f in files}   # cprof.%e.%p.%n.%t.pb.gz
            return wall, cpu, len(files), len(pids)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    for r in range(reps):
        for profiled in ((False, True) if r % 2 == 0 else (True, False)):
            m = one(profiled)
            if m:
                res["cprof" if profiled else "bare"].append(m[0])
                res["cprof_cpu" if profiled else "bare_cpu"].append(m[1])
                if profiled:
                    res["files"].append(m[2])
                    res.setdefault("with_files", []).append(m[3])
    m = one(True, {"CPROF_PROFILES": "threadcreate", "CPROF_EMPTY_FILES": "1"})
    res["processes"] = m[3] if m else None
    if res["processes"] and res["bare"] and res["cprof"]:
        n = res["processes"]
        res["per_process_wall"] = measure.summary(
            [(c - b) / n for c, b in zip(res["cprof"], res["bare"])])
        res["per_process_cpu"] = measure.summary(
            [(c - b) / n for c, b in zip(res["cprof_cpu"], res["bare_cpu"])])
        log("  short-lived     make -j2: %d processes, bare %.2f s, cprof %.2f s: %+.2f ms wall, "
            "%+.2f ms CPU per process; %d files from %d processes"
            % (n, measure.median(res["bare"]), measure.median(res["cprof"]),
               1000 * res["per_process_wall"]["median"], 1000 * res["per_process_cpu"]["median"],
               measure.median(res["files"]), measure.median(res["with_files"])))
    return res


def sigusr2_dump(ctx, cfg, prog, n):
    """Start `stacks N wait`, wait for "ready", send SIGUSR2, poll for the
    heap profile (cprof writes to a temporary name and renames, so the file
    appears complete); ms from the signal to the file, or None."""
    d = ctx.mkdtemp()
    try:
        argv, env = cfg.wrap([prog, str(n), "wait"], ctx.env, d, Command([prog]))
        p = subprocess.Popen(argv, env=env, cwd=d, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             start_new_session=True)
        try:
            line = p.stdout.readline()
            if '"ready"' not in line:
                return None
            pattern = os.path.join(d, "cprof.*.heap.pb.gz")
            t0 = time.monotonic_ns()
            os.kill(p.pid, signal.SIGUSR2)
            while not glob.glob(pattern):
                if time.monotonic_ns() - t0 > 30e9:
                    return None
                time.sleep(0.0002)
            return (time.monotonic_ns() - t0) / 1e6
        finally:
            try:
                p.stdin.close()
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- explanations

CPROF_DSOS = ("libcprof.so", "libunwind.so.8", "libunwind-x86_64.so.8", "libgcc_s.so.1",
              "libz.so.1", "libprotobuf-c.so.1")


def explain(ctx, workloads, tmp, sections):
    """For every row where cprof is behind another profiler, run that
    workload once more under perf record with the cprof configuration and
    measure where cprof's time goes: the share of CPU samples in libcprof.so
    and the libraries it calls into (libunwind, zlib, protobuf-c), and its
    top functions."""
    out = {}
    if not ctx.config("perf").available:
        return out
    done = set()
    for row in report.behind_rows(ctx.results):
        sec, ck = row[0], row[1]
        if (sec, ck) in done or sec not in workloads or sec not in sections:
            continue
        done.add((sec, ck))
        w = workloads[sec]
        cfg = profilers.PerfOver(ctx.config(ck))
        d = ctx.mkdtemp()
        try:
            w.measure(ctx, cfg, d)
            shares = profilers.perf_shares(os.path.join(d, "explain.data"))
        except (measure.RunError, OSError, subprocess.SubprocessError) as e:
            log("    explain %s %s: %s" % (sec, ck, str(e)[:200]))
            continue
        finally:
            shutil.rmtree(d, ignore_errors=True)
        mine = {k: v for k, v in shares.items() if k[0] in CPROF_DSOS}
        top = sorted(mine.items(), key=lambda kv: -kv[1])[:4]
        kernel = sum(v for k, v in shares.items() if k[0].startswith("[kernel"))
        out["%s/%s" % (sec, ck)] = {
            "share": sum(mine.values()), "kernel": kernel,
            "top": [("%s (%s)" % (k[1], k[0]), v) for k, v in top]}
        log("  explain %s %s: %.1f%% of samples in cprof and its libraries" %
            (sec, ck, 100 * sum(mine.values())))
    return out


# ---------------------------------------------------------------- main

SECTIONS = ["malloc", "malloc-heap", "malloc-pair", "lock-pair", "lock-contended", "cpu",
            "sqlite", "python", "redis", "accuracy-heap", "accuracy-cpu", "growth-threads",
            "growth-rate", "growth-live", "growth-stacks", "short-lived", "counted"]
QUICK = ["malloc", "malloc-heap", "malloc-pair", "lock-pair", "cpu", "redis", "accuracy-heap",
         "accuracy-cpu", "growth-live", "growth-stacks", "short-lived", "counted"]
GROUPS = {"overhead": SECTIONS[:9], "accuracy": ["accuracy-heap", "accuracy-cpu"],
          "growth": ["growth-threads", "growth-rate", "growth-live", "growth-stacks",
                     "short-lived"], "counted": ["counted"]}


def deps():
    """scripts/deps.sh bench: installs what is missing (as root), or says
    what to install."""
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "deps.sh"), "bench"])
    if r.returncode != 0:
        log("bench: some packages are missing; the profilers they provide are reported as "
            "not available")


def summarize_short(entry):
    """The summaries of a short-lived configuration's runs (each run:
    bench/progs/spawn_many.c's medians)."""
    for m in ("bare_wall", "bare_cpu", "wall", "cpu", "diff_wall", "diff_cpu"):
        entry[m] = measure.summary([x[m] for x in entry["runs"]])


def summarize_again(results):
    """The summaries of a results.json computed again from the runs it keeps,
    so that a page rendered from an earlier run shows the figures added to
    the summaries since (the median's interval)."""
    for sec in results.get("sections", {}).values():
        configs = sec.get("configs") or {}
        if sec.get("metric") and "runs" in configs.get("bare", {}):
            for entry in configs.values():
                bare = entry.get("bare_runs") or configs["bare"]["runs"]
                if "runs" not in entry or len(entry["runs"]) != len(bare):
                    continue
                base = entry.get("vs_base", {}).get("base")
                base = (base, configs[base]["runs"]) if base in configs else None
                entry.update(measure.summarize_config(sec["metric"], entry["runs"], bare, base))
        for entry in configs.values():
            runs = entry.get("runs") if isinstance(entry, dict) else None
            if runs and all(isinstance(x, dict) and "diff_wall" in x for x in runs):
                summarize_short(entry)


def main():
    ap = argparse.ArgumentParser(description="cprof benchmarks (writes docs/performance.md)")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: a small subset, smaller inputs, 2-3 repetitions")
    ap.add_argument("--only", action="append", default=[],
                    help="run only this section (repeatable; see --list); also overhead, "
                    "accuracy, growth")
    ap.add_argument("--reps", type=int, default=0, help="repetitions for every section")
    ap.add_argument("--out", help="Markdown output (default docs/performance.md for a full run, "
                    "<build>/bench/performance.md otherwise)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load average to drop "
                    "below 0.3")
    ap.add_argument("--no-deps", action="store_true", help="do not run scripts/deps.sh bench")
    ap.add_argument("--max-other-load", type=float, default=0.15, metavar="SHARE",
                    help="run a repetition again when other processes used more than this "
                    "share of the CPU during it (default 0.15; 1 disables)")
    ap.add_argument("--list", action="store_true", help="list the sections and exit")
    ap.add_argument("--from-json", metavar="RESULTS",
                    help="only render the Markdown again from a results.json of an earlier run")
    ap.add_argument("--update", metavar="RESULTS",
                    help="with --only: measure those sections again and replace them in "
                    "RESULTS (a results.json of an earlier full run); the page then says which "
                    "sections were measured when")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        summarize_again(results)
        out = args.out or (os.path.join(ROOT, "docs", "performance.md") if results.get("full")
                           else os.path.join(os.path.dirname(os.path.abspath(args.from_json)),
                                             "performance.md"))
        with open(out, "w") as f:
            f.write(report.markdown(results, os.path.join(HERE, "method.md")))
        log(report.console_targets(results))
        log("bench: wrote %s" % out)
        return 0
    if args.list:
        for s in SECTIONS:
            print(s + ("   (in --quick)" if s in QUICK else ""))
        for g, ss in GROUPS.items():
            print("%s = %s" % (g, ",".join(ss)))
        return 0
    selected = []
    for o in args.only:
        for name in o.split(","):
            if name in GROUPS:
                selected += GROUPS[name]
            elif name in SECTIONS:
                selected.append(name)
            else:
                ap.error("unknown section %r (see --list)" % name)
    if not selected:
        selected = QUICK if args.quick else SECTIONS
    selected = [s for s in SECTIONS if s in selected]
    full = not args.quick and not args.only and not args.reps
    ctx = Ctx(args)
    base = None
    if args.update:
        if not args.only:
            ap.error("--update needs --only SECTION")
        with open(args.update) as f:
            base = json.load(f)
        full = base.get("full", False)
    out = args.out or (os.path.join(ROOT, "docs", "performance.md") if full
                       else os.path.join(ctx.benchdir, "performance.md"))
    # A partial run never replaces the numbers of the last full run.
    results_path = args.update or os.path.join(
        ctx.benchdir, "results.json" if full else "results-partial.json")
    os.environ["CPROF_TEST_BUILD"] = ctx.build

    # SIGTERM (make interrupted, a CI timeout) unwinds like ^C, so the
    # temporary directory is removed and no benchmark process is left.
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    t_start = time.monotonic()
    if not args.no_deps:
        deps()
    if not os.path.exists(ctx.lib):
        log("bench: %s missing: run make first" % ctx.lib)
        return 1
    build_progs(ctx)
    ctx.tmp = tempfile.mkdtemp(prefix="cprof-bench-")
    try:
        # Measure a private copy of the library: a rebuild of <build> while
        # the benchmarks run (make in another shell) must not change what is
        # measured halfway through.
        snap = os.path.join(ctx.tmp, "libcprof.so")
        shutil.copy2(ctx.lib, snap)
        with open(snap, "rb") as f:
            ctx.lib_sha256 = hashlib.sha256(f.read()).hexdigest()
        ctx.lib_built = time.strftime("%Y-%m-%d %H:%M UTC",
                                      time.gmtime(os.path.getmtime(ctx.lib)))
        ctx.lib = snap
        log("bench: detecting profilers")
        ctx.configs = profilers.detect(ctx.lib, ctx.progs, log=lambda s: log(s))
        if args.wait_idle:
            wait_idle(args.wait_idle, 0.3)
        log("bench: start-up and exit cost of each configuration on /bin/true")
        ctx.results["fixed_costs"] = fixed_costs(ctx)
        ctx.results["machine"] = machine_info(ctx)
        ctx.results["machine"]["library"] = "%s built %s, sha256 %s (a copy taken at start)" % (
            os.path.relpath(os.path.join(ctx.build, "libcprof.so"), ROOT), ctx.lib_built,
            ctx.lib_sha256[:16])
        ctx.results["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        ctx.results["load_start"] = loadavg()
        ctx.results["quick"] = args.quick
        ctx.results["full"] = full
        ctx.results["configs"] = {k: {"label": c.label, "settings": c.settings, "kind": c.kind,
                                      "available": c.available, "reason": c.reason,
                                      "note": getattr(c, "no_output_reason", None)}
                                  for k, c in ctx.configs.items()}
        whole = Load()
        workloads = {w.key: w for w in overhead_workloads(ctx)}
        for s in selected:
            log("bench: %s" % s)
            t0 = time.monotonic()
            load = Load()
            if s in workloads:
                sec = alternate(ctx, workloads[s], ctx.tmp)
                if s == "malloc":
                    sec["spot_gperf_heap"] = spot_gperf_heap(ctx, ctx.tmp)
            elif s == "accuracy-heap":
                sec = accuracy_heap(ctx, ctx.tmp)
            elif s == "accuracy-cpu":
                sec = accuracy_cpu(ctx, ctx.tmp)
            elif s == "growth-threads":
                sec = growth_threads(ctx, ctx.tmp)
            elif s == "growth-rate":
                sec = growth_rate(ctx, ctx.tmp)
            elif s == "growth-live":
                sec = growth_live(ctx, ctx.tmp)
            elif s == "short-lived":
                sec = short_lived(ctx, ctx.tmp)
            elif s == "counted":
                sec = costs.measure(ctx.benchdir, ctx.lib) or {"unavailable": "valgrind not installed"}
            else:
                sec = growth_stacks(ctx, ctx.tmp)
            sec["seconds"] = time.monotonic() - t0
            sec["foreign_cpu_share"] = load.foreign()
            sec["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            ctx.results["sections"][s] = sec
        if base:
            # Keep the earlier run, with these sections replaced.
            fresh = ctx.results
            ctx.results = base
            ctx.results["sections"].update(fresh["sections"])
            ctx.results["configs"] = fresh["configs"]
            ctx.results["explain"] = {k: v for k, v in base.get("explain", {}).items()
                                      if k.split("/")[0] not in selected}
        if any(s in workloads for s in selected):
            log("bench: explaining rows where cprof is behind")
            ctx.results.setdefault("explain", {}).update(
                explain(ctx, workloads, ctx.tmp, selected))
        invocation = " ".join(["/usr/bin/python3", "bench/run.py"] + sys.argv[1:])
        if base:
            ctx.results.setdefault("updates", []).append({
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "sections": selected, "seconds": time.monotonic() - t_start,
                "foreign_cpu_share": whole.foreign(), "invocation": invocation})
        else:
            ctx.results["foreign_cpu_share"] = whole.foreign()
            ctx.results["load_end"] = loadavg()
            ctx.results["seconds"] = time.monotonic() - t_start
            ctx.results["invocation"] = invocation
        ctx.results["commands"] = {w.key: w.command_text(ctx) for w in workloads.values()
                                   if w.key in ctx.results["sections"]}
        os.makedirs(ctx.benchdir, exist_ok=True)
        with open(results_path, "w") as f:
            json.dump(ctx.results, f, indent=1, default=str)
        text = report.markdown(ctx.results, os.path.join(HERE, "method.md"))
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
        log("")
        log(report.console_targets(ctx.results))
        log("bench: wrote %s and %s (%.0f s)" % (
            os.path.relpath(out, ROOT) if out.startswith(ROOT) else out,
            os.path.relpath(os.path.abspath(results_path), ROOT), time.monotonic() - t_start))
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
