"""Configuration and output files (issue 2): validation, naming, atomic
writes, collisions, unwritable directories, the trigger signal."""

import glob
import os
import re
import signal
import stat
import time

import pprofdec
from checks import kinds_of, load_checked, one, run_prog
from harness import *


def cprof_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("cprof: ")]


def test_bad_values_one_line_each_and_defaults():
    """Every invalid CPROF_* value gets exactly one line naming the variable
    and the accepted form; the program runs on with the default; a
    misspelt variable is reported too."""
    env = {"CPROF_HEAP_RATE": "lots", "CPROF_CPU_HZ": "-3", "CPROF_PROFILES": "heap,cpuu",
           "CPROF_SIGNAL": "SIGNOPE", "CPROF_UNWIND": "magic", "CPROF_HEAPRATE": "1"}
    cp, truth = run_prog("heap_truth", [1, 1], env=env)
    lines = cprof_lines(cp.stderr)
    for var in ("CPROF_HEAP_RATE=lots", "CPROF_CPU_HZ=-3", "CPROF_PROFILES=heap,cpuu",
                "CPROF_SIGNAL=SIGNOPE", "CPROF_UNWIND=magic"):
        hits = [l for l in lines if l.startswith("cprof: " + var + ":")]
        assert len(hits) == 1, (var, lines)
        assert "expected" in hits[0], hits
    assert sum("unknown variable CPROF_HEAPRATE" in l for l in lines) == 1, lines
    assert truth["site_keep"]["alloc_bytes"] > 0
    p = load_checked(one(kind="heap"))
    assert p.period == 524288, p.period  # default kept
    assert "cpu" in kinds_of()            # default profile list kept


def test_output_pattern_expansion():
    """%e %p %n %t %h expand; an absolute pattern is used as is."""
    d = os.path.join(tmpdir(), "out")
    os.makedirs(d)
    cp, _ = run_prog("heap_truth", [1, 1], env={"CPROF_OUTPUT": d + "/%h-%e-%p-%n-%t.pb.gz",
                                                 "CPROF_PROFILES": "heap,cpu"})
    host = os.uname().nodename
    files = sorted(os.listdir(d))
    assert len(files) == 3, files
    for f, kind in zip(files, ("cpu", "heap", "heappeak")):
        assert re.fullmatch(r"%s-heap_truth-\d+-1-%s\.pb\.gz" % (re.escape(host), kind), f), files
    for f in files:
        load_checked(os.path.join(d, f), pprof_too=False)


def test_relative_pattern_uses_start_directory():
    """A daemon that chdirs after start still writes where it started."""
    elsewhere = os.path.join(tmpdir(), "elsewhere")
    os.makedirs(elsewhere)
    run([prog("chdir_daemon"), elsewhere], env={"CPROF_OUTPUT": "out.%p.%t.pb.gz", "CPROF_PROFILES": "heap"})
    assert glob.glob(os.path.join(tmpdir(), "out.*.heap.pb.gz")), os.listdir(tmpdir())
    assert not os.listdir(elsewhere), os.listdir(elsewhere)
    p = pprofdec.load(glob.glob(os.path.join(tmpdir(), "out.*.heap.pb.gz"))[0])
    assert p.flat("inuse_space").get("daemon_site", 0) > 0


def test_names_never_collide():
    """A pattern without %p or %n, run three times: the newest profile
    always has the name the pattern gives (so re-running a recipe reads the
    run just made), the earlier ones are kept as -1 (oldest) and -2, each
    move is announced, and no temporary file is left behind."""
    errs = []
    for i in range(3):
        cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_OUTPUT": "fixed.%t.pb.gz", "CPROF_PROFILES": "heap"})
        errs.append(cp.stderr)
        time.sleep(0.01)
    files = sorted(f for f in os.listdir(tmpdir()) if f.startswith("fixed.heap") and "peak" not in f)
    assert files == ["fixed.heap-1.pb.gz", "fixed.heap-2.pb.gz", "fixed.heap.pb.gz"], files
    assert not [f for f in os.listdir(tmpdir()) if f.startswith(".cprof-tmp")], os.listdir(tmpdir())
    times = [load_checked(f, pprof_too=False).time_ns for f in files]
    assert times[0] < times[1] < times[2], (files, times)
    assert "is now" not in errs[0], errs[0]
    assert re.search(r"wrote \S*/fixed\.heap\.pb\.gz \(the earlier file of that name is now \S*/fixed\.heap-2\.pb\.gz\)",
                     errs[2]), errs[2]


def test_concurrent_writers_lose_nothing():
    """Sixteen processes exiting at once with one fixed name: sixteen files,
    every one a complete profile, no temporary file left."""
    procs = [start([prog("heap_truth"), "1", "0"], env={"CPROF_OUTPUT": "same.%t.pb.gz", "CPROF_PROFILES": "heap"})
             for _ in range(16)]
    for p in procs:
        p.wait(60)
    files = sorted(f for f in os.listdir(tmpdir()) if f.startswith("same.heap") and "peak" not in f)
    assert len(files) == 16 and "same.heap.pb.gz" in files, files
    assert not [f for f in os.listdir(tmpdir()) if f.startswith(".cprof-tmp")], os.listdir(tmpdir())
    for f in files:
        load_checked(f, pprof_too=False)


