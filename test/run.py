#!/usr/bin/python3
"""cprof test runner.

    /usr/bin/python3 test/run.py --build build [--stress] [-k PATTERN] [--list] [-j N] [-v]

Tests:
  unit/<file>                 every executable in <build>/test/unit (not *.d):
                              exit 0 passes, 77 skips, anything else fails
  selftest/<stem>::<func>     test/selftest/test_*.py
  integration/<stem>::<func>  test/integration/test_*.py
  stress/<stem>::<func>       test/stress/test_*.py (only with --stress)

Every top-level function named test_* in a test file is a test.  The runner
imports the file to collect the functions and their decorators (@timeout,
@serial from test/lib/harness.py), then runs each test in its own process
(this script with --run-one) in a new session, with a fresh temporary
directory as its cwd and in $CPROF_TEST_TMP, plus $CPROF_TEST_BUILD and
$CPROF_TEST_ROOT.  When a test ends - or its timeout (default 120 s) expires
- its process group is killed, and so is any process still carrying its
CPROF_TEST_TMP in its environment (programs that started their own session).
Inherited CPROF_* variables (other than CPROF_TEST_*) are removed so tests
see cprof's defaults.

The last line of output is "N passed, N failed"; the exit status is 0 iff
nothing failed.
"""

import argparse
import faulthandler
import importlib.util
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = os.path.join(ROOT, "test", "lib")
DEFAULT_TIMEOUT = 120.0
SKIP_EXIT = 77
TAIL_LINES = 60


class Test:
    def __init__(self, name, kind, timeout=DEFAULT_TIMEOUT, serial=False,
                 path=None, func=None, error=None):
        self.name = name
        self.kind = kind          # "unit", "py" or "collect" (a module that failed to import)
        self.timeout = timeout
        self.serial = serial
        self.path = path
        self.func = func
        self.error = error


# ---------------------------------------------------------------- collection

def _import(path, modname):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    d = os.path.dirname(path)
    if d not in sys.path:
        sys.path.insert(1, d)
    spec.loader.exec_module(mod)
    return mod


