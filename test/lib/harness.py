"""harness - helpers for cprof's integration, stress and self tests.

Test files (test/integration/test_*.py, test/stress/test_*.py,
test/selftest/test_*.py) are collected by test/run.py, which puts test/lib on
sys.path, so a test file starts with `from harness import *` (or
`import harness as h`) and `import pprofdec`.  Every top-level function
named test_* is one test; it runs in its own process, with its own temporary
directory as the current directory.  It passes by returning, fails by
raising, and is skipped by raising Skip("reason").

Importing this module has no side effects beyond definitions (the runner
imports test modules to read their decorators).
"""

import atexit
import glob as _glob
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

__all__ = [
    "Skip", "timeout", "serial", "ROOT", "BUILD", "LIB", "PROGS", "tmpdir",
    "run", "start", "Proc", "wait_for", "wait_for_file", "profiles", "ProfileFile",
    "pprof", "pprof_top", "parse_top", "parse_value", "Value", "Row", "Top",
    "eq_within", "in_range", "prog", "need", "load_profile",
]

ROOT = os.path.abspath(os.environ.get("CPROF_TEST_ROOT") or
                       os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
"""Repository root (absolute)."""
BUILD = os.path.abspath(os.environ.get("CPROF_TEST_BUILD") or os.path.join(ROOT, "build"))
"""Build directory (absolute): $CPROF_TEST_BUILD, set by the runner, else <ROOT>/build."""
LIB = os.path.join(BUILD, "libcprof.so")
"""The library under test."""
PROGS = os.path.join(BUILD, "test", "progs")
"""Where `make progs` puts the test programs."""


# ---------------------------------------------------------------- decorators

class Skip(Exception):
    """Raise Skip("reason") in a test to skip it (the runner reports
    `SKIP name: reason`; the test process exits with status 77)."""


def timeout(seconds):
    """Decorator: the runner kills the test (its whole process group and
    anything carrying its CPROF_TEST_TMP) after `seconds` instead of the
    default 120 s and reports FAIL (timeout)."""
    def deco(fn):
        fn._cprof_timeout = float(seconds)
        return fn
    return deco


def serial(fn):
    """Decorator: run this test alone, after all the parallel ones (for
    timing-sensitive tests or tests that use fixed ports)."""
    fn._cprof_serial = True
    return fn


# ---------------------------------------------------------------- tmp dir

_tmp = None


def tmpdir():
    """The test's private temporary directory: $CPROF_TEST_TMP (set by the
    runner, removed after a pass, kept after a failure), or - when a test is
    run by hand - a new directory from mkdtemp, made once per process."""
    global _tmp
    if _tmp is None:
        _tmp = os.environ.get("CPROF_TEST_TMP")
        if not _tmp:
            _tmp = tempfile.mkdtemp(prefix="cprof-test-")
            os.environ["CPROF_TEST_TMP"] = _tmp
            print("harness: temporary directory %s" % _tmp, file=sys.stderr)
    return _tmp


# ---------------------------------------------------------------- processes

def _argv(cmd):
    if isinstance(cmd, (str, bytes)):
        return shlex.split(cmd)
    return [str(c) for c in cmd]


def _env(env, preload):
    """os.environ + env (None values delete); with preload, LIB is put first
    in LD_PRELOAD and CPROF_OUTPUT defaults to <tmp>/cprof.%e.%p.%n.%t.pb.gz."""
    e = dict(os.environ)
    env = dict(env or {})
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    if preload:
        old = e.get("LD_PRELOAD")
        e["LD_PRELOAD"] = LIB + (":" + old if old else "")
        if "CPROF_OUTPUT" not in env:
            e["CPROF_OUTPUT"] = os.path.join(tmpdir(), "cprof.%e.%p.%n.%t.pb.gz")
    return e


def _tail(text, n=40):
    lines = (text or "").splitlines()
    if len(lines) > n:
        lines = ["[... %d lines omitted ...]" % (len(lines) - n)] + lines[-n:]
    return "\n".join("    " + l for l in lines)


def _status(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


def _killpg(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd, env=None, preload=True, cwd=None, timeout=60, input=None, check=True):
    """Run cmd (a list, or a string split with shlex) to completion and
    return a subprocess.CompletedProcess with text stdout and stderr (and an
    extra attribute `elapsed`, seconds).

    env: extra variables on top of os.environ; a None value removes one.
    preload=True puts LIB first in LD_PRELOAD (before any LD_PRELOAD already
    in the environment or in env) and sets CPROF_OUTPUT to
    <tmp>/cprof.%e.%p.%n.%t.pb.gz unless env names CPROF_OUTPUT (give it
    None to get cprof's default, relative to cwd).  cwd defaults to the
    current directory (the test's tmp dir under the runner).  input: text
    for stdin (stdin is /dev/null otherwise).

    The command runs in its own process group; after `timeout` seconds the
    whole group is killed and AssertionError is raised (whatever `check`
    says).  With check=True a nonzero exit raises AssertionError showing the
    command, the exit status and the tails of stdout and stderr."""
    argv = _argv(cmd)
    e = _env(env, preload)
    print("+ %s%s" % ("[preload] " if preload else "", " ".join(shlex.quote(a) for a in argv)),
          flush=True)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=e, cwd=cwd, start_new_session=True, text=True,
                         errors="replace",
                         stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(p.pid)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = "", "(output unavailable)"
        raise AssertionError("command timed out after %gs (process group killed): %s\n"
                             "  stdout:\n%s\n  stderr:\n%s"
                             % (timeout, " ".join(argv), _tail(out), _tail(err)))
    finally:
        if p.poll() is None:
            _killpg(p.pid)
            p.wait()
    # Leftover children of the command (same group) do not outlive it.
    _killpg(p.pid)
    cp = subprocess.CompletedProcess(argv, p.returncode, out, err)
    cp.elapsed = time.monotonic() - t0
    print("  -> %s in %.2fs" % (_status(p.returncode), cp.elapsed), flush=True)
    if check and p.returncode != 0:
        raise AssertionError("command failed (%s): %s\n  stdout:\n%s\n  stderr:\n%s"
                             % (_status(p.returncode), " ".join(argv), _tail(out), _tail(err)))
    return cp


_started = []


class Proc(subprocess.Popen):
    """A process from start(): a subprocess.Popen leading its own process
    group.  Unless other stdout/stderr were requested, output goes to files
    in the tmp dir (stdout_path, stderr_path; read them with out()/err()),
    so a chatty program can never block on a full pipe."""

    stdout_path = None
    stderr_path = None

    def out(self):
        """Everything the process wrote to stdout so far (text)."""
        return _read(self.stdout_path)

    def err(self):
        """Everything the process wrote to stderr so far (text)."""
        return _read(self.stderr_path)

    def kill_group(self, sig=signal.SIGKILL):
        """Send sig to the process's whole group."""
        _killpg(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Send sig to the process, wait up to `timeout` s for it to exit
        (then SIGKILL its group and raise AssertionError), kill leftovers in
        its group, and return the exit status."""
        if self.poll() is None:
            try:
                self.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            rc = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            self.wait()
            raise AssertionError("%s did not exit within %gs of %s; killed"
                                 % (" ".join(_argv(self.args)), timeout, signal.Signals(sig).name))
        self.kill_group()
        return rc

    def describe(self):
        """Command, status and output tails, for assertion messages."""
        return "%s (%s)\n  stdout:\n%s\n  stderr:\n%s" % (
            " ".join(_argv(self.args)), _status(self.poll()), _tail(self.out()), _tail(self.err()))

    def __exit__(self, *exc):
        if self.poll() is None:
            self.kill_group()
        super().__exit__(*exc)
        self.kill_group()


def _read(path):
    if not path:
        return ""
    with open(path, errors="replace") as f:
        return f.read()


_nstart = 0


def start(cmd, env=None, preload=True, cwd=None, stdin=subprocess.DEVNULL,
          stdout=None, stderr=None, name=None):
    """Start a long-running program and return a Proc (a Popen) without
    waiting.  env/preload/cwd as for run().  By default stdout and stderr go
    to <tmp>/<name>.<n>.out and .err (name: the program's basename); pass
    stdout=subprocess.PIPE etc. to get pipes instead.  The process leads its
    own process group; use proc.stop() / proc.kill_group(), or `with
    start(...) as p:`.  Groups still alive when the test process exits are
    killed (and the runner kills anything left carrying the test's tmp dir
    in its environment)."""
    global _nstart
    argv = _argv(cmd)
    e = _env(env, preload)
    _nstart += 1
    base = os.path.join(tmpdir(), "%s.%d" % (name or os.path.basename(argv[0]), _nstart))
    files = []
    out_path = err_path = None
    if stdout is None:
        out_path = base + ".out"
        stdout = open(out_path, "w")
        files.append(stdout)
    if stderr is None:
        err_path = base + ".err"
        stderr = open(err_path, "w")
        files.append(stderr)
    print("+ start %s%s" % ("[preload] " if preload else "", " ".join(shlex.quote(a) for a in argv)),
          flush=True)
    try:
        p = Proc(argv, env=e, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr,
                 start_new_session=True, text=True, errors="replace")
    finally:
        for f in files:
            f.close()
    p.stdout_path = out_path
    p.stderr_path = err_path
    _started.append(p)
    return p


@atexit.register
def _kill_started():
    for p in _started:
        _killpg(p.pid)


def wait_for(predicate, timeout=10, what=None, interval=0.05):
    """Call predicate() until it returns something true and return that;
    raise AssertionError("timed out after Ns waiting for <what>") otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %gs waiting for %s"
                                 % (timeout, what or getattr(predicate, "__name__", "condition")))
        time.sleep(interval)


def wait_for_file(pattern, timeout=10, min_size=1):
    """Wait until a file matching the glob pattern (relative patterns are
    relative to the tmp dir) exists, has at least min_size bytes and did not
    grow since the previous poll; return its path (the first in sorted order)."""
    if not os.path.isabs(pattern):
        pattern = os.path.join(tmpdir(), pattern)
    last = {}

    def ready():
        for path in sorted(_glob.glob(pattern)):
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            if size >= min_size and last.get(path) == size:
                return path
            last[path] = size
        return None
    return wait_for(ready, timeout, "a file matching %s" % pattern)


# ---------------------------------------------------------------- profiles

ProfileFile = namedtuple("ProfileFile", "path exe pid n kind")
ProfileFile.__doc__ = "A profile file named cprof.<exe>.<pid>.<n>.<kind>.pb.gz."

_PROFILE_RE = re.compile(r"^cprof\.(?P<exe>.+)\.(?P<pid>\d+)\.(?P<n>\d+)\.(?P<kind>[A-Za-z0-9_]+)\.pb\.gz$")


def profiles(dir=None, kind=None, pid=None, exe=None):
    """Profiles in dir (default: the tmp dir) named like cprof's default
    pattern, cprof.<exe>.<pid>.<n>.<kind>.pb.gz, as ProfileFile(path, exe,
    pid, n, kind) tuples (pid and n are ints) sorted by (exe, pid, n, kind).
    kind/pid/exe filter."""
    dir = dir or tmpdir()
    out = []
    for name in os.listdir(dir):
        m = _PROFILE_RE.match(name)
        if not m:
            continue
        pf = ProfileFile(os.path.join(dir, name), m["exe"], int(m["pid"]), int(m["n"]), m["kind"])
        if kind is not None and pf.kind != kind:
            continue
        if pid is not None and pf.pid != int(pid):
            continue
        if exe is not None and pf.exe != exe:
            continue
        out.append(pf)
    out.sort(key=lambda p: (p.exe, p.pid, p.n, p.kind, p.path))
    return out


def load_profile(path, validate=True):
    """pprofdec.load(path), validated unless validate=False."""
    import pprofdec
    p = pprofdec.load(path)
    if validate:
        pprofdec.validate(p)
    return p


# ---------------------------------------------------------------- pprof

class PprofOutput(str):
    """stdout of `go tool pprof` (a str), with .stderr and .returncode."""
    stderr = ""
    returncode = 0


def pprof(args, check=True, timeout=120):
    """Run `go tool pprof <args>` (never preloaded) with HOME and
    PPROF_TMPDIR set to the tmp dir; return its stdout as a PprofOutput (a
    str with .stderr and .returncode).  check=True raises AssertionError on
    a nonzero exit."""
    t = tmpdir()
    env = {"HOME": t, "PPROF_TMPDIR": t, "GOCACHE": os.path.join(t, ".gocache"),
           "LD_PRELOAD": None, "PPROF_NO_BROWSER": "1"}
    r = run(["go", "tool", "pprof"] + [str(a) for a in args], env=env, preload=False,
            timeout=timeout, check=check)
    out = PprofOutput(r.stdout)
    out.stderr = r.stderr
    out.returncode = r.returncode
    return out


Value = namedtuple("Value", "raw num unit tol")
Value.__doc__ = """A value printed by pprof: raw text ("4032.09kB"), num in base
units (ns for time, bytes for memory, counts as is), the printed unit ("kB",
"" for plain numbers) and tol, the rounding error of the printed text in base
units (pprof prints two decimals)."""

Row = namedtuple("Row", "flat flat_pct sum_pct cum cum_pct name inline raw")
Row.__doc__ = """One line of `pprof -top`: flat and cum are Values; the
percentages are floats; name is the node name without the " (inline)"
marker, inline a bool; raw the whole line."""

_UNITS = {
    "": 1, "B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50,
    "ns": 1, "us": 1e3, "\u00b5s": 1e3, "\u03bcs": 1e3, "ms": 1e6, "s": 1e9,
    "mins": 60e9, "hrs": 3600e9, "days": 86400e9, "wks": 7 * 86400e9, "yrs": 365.25 * 86400e9,
}
_VALUE_RE = re.compile(r"^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(\D*)$")


def parse_value(text):
    """Parse a pprof value such as "300ms", "4032.09kB", "1.50s", "1234",
    "0" into a Value.  Unknown unit suffixes keep a factor of 1."""
    text = text.strip()
    m = _VALUE_RE.match(text)
    if not m:
        raise ValueError("not a pprof value: %r" % text)
    number, unit = m.group(1), m.group(2)
    factor = _UNITS.get(unit, 1)
    decimals = len(number.split(".")[1]) if "." in number and "e" not in number.lower() else 0
    num = float(number) * factor
    if num == int(num):
        num = int(num)
    # pprof prints %.2f and trims ".00": integers may hide up to 0.005.
    # (plus a little for binary floating point at exact .005 boundaries).
    tol = 0.005 * factor * (1 + 1e-9) if factor != 1 or decimals else 0
    return Value(text, num, unit, tol)


def _pct(text):
    return float(text.strip().rstrip("%"))


_ROW_RE = re.compile(r"^\s*(\S+)\s+(\S+%)\s+(\S+%)\s+(\S+)\s+(\S+%)\s+(.*?)\s*$")
_HEADER_RE = re.compile(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%\s*$")


class Top(namedtuple("Top", "rows header")):
    """Parsed `pprof -top` output: rows (list of Row, in pprof's order) and
    header (the lines before the column titles: File:, Type:, Time:,
    Duration:, Showing nodes ..., Dropped ...).  Unpacks as (rows, header)."""

    def find(self, name):
        """The Row named name, or None."""
        for r in self.rows:
            if r.name == name:
                return r
        return None

    def flat(self, name):
        """flat value (base units) of name, 0 if absent."""
        r = self.find(name)
        return r.flat.num if r else 0

    def cum(self, name):
        """cum value (base units) of name, 0 if absent."""
        r = self.find(name)
        return r.cum.num if r else 0

    def names(self):
        return [r.name for r in self.rows]

    def header_value(self, key):
        """Text after "key:" in the first header line starting with it, or None."""
        for h in self.header:
            if h.startswith(key + ":"):
                return h[len(key) + 1:].strip()
        return None

    @property
    def type(self):
        """The sample type shown (the "Type:" header)."""
        return self.header_value("Type")

    @property
    def duration_ns(self):
        """The Duration: header in ns, or None."""
        d = self.header_value("Duration")
        return parse_value(d.split(",")[0]).num if d else None

    @property
    def total(self):
        """The total from "Showing nodes accounting for X, P% of T total" as a Value."""
        for h in self.header:
            m = re.search(r"of (\S+) total", h)
            if h.startswith("Showing nodes") and m:
                return parse_value(m.group(1))
        return None


def parse_top(text):
    """Parse the text of `pprof -top` into a Top."""
    header, rows = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not _HEADER_RE.match(lines[i]):
        if lines[i].strip():
            header.append(lines[i].strip())
        i += 1
    if i == len(lines):
        raise AssertionError("no 'flat flat% sum% cum cum%' line in pprof output:\n" + _tail(text))
    for line in lines[i + 1:]:
        if not line.strip():
            continue
        m = _ROW_RE.match(line)
        if not m:
            raise AssertionError("cannot parse pprof -top line %r" % line)
        name, inline = m.group(6), False
        for mark in (" (inline)", " (partial-inline)"):
            if name.endswith(mark):
                name, inline = name[:-len(mark)], True
        rows.append(Row(parse_value(m.group(1)), _pct(m.group(2)), _pct(m.group(3)),
                        parse_value(m.group(4)), _pct(m.group(5)), name, inline, line))
    return Top(rows, header)


def pprof_top(path, extra=()):
    """Run `go tool pprof -top -nodecount=1000 [extra] path` and parse it
    into a Top (rows, header).  Note pprof still drops nodes below
    -nodefraction (default 0.005); pass extra=["-nodefraction=0"] to see all."""
    return parse_top(pprof(["-top", "-nodecount=1000"] + list(extra) + [path]))


# ---------------------------------------------------------------- asserts

def eq_within(actual, expected, rel=None, abs=None, what=""):
    """Assert |actual - expected| <= max(abs, rel * |expected|) (exact
    equality when neither is given); the message shows both operands, the
    difference and the allowance.  Returns actual."""
    diff = actual - expected
    allowed = 0
    if abs is not None:
        allowed = max(allowed, abs)
    if rel is not None:
        allowed = max(allowed, rel * (expected if expected >= 0 else -expected))
    if (diff if diff >= 0 else -diff) > allowed:
        raise AssertionError("%sactual %r vs expected %r: differ by %r (%s%%), allowed %r%s"
                             % (what + ": " if what else "", actual, expected, diff,
                                "%.3g" % (100.0 * diff / expected) if expected else "inf",
                                allowed,
                                "" if rel is None and abs is None else
                                " (rel=%r, abs=%r)" % (rel, abs)))
    return actual


def in_range(value, lo, hi, what=""):
    """Assert lo <= value <= hi (either bound may be None); returns value."""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise AssertionError("%s%r not in [%r, %r]" % (what + ": " if what else "", value, lo, hi))
    return value


# ---------------------------------------------------------------- prerequisites

def prog(name):
    """Path of test program `name` in PROGS; AssertionError if it was not
    built (run `make progs`)."""
    path = os.path.join(PROGS, name)
    if not os.access(path, os.X_OK):
        raise AssertionError("test program %s not built (make progs BUILD=%s)" % (path, BUILD))
    return path


def need(*things):
    """Raise Skip unless every thing exists: an absolute path, or a command
    on PATH.  Returns the resolved path of the last one."""
    import shutil
    found = None
    for t in things:
        found = t if os.path.isabs(t) and os.path.exists(t) else shutil.which(t)
        if not found:
            raise Skip("%s not available" % t)
    return found