def test_missing_output_directory_said_at_start_and_nothing_lost():
    """CPROF_OUTPUT in a directory that does not exist: one line at start
    (before the program has done anything) naming the directory and where
    profiles will go instead; the exit profiles are written there, each
    announced; the exit status is the program's."""
    d = os.path.join(tmpdir(), "no", "such", "dir")
    p = start([prog("alloc_loop"), "1", "1"], env={"CPROF_OUTPUT": d + "/cprof.%e.%p.%n.%t.pb.gz"})
    wait_for(lambda: "ready" in p.out(), 10, "start")
    lines = cprof_lines(p.err())
    assert lines and lines[0] == ("cprof: cannot write profiles in %s: No such file or directory; until it "
                                  "can be, they will be written in %s" % (d, tmpdir())), lines
    assert p.wait(30) == 0
    lines = cprof_lines(p.err())
    assert sum("cannot write profiles" in l for l in lines) == 1, lines
    written = [l[len("cprof: wrote "):] for l in lines if l.startswith("cprof: wrote ")]
    assert written and all(os.path.dirname(w) == tmpdir() for w in written), lines
    assert set(kinds_of()) >= {"heap", "cpu"}, kinds_of()
    for w in written:
        load_checked(w, pprof_too=False)
    assert not os.path.exists(d)


def test_unwritable_directory_then_recovery():
    """An unwritable directory: one clear line, no crash, exit status
    unaffected; once the directory becomes writable the next dump works."""
    if os.geteuid() == 0:
        # root ignores permissions; a vanished directory is the same case
        d = os.path.join(tmpdir(), "gone")
    else:
        d = os.path.join(tmpdir(), "ro")
        os.makedirs(d)
        os.chmod(d, 0o500)
    p = start([prog("alloc_loop"), "60", "1"], env={"CPROF_OUTPUT": d + "/cprof.%p.%n.%t.pb.gz"})
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.kill(p.pid, signal.SIGUSR2)
        wait_for(lambda: "cannot write profiles" in p.err(), 10, "the failure line")
        os.kill(p.pid, signal.SIGUSR2)
        time.sleep(0.5)
        assert p.err().count("cannot write profiles") == 1, p.err()
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700)
        os.kill(p.pid, signal.SIGUSR2)
        wait_for(lambda: glob.glob(d + "/*.heap.pb.gz"), 10, "a profile after recovery")
        p.stop(signal.SIGTERM)
        assert p.returncode == 0, p.describe()
    finally:
        p.kill_group()
    line = [l for l in p.err().splitlines() if "cannot write" in l][0]
    assert d in line and "they will be written in %s" % tmpdir() in line, line
    # The dumps made meanwhile went to the directory the program started in.
    assert glob.glob(os.path.join(tmpdir(), "cprof.*.1.heap.pb.gz")), os.listdir(tmpdir())
    for f in glob.glob(d + "/*.pb.gz"):
        load_checked(f, pprof_too=False)


def test_ignored_signal_left_alone():
    """A program started with SIGUSR2 ignored keeps it ignored (a SIGUSR2
    does nothing), cprof says so once, and still writes at exit."""
    cmd = ["bash", "-c", "trap '' USR2; exec %s 2 1" % prog("alloc_loop")]
    p = start(cmd)
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.kill(p.pid, signal.SIGUSR2)
        time.sleep(0.5)
        assert p.poll() is None
        assert not profiles(), profiles()
        p.wait(30)
    finally:
        p.kill_group()
    assert p.returncode == 0
    assert p.err().count("signal 12 (SIGUSR2) is ignored in this program") == 1, p.err()
    assert [f.n for f in profiles(kind="heap")] == [1]


def test_signal_none_and_alternative():
    """CPROF_SIGNAL=USR1 dumps on SIGUSR1; CPROF_SIGNAL=none installs nothing
    (SIGUSR2 then has its default action: the program dies of it)."""
    p = start([prog("alloc_loop"), "30", "1"], env={"CPROF_SIGNAL": "USR1"})
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.kill(p.pid, signal.SIGUSR1)
        wait_for(lambda: profiles(kind="heap"), 10, "dump on SIGUSR1")
        p.stop()
    finally:
        p.kill_group()
    for f in profiles():
        os.unlink(f.path)
    p = start([prog("alloc_loop"), "30", "1"], env={"CPROF_SIGNAL": "none"})
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        os.kill(p.pid, signal.SIGUSR2)
        p.wait(10)
    finally:
        p.kill_group()
    assert p.returncode == -signal.SIGUSR2, p.returncode


def test_quiet():
    """CPROF_QUIET=1 silences every cprof line, the per-file lines and the
    warnings alike (here an invalid value, whose default still applies)."""
    cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_QUIET": "1", "CPROF_HEAP_RATE": "bad"})
    assert cprof_lines(cp.stderr) == [], cp.stderr
    heap = load_checked(one(kind="heap"), pprof_too=False)
    assert heap.msg.period == 524288, heap.msg.period
    cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_HEAP_RATE": "bad"})
    assert any("CPROF_HEAP_RATE=bad" in l for l in cprof_lines(cp.stderr)), cp.stderr


def test_quiet_output_identical_to_bare():
    """With CPROF_QUIET=1 a profiled program's stdout and stderr are byte for
    byte what it writes without cprof (programs and test suites that check
    their children's stderr rely on it)."""
    argv = ["bash", "-c", "echo out; echo err >&2; %s 1 1 >/dev/null" % prog("heap_truth")]
    bare = run(argv, preload=False)
    cp = run(argv, env={"CPROF_QUIET": "1"})
    assert (cp.stdout, cp.stderr) == (bare.stdout, bare.stderr), (bare, cp)
    assert profiles(kind="heap")