def _format_exc(e, path):
    """Traceback of e starting at the first frame in path (hides the
    runner's and importlib's frames)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _modname(path):
    return "cproftest_%s_%s" % (os.path.basename(os.path.dirname(path)),
                                os.path.splitext(os.path.basename(path))[0])


def collect_unit(build):
    d = os.path.join(build, "test", "unit")
    tests = []
    if not os.path.isdir(d):
        return tests
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if f.endswith(".d") or f.startswith(".") or not os.path.isfile(p) \
                or not os.access(p, os.X_OK):
            continue
        tests.append(Test("unit/" + f, "unit", path=p))
    return tests


def collect_py(d):
    tests = []
    if not os.path.isdir(d):
        return tests
    group = os.path.basename(os.path.normpath(d))
    for f in sorted(os.listdir(d)):
        if not (f.startswith("test_") and f.endswith(".py")):
            continue
        path = os.path.join(d, f)
        prefix = "%s/%s" % (group, f[:-3])
        try:
            mod = _import(path, _modname(path))
        except BaseException as e:
            tests.append(Test(prefix + "::<collect>", "collect", path=path,
                              error="cannot import %s:\n%s" % (path, _format_exc(e, path))))
            continue
        funcs = [(n, fn) for n, fn in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(fn)
                 and fn.__module__ == mod.__name__]
        funcs.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for n, fn in funcs:
            tests.append(Test("%s::%s" % (prefix, n), "py", path=path, func=n,
                              timeout=float(getattr(fn, "_cprof_timeout", DEFAULT_TIMEOUT)),
                              serial=bool(getattr(fn, "_cprof_serial", False))))
    return tests


# ---------------------------------------------------------------- running

def _test_env(build, tmp):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("CPROF_") and not k.startswith("CPROF_TEST_"))}
    env.update(CPROF_TEST_TMP=tmp, CPROF_TEST_BUILD=build, CPROF_TEST_ROOT=ROOT,
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    pp = env.get("PYTHONPATH")
    env["PYTHONPATH"] = LIBDIR + (os.pathsep + pp if pp else "")
    return env


def _proc_marked(marker):
    """pids of processes whose environment contains marker (bytes)."""
    me = os.getpid()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        # Entries are NUL-terminated; the first has no NUL before it.
        if marker in env or env.startswith(marker[1:]):
            pids.append(int(d))
    return pids


def _cleanup(pgid, tmp):
    """Kill the test's process group and every process that still has the
    test's CPROF_TEST_TMP in its environment (e.g. ones that called setsid)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    marker = b"\0CPROF_TEST_TMP=" + os.fsencode(tmp) + b"\0"
    for _ in range(5):
        pids = _proc_marked(marker)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def _signame(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.lock = threading.Lock()
        self.results = []          # (test, status, seconds, detail)
        self.running = {}
        self.tmp_root = args.tmp_root or None
        self.interrupted = False

    def emit(self, text):
        with self.lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()

    def run_test(self, t):
        if self.interrupted:
            return
        tmp = tempfile.mkdtemp(prefix="cprof-test-", dir=self.tmp_root)
        t0 = time.monotonic()
        out = tempfile.TemporaryFile()
        detail = ""
        if t.kind == "collect":
            out.write(t.error.encode())
            rc, timed_out = None, False
        else:
            if t.kind == "unit":
                argv = [t.path]
            else:
                argv = [sys.executable, os.path.abspath(__file__), "--build", self.build,
                        "--run-one", t.path, t.func, "--timeout", str(t.timeout)]
            timed_out = False
            try:
                p = subprocess.Popen(argv, cwd=tmp, env=_test_env(self.build, tmp),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                out.write(("cannot start %s: %s\n" % (argv[0], e)).encode())
                rc = 1
            else:
                with self.lock:
                    self.running[p.pid] = tmp
                try:
                    rc = p.wait(timeout=t.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _cleanup(p.pid, tmp)
                    rc = p.wait()
                _cleanup(p.pid, tmp)
                with self.lock:
                    self.running.pop(p.pid, None)
        elapsed = time.monotonic() - t0
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        out.close()
        if self.interrupted:
            shutil.rmtree(tmp, ignore_errors=True)
            return

        if rc is None:
            status, detail = "FAIL", "import error"
        elif timed_out:
            status, detail = "FAIL", "timeout after %gs, process group killed" % t.timeout
        elif rc == 0:
            status = "PASS"
        elif rc == SKIP_EXIT:
            status = "SKIP"
            lines = [l for l in text.splitlines() if l.strip()]
            reason = ""
            for l in reversed(lines):
                if l.startswith("SKIP: "):
                    reason = l[len("SKIP: "):]
                    break
            if not reason and lines:
                reason = lines[-1].strip()
            detail = reason or "(no reason given)"
        elif rc < 0:
            status, detail = "FAIL", "killed by %s" % _signame(rc)
        else:
            status, detail = "FAIL", "exit status %d" % rc

        lines = []
        if status == "SKIP":
            lines.append("SKIP %s: %s" % (t.name, detail))
        else:
            lines.append("%s %s (%.1fs)%s" % (status, t.name, elapsed,
                                              " [%s]" % detail if detail else ""))
        body = text.rstrip("\n").splitlines()
        if status == "FAIL" and not self.args.verbose and len(body) > TAIL_LINES:
            lines.append("    [... %d earlier lines of output omitted ...]" % (len(body) - TAIL_LINES))
            body = body[-TAIL_LINES:]
        if status == "FAIL" or self.args.verbose:
            lines.extend("    " + l for l in body)
        if status == "FAIL" and t.kind != "collect":
            lines.append("    (temporary directory kept: %s)" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        with self.lock:
            self.results.append((t, status, elapsed, detail))
        self.emit("\n".join(lines))

    def run_all(self, tests):
        parallel = [t for t in tests if not t.serial]
        serial = [t for t in tests if t.serial]
        jobs = max(1, self.args.jobs)
        ex = ThreadPoolExecutor(max_workers=jobs)
        try:
            for f in [ex.submit(self.run_test, t) for t in parallel]:
                f.result()
            for t in serial:
                self.run_test(t)
        except BaseException:
            self.kill_running()
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown()

    def kill_running(self):
        self.interrupted = True
        with self.lock:
            running = list(self.running.items())
        for pgid, tmp in running:
            _cleanup(pgid, tmp)


def run_one(path, func, timeout):
    """Body of a test process: import the file, call the function, map the
    outcome to an exit status (0 pass, 77 skip, 1 fail)."""
    faulthandler.enable()
    if timeout and timeout > 0:
        # Shortly before the runner kills us, show where every thread is.
        faulthandler.dump_traceback_later(max(timeout - 3, timeout * 0.9), exit=False)
    if LIBDIR not in sys.path:
        sys.path.insert(0, LIBDIR)
    tmp = os.environ.get("CPROF_TEST_TMP")
    if tmp:
        os.chdir(tmp)
    status = 1
    try:
        mod = _import(path, _modname(path))
        getattr(mod, func)()
        status = 0
    except BaseException as e:
        names = {c.__name__ for c in type(e).__mro__}
        if "Skip" in names or "SkipTest" in names:
            sys.stdout.flush()
            print("SKIP: %s" % e, flush=True)
            status = SKIP_EXIT
        else:
            sys.stdout.flush()
            sys.stderr.write(_format_exc(e, path))
            status = 1
    faulthandler.cancel_dump_traceback_later()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main():
    ap = argparse.ArgumentParser(description="cprof test runner")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--stress", action="store_true", help="also run test/stress")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose name contains PATTERN (repeatable: any matches)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("-j", dest="jobs", type=int, default=2, help="parallel tests (default 2)")
    ap.add_argument("-v", dest="verbose", action="store_true", help="print all test output")
    ap.add_argument("--run-one", nargs=2, metavar=("FILE", "FUNC"), help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--dir", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--tmp-root", help=argparse.SUPPRESS)
    args = ap.parse_args()

    sys.dont_write_bytecode = True
    build = os.path.abspath(args.build)
    os.environ["CPROF_TEST_BUILD"] = build
    os.environ["CPROF_TEST_ROOT"] = ROOT
    if args.run_one:
        run_one(os.path.abspath(args.run_one[0]), args.run_one[1], args.timeout)

    sys.path.insert(0, LIBDIR)
    tests = collect_unit(build)
    if args.dir:
        dirs = [os.path.abspath(d) for d in args.dir]
    else:
        dirs = [os.path.join(ROOT, "test", d) for d in ("selftest", "integration")]
        if args.stress:
            dirs.append(os.path.join(ROOT, "test", "stress"))
    for d in dirs:
        tests.extend(collect_py(d))
    if args.patterns:
        tests = [t for t in tests if any(p in t.name for p in args.patterns)]

    if args.list:
        for t in tests:
            extra = []
            if t.timeout != DEFAULT_TIMEOUT:
                extra.append("timeout=%gs" % t.timeout)
            if t.serial:
                extra.append("serial")
            print(t.name + ("  [%s]" % ", ".join(extra) if extra else ""))
        return 0

    if not tests:
        print("no tests found%s" % (" matching %s" % " or ".join(map(repr, args.patterns))
                                    if args.patterns else ""))
    # The programs under test start with the signal dispositions a shell
    # gives a command.  A runner started in the background of a
    # non-interactive shell (`make test &` in a script) or under nohup
    # inherits SIGINT and SIGQUIT, or SIGHUP, ignored, and exec passes an
    # ignored signal on: a program the tests kill with SIGINT would live
    # on.  A test that wants a signal ignored ignores it itself.
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGPROF, signal.SIGALRM):
        if signal.getsignal(s) == signal.SIG_IGN:
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)

    def _term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    r = Runner(args)
    t0 = time.monotonic()
    try:
        r.run_all(tests)
    except KeyboardInterrupt:
        r.kill_running()
        print("\ninterrupted")
        return 130
    passed = sum(1 for x in r.results if x[1] == "PASS")
    failed = [x for x in r.results if x[1] == "FAIL"]
    skipped = sum(1 for x in r.results if x[1] == "SKIP")
    print("")
    if failed:
        print("failed:")
        for t, _, _, detail in failed:
            print("  %s%s" % (t.name, " [%s]" % detail if detail else ""))
    print("time %.1fs" % (time.monotonic() - t0))
    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
