"""measure - run one process and time it; the statistics of the tables.

A run is one child process, started in its own process group with a clean
environment (no profiler variable inherited from the caller), its stdout
and stderr sent to files (a chatty program can never block on a pipe).  It
is started through bench/progs/spawn.c (SPAWN below), which forks and execs
the command, reaps it with wait4 and reports its resource usage: a process
forked from Python directly would report the harness's own ~25 MiB as its
peak RSS, since Linux keeps ru_maxrss across execve.

    wall   seconds from just before the harness forks to the return of its
           wait4 (process start, the program, its exit handlers - a
           profiler's final dump - and the kernel's teardown)
    cpu    user + system seconds of the command and the descendants it
           waited for (for heaptrack and perf this includes their helpers)
    maxrss peak resident set of the command, KiB (ru_maxrss)
    end_ns CLOCK_MONOTONIC when the command was reaped (the clock the
           benchmark programs print, and Python's time.monotonic_ns())

Statistics are paired: repetition i of a configuration is divided by
repetition i of the bare program, run moments before or after it, and the
tables give the median of these ratios and their spread.  Pairing removes
slow drifts of the machine (other load, thermal state) that a ratio of two
medians would keep.
"""

import json
import math
import os
import signal
import subprocess
import threading
import time

# Variables that change what a profiler or allocator does: never inherited
# from the environment `make bench` runs in.
PROFILER_VARS = ("LD_PRELOAD", "MALLOC_CONF", "HEAPPROFILE", "HEAPCHECK", "CPUPROFILE",
                 "CPUPROFILE_FREQUENCY", "CPUPROFILESIGNAL", "HEAPPROFILESIGNAL",
                 "PERFTOOLS_VERBOSE")
PROFILER_PREFIXES = ("CPROF_", "TCMALLOC_", "HEAP_PROFILE_", "JE_MALLOC_", "MALLOC_")


def clean_env():
    """os.environ without any variable that would change a profiler."""
    env = {}
    for k, v in os.environ.items():
        if k in PROFILER_VARS or k.startswith(PROFILER_PREFIXES):
            continue
        env[k] = v
    return env


SPAWN = None
"""Path of the built spawn program; set by run.py after building it."""


class RunError(Exception):
    """A benchmark process failed: the tables must not use its timing."""


class Result:
    """What one run measured (see the module docstring)."""

    def __init__(self, argv, rc, wall, cpu, maxrss, end_ns, stdout, stderr, nivcsw, minflt=None):
        self.minflt = minflt
        self.argv = argv
        self.rc = rc
        self.wall = wall
        self.cpu = cpu
        self.maxrss = maxrss
        self.end_ns = end_ns
        self.stdout = stdout
        self.stderr = stderr
        self.nivcsw = nivcsw

    def json(self):
        """The last stdout line that is a JSON object (profiler wrappers such
        as heaptrack print lines of their own first), or None."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None


def spawn_env(env):
    """The environment to start SPAWN with: LD_PRELOAD travels as
    SPAWN_LD_PRELOAD, so it reaches the command and not spawn itself."""
    env = dict(env)
    if SPAWN and "LD_PRELOAD" in env:
        env["SPAWN_LD_PRELOAD"] = env.pop("LD_PRELOAD")
    return env


def read_spawn(path):
    """spawn's report (a dict), or None if it wrote none."""
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _tail(text, n=12):
    lines = (text or "").strip().splitlines()
    return "\n".join("    " + l for l in lines[-n:])


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv, env, cwd, stdin_path=None, timeout=300, check=True):
    """Run argv to completion and return a Result.  Output goes to files in
    cwd (<cwd>/stdout, <cwd>/stderr).  After `timeout` seconds the process
    group is killed and RunError raised; with check, a nonzero exit raises
    RunError too."""
    out_path = os.path.join(cwd, "stdout")
    err_path = os.path.join(cwd, "stderr")
    res_path = os.path.join(cwd, "spawn.json")
    full = [SPAWN, res_path] + list(argv) if SPAWN else list(argv)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    timed_out = []
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.monotonic_ns()
            p = subprocess.Popen(full, env=spawn_env(env), cwd=cwd, stdin=stdin, stdout=out,
                                 stderr=err, start_new_session=True)

            def expire():
                timed_out.append(True)
                _killpg(p.pid)

            timer = threading.Timer(timeout, expire)
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            except BaseException:
                _killpg(p.pid)        # interrupted: leave no benchmark running
                raise
            finally:
                timer.cancel()
            end = time.monotonic_ns()
            p.returncode = os.waitstatus_to_exitcode(status)
            _killpg(p.pid)      # leftovers of the group never outlive a run
    finally:
        if stdin_path:
            stdin.close()
    with open(out_path, errors="replace") as f:
        stdout = f.read()
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    r = Result(list(argv), p.returncode, (end - t0) / 1e9, ru.ru_utime + ru.ru_stime,
               ru.ru_maxrss, end, stdout, stderr, ru.ru_nivcsw, ru.ru_minflt)
    sp = read_spawn(res_path) if SPAWN else None
    if sp:
        r.cpu = sp["utime"] + sp["stime"]
        r.maxrss = sp["maxrss_kb"]
        r.end_ns = sp["end_ns"]
        r.nivcsw = sp["nivcsw"]
        r.minflt = sp.get("minflt")
    if timed_out:
        raise RunError("timed out after %ds: %s\n%s" % (timeout, " ".join(argv), _tail(stderr)))
    if check and r.rc != 0:
        raise RunError("exit status %d: %s\n  stdout:\n%s\n  stderr:\n%s"
                       % (r.rc, " ".join(argv), _tail(stdout), _tail(stderr)))
    return r


