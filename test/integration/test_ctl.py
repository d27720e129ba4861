"""The cprof command and the library agree, and `cprof dump --wait` knows
when a dump is complete.

DESIGN
The command holds no copy of the library's rules: it asks cprof-ctl, which
is linked with the library's own configuration code (scripts/cprof-ctl.c).
These tests check the result from outside, both ways, over a table of good
and bad values for every CPROF_* variable: the library's own verdict (the
line it prints when preloaded into a program) against the command's
(`cprof --option VALUE`, accepted or refused with status 2) and cprof-ctl's
reading of the same environment (the same line, word for word).  Output
patterns are checked by what the command announces against the files the
library writes; signal names by the signal a preloaded process catches
against the number the command sends.

dump --wait: the library answers a request carried by the trigger signal
(preload/control/reply.h) once the set is written.  The tests take a dump that
lasts seconds (a million heap stacks), a requester killed while it waits
(its pid given to another process, which must receive nothing), a forged
request naming another process, and plain kill -USR2 / sigqueue without a
request, which must dump exactly as before."""

import ctypes
import os
import re
import signal
import subprocess
import time

from harness import *

CPROF = os.path.join(ROOT, "scripts", "cprof")
CTL = os.path.join(BUILD, "cprof-ctl")
TRUE = "/bin/true"
KINDS = ("cpu", "heap", "mutex", "block", "threads", "threadcreate")
# The files of a set of a program that allocates: heappeak too.
SET = KINDS + ("heappeak",)

# (variable, option of the command or None, values).  Good and bad values
# side by side: the test does not say which is which, the library does.
TABLE = [
    ("CPROF_PROFILES", "--profiles", ["cpu", "heap,mutex", "all", "none", "goroutine,allocs",
                                      "cpu,,heap", "heap,goroutines", "CPU", "x", "all,bogus"]),
    ("CPROF_HEAP_RATE", "--heap-rate", ["0", "1", "524288", "1099511627776", "1099511627777",
                                        "00000000000000000000001", "-1", "1e6", " 5", "abc",
                                        "18446744073709551616"]),
    ("CPROF_CPU_HZ", "--cpu-hz", ["1", "100", "10000", "10001", "0", "07", "+5", "1.5"]),
    ("CPROF_MUTEX_FRACTION", "--mutex-fraction", ["0", "1", "4294967296", "4294967297", "x"]),
    ("CPROF_BLOCK_RATE", "--block-rate", ["0", "1", "1125899906842624", "1125899906842625", "-3"]),
    ("CPROF_INTERVAL", "--interval", ["0", "5", "604800", "604801", "1s"]),
    ("CPROF_SIGNAL", "--signal", ["USR1", "SIGUSR2", "12", "10", "RTMIN", "RTMIN+2", "RTMIN+30",
                                  "RTMIN+31", "HUP", "WINCH", "none", "KILL", "9", "SIGSTOP",
                                  "SEGV", "PROF", "27", "0", "65", "usr1", "RTMAX", "SIGSIGUSR1"]),
    ("CPROF_UNWIND", "--unwind", ["fp", "libunwind", "FP", "dwarf", ""]),
    ("CPROF_HTTP", "--http", ["127.0.0.1:0", "localhost:0", ":0", "127.0.0.1:65535",
                              "127.0.0.1:65536", "127.0.0.1", "127.0.0.1:x", ""]),
    ("CPROF_HTTP_TOKEN", "--http-token", ["secret-8", "sevench", "with space1", "has:colon1",
                                          "x" * 255, "x" * 256]),
    ("CPROF_OUTPUT", "-o", ["p.%p.%n.%t.pb.gz", "%e-%h-%%-%t.pb.gz", "p.%t", "p.%x.pb.gz",
                            "p.%", "dir/", "", "x" * 959, "x" * 960]),
    ("CPROF_QUIET", None, ["0", "1", "yes", "off", "maybe"]),
    ("CPROF_FOLLOW_EXEC", None, ["1", "no", "2"]),
    ("CPROF_EMPTY_FILES", None, ["true", "nope"]),
    ("CPROF_ROOT_PID", None, ["1", "1073741824", "1073741825", "-1"]),
    ("CPROF_PROFILE", None, ["cpu"]),        # misspelt: "did you mean"
    ("CPROF_WHATEVER", None, ["1"]),         # unknown
]


