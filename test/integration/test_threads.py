"""The threads profile (Go's goroutine) never wakes a parked thread.

test/progs/parked parks one thread in each common blocking call (sleep,
nanosleep, epoll_wait, poll, select, read, pthread_cond_wait,
sigtimedwait, pause, and read through syscall(), which cprof does not
wrap), each timing its own call, and spins one more in busy_loop.  While
they wait, the tests fetch /debug/pprof/goroutine in every form and send
dump signals; every call must return exactly when it would have without
cprof, with its own result, and the profile must show each thread in its
blocking function with its callers below.
"""

import os
import re
import signal
import time

import pprofdec
from harness import *
from checks import kinds_of
from test_http import fetch, get_profile, serve

# What each parked call returns when left alone: (ret, errno or None).
EXPECTED = {
    "sleep": (0, None),
    "nanosleep": (0, None),
    "epoll_wait": (0, None),
    "poll": (0, None),
    "select": (0, None),
    "read": (1, None),
    "cond_wait": (0, None),
    "sigtimedwait": (-1, 11),   # EAGAIN: the timeout
    "pause": (-1, 4),           # EINTR: the program's own SIGUSR1 at the deadline
    "raw_syscall": (1, None),
}
# The blocking function the profile names for each (glibc may name it by
# an alias: __poll, __nanosleep...).
LEAF = {"cond_wait": "pthread_cond_wait", "raw_syscall": "syscall"}
EARLY_SLACK = 0.02   # timers never fire early; clock reads differ by a little
LATE_SLACK = 3.0     # a loaded two-core machine may be slow to wake a thread


def leaf_ok(call, name):
    want = LEAF.get(call, call)
    bare = name.split("@")[0].lstrip("_")
    return bare in (want, "libc_" + want)


def thread_blocks(text):
    """{thread name: (header line, [frame names])} of a goroutine?debug=2 dump."""
    out = {}
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        m = re.match(r"thread \d+ \[([^,\]]+)", lines[0]) if lines else None
        if m:
            out[m.group(1)] = (lines[0], re.findall(r"^(\S+)\(\.\.\.\)$", block, re.M))
    return out


def check_parked_text(text, calls=EXPECTED):
    blocks = thread_blocks(text)
    for call in calls:
        name = ("p-" + call)[:15]
        assert name in blocks, "no thread %s in:\n%s" % (name, text[:4000])
        header, frames = blocks[name]
        assert frames and leaf_ok(call, frames[0]), (call, header, frames)
        assert "park_in_" + call in frames[1:], (call, header, frames)
        if call == "raw_syscall":
            # Not wrapped: the kernel's view only, marked partial.
            assert "partial stack" in header and frames[-1] == "cprof_partial_stack", (header, frames)
        else:
            assert "run_job" in frames and "partial" not in header, (call, header, frames)
    return blocks


def check_parked_profile(prof, calls=EXPECTED):
    by_thread = {s.labels.get("thread"): s.stack for s in prof.samples()}
    for call in calls:
        stack = by_thread.get(("p-" + call)[:15])
        assert stack and leaf_ok(call, stack[0]) and "park_in_" + call in stack, (call, by_thread)


def results(p):
    out = {}
    for m in re.finditer(r"^call (\S+) ret (-?\d+) errno (\d+) took ([\d.]+) want ([\d.]+)$",
                         p.out(), re.M):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)), float(m.group(4)), float(m.group(5)))
    return out


def check_on_time(p):
    got = results(p)
    assert set(got) == set(EXPECTED), p.describe()
    bad = []
    for call, (ret, err, took, want) in sorted(got.items()):
        wret, werr = EXPECTED[call]
        if ret != wret or (werr is not None and err != werr):
            bad.append("%s returned %d errno %d, expected %d errno %s" % (call, ret, err, wret, werr))
        if took < want - EARLY_SLACK:
            bad.append("%s returned after %.3f s, %.3f s early" % (call, took, want - took))
        if took > want + LATE_SLACK:
            bad.append("%s returned after %.3f s, wanted %.3f s" % (call, took, want))
    assert not bad, "\n".join(bad) + "\n" + p.out()