# ---------------------------------------------------------------- statistics

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return None
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def quartiles(xs):
    """(q1, q3) by linear interpolation; for fewer than 4 values the min and
    the max."""
    xs = sorted(xs)
    n = len(xs)
    if n < 4:
        return (xs[0], xs[-1]) if xs else (None, None)

    def q(f):
        k = (n - 1) * f
        i = int(k)
        return xs[i] + (xs[min(i + 1, n - 1)] - xs[i]) * (k - i)
    return q(0.25), q(0.75)


def paired(values, base, op="ratio"):
    """Per-repetition comparison of `values` with `base` (lists indexed by
    repetition, None where a run failed): ratio v/b, or difference v-b.
    Returns the list of comparisons that have both sides."""
    out = []
    for v, b in zip(values, base):
        if v is None or b is None:
            continue
        out.append(v / b if op == "ratio" else v - b)
    return out


def median_interval(xs, level=0.95):
    """A confidence interval of the median that assumes nothing of the
    distribution: the order statistics x_(k) and x_(n-k+1) of the sorted
    values, k the largest rank with P(Binomial(n, 1/2) < k) <= (1 - level) / 2,
    so that the interval holds the median of the distribution the
    repetitions come from with probability at least `level` (41 values:
    the 14th and the 28th).  (None, None) when there are too few values
    for one (fewer than 6 at 95%)."""
    xs = sorted(x for x in xs if x is not None)
    n, k, cum = len(xs), 0, 0.0
    for j in range(n + 1):
        cum += math.comb(n, j) / 2.0 ** n
        if cum > (1.0 - level) / 2:
            break
        k = j + 1
    if k == 0:
        return None, None
    return xs[k - 1], xs[n - k]


def summary(xs):
    """dict(median, min, max, q1, q3, n, lo95, hi95) of a list (None entries
    dropped); lo95 .. hi95: median_interval."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    q1, q3 = quartiles(xs)
    lo, hi = median_interval(xs)
    return dict(median=median(xs), min=min(xs), max=max(xs), q1=q1, q3=q3, n=len(xs),
                lo95=lo, hi95=hi)


def summarize_config(metric, mine, bare, base=None):
    """The summaries of one configuration's runs of an alternating section
    (lists by repetition, None for a failed run), each run compared with
    the bare run of the same repetition, and with its base configuration's
    when it has one (`base`: that configuration's name and runs)."""
    def col(runs, key):
        return [m.get(key) if m else None for m in runs]
    vals, bv = col(mine, metric), col(bare, metric)
    out = {"value": summary(vals), "ratio": summary(paired(vals, bv, "ratio"))}
    if metric == "ns_per_op":
        out["diff"] = summary(paired(vals, bv, "diff"))
    for extra in ("cpu", "work", "server_cpu"):
        ev = col(mine, extra)
        if any(v is not None for v in ev):
            out[extra + "_ratio"] = summary(paired(ev, col(bare, extra), "ratio"))
    out["maxrss"] = summary(col(mine, "maxrss"))
    if any(m and m.get("minflt") is not None for m in mine):
        out["minflt"] = summary(col(mine, "minflt"))
    if base is not None:
        name, runs = base
        out["vs_base"] = {"base": name, "ratio": summary(paired(vals, col(runs, metric), "ratio"))}
        wv = col(mine, "work")
        if any(v is not None for v in wv):
            out["vs_base"]["work_ratio"] = summary(paired(wv, col(runs, "work"), "ratio"))
    return out