def library_lines(env):
    """The lines the library prints at start about its variables, in a
    program with env (CPROF_PROFILES=none unless env sets it).  What is
    checked later, when it is used (CPROF_HTTP's address is refused when
    the server starts if it is not loopback and has no token), is the
    library's alone: the command passes the value on."""
    e = {"CPROF_PROFILES": "none", "CPROF_OUTPUT": "cprof.%p.%t.pb.gz"}
    e.update(env)
    cp = run([TRUE], env=e, check=False)
    assert cp.returncode == 0, cp.stderr
    return [l for l in cp.stderr.splitlines()
            # "VAR=VALUE: why" (cut short after a very long value)
            if any(l.startswith(p) or p.startswith(l) for p in ("cprof: %s=%s: " % kv for kv in env.items()))
            or l.startswith("cprof: CPROF_HTTP_TOKEN is set but unusable")
            or l.startswith("cprof: unknown variable")]


def ctl_lines(env):
    """cprof-ctl's reading of the same environment: its lines on stderr."""
    e = {"CPROF_PROFILES": "none", "CPROF_OUTPUT": "cprof.%p.%t.pb.gz"}
    e.update(env)
    cp = subprocess.run(["env", "-i"] + ["%s=%s" % kv for kv in e.items()] + [CTL, "env"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stderr.splitlines()


def ctl(*args, check=True):
    cp = run([CTL] + [str(a) for a in args], preload=False, check=check)
    return cp


def cprof(args, env=None, **kw):
    e = {"CPROF_LIB": LIB}
    e.update(env or {})
    return run([CPROF] + [str(a) for a in args], env=e, preload=False, **kw)


# ---------------------------------------------------------------- configuration

@timeout(300)
def test_command_and_library_agree_on_every_variable():
    """For every value of the table: cprof-ctl prints, word for word, the
    line the library prints when preloaded with it (or none); the command's
    option accepts exactly the values the library accepts, and refuses the
    others with status 2 and one line naming the option."""
    checked = refused = 0
    for var, option, values in TABLE:
        for value in values:
            env = {var: value}
            lib = library_lines(env)
            assert len(lib) <= 1, (var, value, lib)
            assert ctl_lines(env) == lib, (var, value, ctl_lines(env), lib)
            rejected = bool(lib)
            if option is None:
                continue
            if var == "CPROF_PROFILES" and value == "":
                continue  # an empty option value is bad usage, whatever the variable means
            if var == "CPROF_HTTP_TOKEN":
                # The library says so without the value; the option
                # check is the same config_set().
                pass
            cp = cprof([option, value, "-q", "--profiles", "none", "--", TRUE]
                       if option != "--profiles" else [option, value, "-q", "--", TRUE],
                       env={"CPROF_EMPTY_FILES": None}, check=False)
            if rejected:
                lines = cp.stderr.splitlines()
                assert cp.returncode == 2 and lines[0].startswith("cprof: %s" % option), \
                    (var, value, cp.returncode, cp.stderr)
                refused += 1
            else:
                assert cp.returncode == 0, (var, value, cp.returncode, cp.stderr)
            checked += 1
    assert checked > 60 and refused > 25, (checked, refused)


def test_profiles_message_is_the_library_s():
    """--profiles refuses with the library's own explanation, "did you
    mean" included."""
    lib = library_lines({"CPROF_PROFILES": "heap,goroutines"})[0]
    cp = cprof(["--profiles", "heap,goroutines", TRUE], check=False)
    line = cp.stderr.splitlines()[0]
    assert line.startswith("cprof: --profiles: unknown profile 'goroutines' (did you mean 'goroutine', "
                           "the threads profile?)"), line
    why = lib.split(": ", 2)[2]
    assert line == "cprof: --profiles: " + why[:-len("; using the default")], (line, lib)


@timeout(180)
def test_patterns_expand_alike():
    """The pattern the command announces (its expansion through cprof-ctl)
    matches the files the library writes, for %e %p %n %t %h %% and for an
    inherited invalid pattern (both fall back to the default)."""
    host = os.uname().nodename
    for pattern in ("a.%e.%p.%n.%t.pb.gz", "%h-%%-%t.pb.gz", "sub/%t_%p", "bad.%x.pb.gz"):
        os.makedirs("sub", exist_ok=True)
        for f in os.listdir("."):
            if f.endswith(".pb.gz") or f.startswith("cprof."):
                os.unlink(f)
        cp = cprof(["--profiles", "heap", "--", prog("heap_truth"), 1, 1],
                   env={"CPROF_OUTPUT": pattern})
        m = [l for l in cp.stderr.splitlines() if l.startswith("cprof: profiling ")]
        assert len(m) == 1, cp.stderr
        shown = re.search(r"profiles will be written as (.+) \(", m[0]).group(1)
        if "%x" in pattern:
            assert shown.endswith("/cprof.heap_truth.%s.<n>.<type>.pb.gz" % re.search(r"pid (\d+)", m[0]).group(1)), shown
        if "%h" in pattern:
            assert host in shown and "-%-" in shown, shown
        rx = re.compile(re.escape(shown).replace(re.escape("<n>"), r"\d+").replace(re.escape("<type>"), "heap(peak)?") + "$")
        wrote = [l[len("cprof: wrote "):] for l in cp.stderr.splitlines() if l.startswith("cprof: wrote ")]
        assert wrote and all(rx.match(os.path.realpath(w)) or rx.match(w) for w in wrote), (shown, wrote)
    # cprof-ctl's expansion of each escape.
    out = ctl("expand", "/d/%e.%p.%n.%t.%h.%%", "/usr/bin/a b+c", 42, 7, "cpu").stdout
    assert out == "/d/a_b+c.42.7.cpu.%s.%%" % host, out


@timeout(180)
def test_signal_names_agree():
    """Every signal name the library accepts is caught, by a process
    preloaded with CPROF_SIGNAL=NAME, as the number cprof-ctl gives for it
    (the number `cprof dump` sends); the names it refuses get no number."""
    def caught(value):
        p = start(["/bin/sleep", "20"], env={"CPROF_SIGNAL": value, "CPROF_PROFILES": "heap"})
        try:
            def mask():
                with open("/proc/%d/status" % p.pid) as f:
                    m = re.search(r"^SigCgt:\s*([0-9a-f]+)", f.read(), re.M)
                return int(m.group(1), 16)
            # cprof's handlers are in place once SIGTERM's is (installed last).
            wait_for(lambda: mask() & (1 << (signal.SIGTERM - 1)), 10, "cprof's handlers")
            return mask()
        finally:
            p.kill_group()
    base = caught("none")
    for value in ("USR1", "SIGUSR2", "10", "RTMIN", "RTMIN+2", "RTMIN+30", "HUP", "WINCH", "URG",
                  "KILL", "PROF", "65", "usr1", "RTMAX"):
        cp = ctl("signal", value, check=False)
        lib = library_lines({"CPROF_SIGNAL": value})
        if lib:
            assert cp.returncode == 1 and cp.stdout == "", (value, cp.stdout)
            continue
        num = int(cp.stdout)
        if signal.getsignal(num) == signal.SIG_IGN:
            continue  # started ignored (nohup): the library leaves it so, and says why
        assert caught(value) == base | (1 << (num - 1)), (value, num)


# ---------------------------------------------------------------- dump --wait

def many_stacks(depth=20, seconds=120):
    """A process with a million heap stacks (1.2 GB and two CPU-seconds to
    build: the tests that use it run alone, @serial, not to disturb the
    timing tests)."""
    p = start([CPROF, "-q", "--profiles", "all", "--heap-rate", "1", "--unwind", "fp", "--",
               prog("many_stacks"), depth, seconds], env={"CPROF_LIB": LIB}, preload=False,
              name="many_stacks")
    wait_for(lambda: "ready" in p.out(), 120, "a million allocation stacks")
    return p


def set_files(pid, n):
    return sorted(f for f in profiles() if f.pid == pid and f.n == n)


def set_written(pid, n, kinds=("cpu", "heap")):
    """Set n holds every kind asked for (heappeak too only once something
    was sampled: a dump that comes first has none)."""
    return set(kinds) <= {f.kind for f in set_files(pid, n)}


def stretch_the_dump(p, seconds=1.5):
    """Once set 1 is being written (its cpu file, the first, is there; its
    heap file, a million stacks, is not yet), stop the process for
    `seconds`: the dump then lasts that much longer whatever the machine's
    speed, as it would on a busy machine."""
    wait_for(lambda: any(f.kind == "cpu" and f.n == 1 for f in profiles(pid=p.pid)), 60,
             "the cpu file", interval=0.005)
    os.kill(p.pid, signal.SIGSTOP)
    try:
        assert not any(f.kind == "heap" and f.n == 1 for f in profiles(pid=p.pid)), "the dump was too fast"
        time.sleep(seconds)
    finally:
        os.kill(p.pid, signal.SIGCONT)


@serial
@timeout(300)
def test_dump_wait_outlasts_a_long_dump():
    """A set whose heap profile (a million stacks) comes long after its
    cpu profile, the first file (stretched past a second by stopping the
    process meanwhile, so the test does not depend on the machine's
    speed): `dump --wait` returns only once every file of the set is in
    place, where a wait that stops after a second without a new file would
    have returned early, and prints exactly those files."""
    p = many_stacks()
    try:
        t0 = time.monotonic()
        req = subprocess.Popen([CPROF, "dump", "--timeout", "120", str(p.pid)],
                               env=dict(os.environ, CPROF_LIB=LIB), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        stretch_the_dump(p)
        out, err = req.communicate(timeout=150)
        took = time.monotonic() - t0
        assert req.returncode == 0, err
        cp = subprocess.CompletedProcess(req.args, 0, out, err)
        paths = cp.stdout.splitlines()
        assert sorted(os.path.basename(x).split(".")[-3] for x in paths) == sorted(SET), cp.stdout
        for x in paths:
            assert os.path.exists(x), x
        files = set_files(p.pid, 1)
        assert sorted(os.path.realpath(f.path) for f in files) == sorted(os.path.realpath(x) for x in paths)
        mtimes = {os.path.basename(x).split(".")[-3]: os.stat(x).st_mtime for x in paths}
        gap = mtimes["heap"] - mtimes["cpu"]
        assert gap > 1.0, "the heap profile came %.2fs after the cpu one: not a long dump" % gap
        assert took >= gap, (took, gap)
        assert p.poll() is None, p.describe()
    finally:
        p.kill_group()


@serial
@timeout(300)
def test_requester_gone_is_never_answered():
    """A `dump --wait` killed while the process writes its set gets no
    answer, and neither does the process that takes its pid (made to, as
    root, through ns_last_pid): it is a plain sleep, which the answer
    signal would kill."""
    p = many_stacks()
    try:
        req = subprocess.Popen([CPROF, "dump", "--wait", "--timeout", "120", str(p.pid)],
                               env=dict(os.environ, CPROF_LIB=LIB), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        # The dump has begun (so the request was picked up) when the cpu
        # file of set 1 appears; the process is stopped meanwhile.
        wait_for(lambda: any(f.kind == "cpu" and f.n == 1 for f in profiles(pid=p.pid)), 60,
                 "the cpu file", interval=0.005)
        os.kill(p.pid, signal.SIGSTOP)
        assert not any(f.kind == "heap" and f.n == 1 for f in profiles(pid=p.pid)), "dump too fast"
        req.kill()
        req.wait()
        dead = req.pid
        witness = None
        if os.geteuid() == 0 and os.path.exists("/proc/sys/kernel/ns_last_pid"):
            for _ in range(20):
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(dead - 1))
                w = subprocess.Popen(["/bin/sleep", "60"])
                if w.pid == dead:
                    witness = w
                    break
                w.kill()
                w.wait()
        os.kill(p.pid, signal.SIGCONT)
        wait_for(lambda: len(set_files(p.pid, 1)) == len(SET), 120, "the whole set")
        time.sleep(1)
        if witness is not None:
            assert witness.poll() is None, "the process that took the requester's pid was signalled"
            witness.kill()
            witness.wait()
        assert p.poll() is None, p.describe()
        # The process still answers the next request.
        cp = cprof(["dump", "--timeout", "120", p.pid], timeout=150)
        assert len(cp.stdout.splitlines()) == len(SET), cp.stdout
        if witness is None:
            raise Skip("could not give the requester's pid to another process (needs root)")
    finally:
        p.kill_group()


class SigInfo(ctypes.Structure):
    _fields_ = [("si_signo", ctypes.c_int), ("si_errno", ctypes.c_int), ("si_code", ctypes.c_int),
                ("pad", ctypes.c_int), ("si_pid", ctypes.c_int), ("si_uid", ctypes.c_uint),
                ("si_value", ctypes.c_uint64), ("rest", ctypes.c_byte * 96)]


def queue(pid, sig, value, claimed_pid=None):
    """rt_sigqueueinfo: SIGNAL with si_value VALUE, and si_pid what the
    sender claims (the kernel does not check it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    si = SigInfo(si_signo=sig, si_code=-1, si_pid=claimed_pid or os.getpid(), si_uid=os.getuid(),
                 si_value=value)
    if libc.syscall(129, pid, sig, ctypes.byref(si)) != 0:  # SYS_rt_sigqueueinfo
        raise OSError(ctypes.get_errno(), "rt_sigqueueinfo")


@timeout(120)
def test_plain_and_forged_requests():
    """kill -USR2, and a queued SIGUSR2 whose value is not a request, dump
    as before and signal nobody; a request naming another process (a
    forged si_pid, the token right) dumps too, but that process, which
    does not hold the token in its command line, receives nothing."""
    p = start([prog("alloc_loop"), 60, 1], env={"CPROF_PROFILES": "heap,cpu"})
    victim = subprocess.Popen(["/bin/sleep", "60"])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.kill(p.pid, signal.SIGUSR2)
        wait_for(lambda: set_written(p.pid, 1), 20, "set 1")
        queue(p.pid, signal.SIGUSR2, 12345)
        wait_for(lambda: set_written(p.pid, 2), 20, "set 2")
        sig = signal.SIGRTMIN + 1
        word = (0xC9D5 << 48) | (sig << 40) | 0x1234abcd
        queue(p.pid, signal.SIGUSR2, word, claimed_pid=victim.pid)
        wait_for(lambda: set_written(p.pid, 3), 20, "set 3")
        time.sleep(0.5)
        assert victim.poll() is None, "the forged requester's pid was signalled"
        assert p.poll() is None, p.describe()
        assert "cprof: wrote" in p.err()
    finally:
        victim.kill()
        p.kill_group()


def test_dump_wait_answer_names_the_set():
    """Two `dump --wait` in a row print sets 1 and 2; a file name without
    %n (the newest takes the name) is printed as the name itself."""
    p = start([CPROF, "-q", "--profiles", "heap", "-o", "same.%t.pb.gz", "--", prog("alloc_loop"), 60, 1],
              env={"CPROF_LIB": LIB}, preload=False, name="cprof")
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        for _ in (1, 2):
            cp = cprof(["dump", "--wait", p.pid])
            assert cp.stdout.splitlines() == [os.path.join(os.path.realpath(tmpdir()), "same.%s.pb.gz" % k)
                                              for k in ("heap", "heappeak")], cp.stdout
        assert os.path.exists("same.heap-1.pb.gz")
    finally:
        p.kill_group()


def test_dump_wait_finds_files_written_elsewhere():
    """When the pattern's directory is gone, the library writes the set in
    the directory the program started in, and `dump --wait` prints them
    there."""
    os.makedirs("out")
    p = start([CPROF, "-q", "--profiles", "heap,cpu", "-o", "out/w.%n.%t.pb.gz", "--", prog("alloc_loop"), 60, 1],
              env={"CPROF_LIB": LIB}, preload=False, name="cprof")
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.rmdir("out")
        cp = cprof(["dump", "--wait", p.pid])
        here = os.path.realpath(tmpdir())
        assert cp.stdout.splitlines() == [os.path.join(here, "w.1.%s.pb.gz" % k) for k in ("cpu", "heap", "heappeak")], \
            cp.stdout
    finally:
        p.kill_group()