@timeout(90)
def test_parked_threads_stay_parked():
    """Fetching the goroutine profile (debug=0, 1, 2) over and over and
    sending dump signals (the threads profile is in the default set) never
    ends a blocking call early: every call returns on time with its own
    result; the profile names each blocking function with the parked
    thread's callers below it, and the call cprof does not wrap (read
    through syscall()) with the stack /proc allows, marked partial."""
    seconds = 8
    p, base = serve("parked", args=[seconds], ready="ready")
    t_end = time.monotonic() + seconds - 2.5
    rounds = 0
    text = None
    while time.monotonic() < t_end:
        prof = get_profile(base + "/debug/pprof/goroutine", "goroutine")
        r1 = fetch(base + "/debug/pprof/goroutine?debug=1")
        r2 = fetch(base + "/debug/pprof/goroutine?debug=2")
        assert r1.status == 200 and r2.status == 200, (r1, r2)
        if text is None:
            text = r2.text
            check_parked_text(text)
            check_parked_profile(prof)
            assert "busy_loop" in thread_blocks(text)["p-busy"][1], text
            assert "park_in_sleep" in r1.text, r1.text[:3000]
        os.kill(p.pid, signal.SIGUSR2)
        rounds += 1
        time.sleep(0.2)
    assert rounds >= 3, rounds
    rc = p.wait(seconds + 30)
    assert rc == 0 and "done" in p.out(), p.describe()
    check_on_time(p)
    # The dumps the signals asked for include the threads profile (a
    # default profile now), taken without waking anyone either.
    dumps = kinds_of(pid=p.pid).get("threads", [])
    assert len(dumps) >= 2, sorted(kinds_of(pid=p.pid))
    check_parked_profile(pprofdec.validate(pprofdec.load(dumps[0].path)),
                         [c for c in EXPECTED if c != "raw_syscall"])


@timeout(60)
def test_running_thread_still_has_its_stack():
    """A thread that is running (not in any system call) is still asked for
    its stack by signal: it appears in busy_loop under run_busy, in the
    text dump and in the protobuf, while the parked ones stay parked."""
    seconds = 5
    p, base = serve("parked", args=[seconds], ready="ready")
    prof = get_profile(base + "/debug/pprof/goroutine", "goroutine")
    busy = [s.stack for s in prof.samples() if s.labels.get("thread") == "p-busy"]
    assert busy and "busy_loop" in busy[0] and "run_busy" in busy[0], busy
    text = fetch(base + "/debug/pprof/goroutine?debug=2").text
    header, frames = thread_blocks(text)["p-busy"]
    assert "busy_loop" in frames and "partial" not in header, (header, frames)
    rc = p.wait(seconds + 30)
    assert rc == 0, p.describe()
    check_on_time(p)


@timeout(60)
def test_parked_threads_with_frame_pointer_unwinder():
    """CPROF_UNWIND=fp: parked threads' copied stacks are walked by frame
    pointers; the blocking function and its callers are still there, and
    nothing is woken."""
    seconds = 5
    p, base = serve("parked", args=[seconds], env={"CPROF_UNWIND": "fp"}, ready="ready")
    text = fetch(base + "/debug/pprof/goroutine?debug=2").text
    check_parked_text(text, [c for c in EXPECTED if c != "raw_syscall"])
    rc = p.wait(seconds + 30)
    assert rc == 0, p.describe()
    check_on_time(p)


@timeout(60)
def test_goroutine_fetched_in_a_loop_causes_no_eintr():
    """Threads looping on short nanosleep, poll, epoll_wait, select and
    pipe reads (test/progs/eintr) while the goroutine profile is fetched as
    fast as the server answers: not one call fails with EINTR (before: one
    call in seven did, thousands in four seconds)."""
    p, base = serve("eintr", args=[4], env={"CPROF_PROFILES": "none"}, ready=None)
    fetches = 0
    while p.poll() is None:
        try:
            r = fetch(base + "/debug/pprof/goroutine?debug=%d" % (fetches % 3), timeout=10)
        except OSError:
            break  # the program ended mid-request
        if r.status == 503 and b"has stopped" in r.body:
            break  # the program is exiting: profiling ended before the server
        assert r.status == 200, r
        fetches += 1
    rc = p.wait(30)
    m = re.search(r"eintr (\d+) calls (\d+)", p.out())
    assert m and int(m.group(2)) > 1000, p.describe()
    assert m.group(1) == "0", "%s calls failed with EINTR in %s while the goroutine profile was " \
        "fetched %d times" % (m.group(1), m.group(2), fetches)
    assert rc == 0 and fetches >= 20, (fetches, p.describe())
