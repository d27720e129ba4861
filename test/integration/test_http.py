"""The live /debug/pprof endpoint (CPROF_HTTP): go tool pprof against a
running program, deltas and -base, the legacy text forms, remote
symbolization, the threads dump, refusals, hostile clients, fork and exit.

Every program here is started with CPROF_HTTP=127.0.0.1:0 (port 0: the
kernel picks a free one) and the test learns the port from the
"cprof: serving /debug/pprof on http://HOST:PORT" line on its stderr.
"""

import base64
import gzip
import os
import re
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pprofdec
from harness import *

SERVING_RE = re.compile(r"cprof: serving /debug/pprof on http://(\S+):(\d+)")
DEMO = "http_server_demo"


# ---------------------------------------------------------------- helpers

def serve(name=DEMO, args=(), env=None, path=None, ready="ready"):
    """Start a test program with the HTTP endpoint on a free loopback port;
    wait for its serving line (and for `ready` on stdout).  Returns (proc,
    base URL "http://127.0.0.1:PORT")."""
    e = {"CPROF_HTTP": "127.0.0.1:0"}
    e.update(env or {})
    p = start([path or prog(name)] + [str(a) for a in args], env=e)

    def up():
        if p.poll() is not None:
            raise AssertionError("program exited before serving:\n" + p.describe())
        m = SERVING_RE.search(p.err())
        return m if m and (not ready or ready in p.out()) else None
    m = wait_for(up, 15, "the cprof: serving line")
    return p, "http://127.0.0.1:%s" % m.group(2)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "Resp(%d, %r, %r)" % (self.status, dict(self.headers), self.body[:300])


def fetch(url, method="GET", data=None, headers=None, timeout=30):
    """One HTTP request; returns Resp(status, headers, body) for any status."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def get_profile(url, name=None, timeout=30):
    """GET a profile, check the response shape Go gives it, and return it
    decoded and validated (pprofdec)."""
    r = fetch(url, timeout=timeout)
    assert r.status == 200, r
    assert r.headers["Content-Type"] == "application/octet-stream", r.headers
    if name:
        assert r.headers["Content-Disposition"] == 'attachment; filename="%s"' % name, r.headers
    assert r.body[:2] == b"\x1f\x8b", "not gzipped: %r" % r.body[:20]
    p = pprofdec.decode_bytes(r.body, url)
    pprofdec.validate(p)
    return p


def save(url, path, timeout=30):
    r = fetch(url, timeout=timeout)
    assert r.status == 200, r
    with open(path, "wb") as f:
        f.write(r.body)
    return path


def ticks(p):
    """The demo's progress counter (its own work, printed every 100 ms)."""
    t = re.findall(r"tick (\d+)", p.out())
    return int(t[-1]) if t else 0


def finish(p):
    """SIGTERM the demo; it must exit 0 after doing its work."""
    rc = p.stop(signal.SIGTERM)
    assert rc == 0 and "done" in p.out(), p.describe()


def raw_exchange(port, data, timeout=10, shutdown=True):
    """Send raw bytes, return everything the server answers until it closes
    (or the timeout; b"" when the connection was reset)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:  # reset, or closed before we finished sending
        pass
    finally:
        s.close()
    return out


def port_of(url):
    return int(url.rsplit(":", 1)[1])


# ---------------------------------------------------------------- profiles

@timeout(60)
def test_profiles_over_http_are_valid():
    """heap, allocs, mutex, block, threadcreate as Go serves them: gzipped
    protobuf, application/octet-stream, Content-Disposition attachment;
    each decodes, validates and holds the demo's sites; ?gc=1 is ignored."""
    p, base = serve()
    time.sleep(1.5)
    heap = get_profile(base + "/debug/pprof/heap?gc=1", "heap")
    assert heap.sample_types == [("alloc_objects", "count"), ("alloc_space", "bytes"),
                                 ("inuse_objects", "count"), ("inuse_space", "bytes")]
    assert not heap.default_sample_type, heap.default_sample_type
    assert heap.flat("inuse_space").get("leak_site", 0) > 0, heap.summary()
    allocs = get_profile(base + "/debug/pprof/allocs", "allocs")
    assert allocs.default_sample_type == "alloc_space", allocs.default_sample_type
    assert allocs.flat("alloc_space").get("leak_site", 0) > 0, allocs.summary()
    mutex = get_profile(base + "/debug/pprof/mutex", "mutex")
    assert mutex.sample_types == [("contentions", "count"), ("delay", "nanoseconds")]
    assert mutex.flat("delay").get("hold_lock", 0) > 0, mutex.summary()
    block = get_profile(base + "/debug/pprof/block", "block")
    assert block.flat("delay").get("wait_lock", 0) > 0, block.summary()
    tc = get_profile(base + "/debug/pprof/threadcreate", "threadcreate")
    assert tc.sample_types == [("threadcreate", "count")]
    assert tc.cum("threadcreate").get("spawn_site", 0) >= 2, tc.summary()
    t0 = ticks(p)
    time.sleep(0.5)
    assert ticks(p) > t0, "the program stopped doing its own work:\n" + p.describe()
    finish(p)


@timeout(90)
def test_go_tool_pprof_fetches_every_endpoint():
    """`go tool pprof URL` for every profile, saved with -proto -output and
    validated; `go tool pprof -raw -seconds=2 .../profile` collects a CPU
    profile of the live program naming its busy function."""
    need("go")
    p, base = serve()
    time.sleep(1)
    for name in ("heap", "allocs", "mutex", "block", "threadcreate"):
        out = os.path.join(tmpdir(), "fetched.%s.pb.gz" % name)
        pprof(["-proto", "-output", out, base + "/debug/pprof/" + name])
        prof = pprofdec.load(out)
        pprofdec.validate(prof)
        assert prof.num_samples > 0, (name, prof.summary())
    raw = pprof(["-raw", "-seconds=2", base + "/debug/pprof/profile"], timeout=60)
    assert "burn_cpu" in raw, raw[:3000]
    assert re.search(r"PeriodType: cpu nanoseconds", raw), raw[:500]
    finish(p)


@timeout(60)
def test_cpu_profile_window():
    """/profile?seconds=N works although CPU profiling was off at start; a
    second concurrent request gets Go's 500; bad seconds get 400; the
    timers go away afterwards (no cpu file at exit)."""
    p, base = serve(env={"CPROF_PROFILES": "heap,mutex,block"})
    result = {}

    def long_request():
        result["r"] = fetch(base + "/debug/pprof/profile?seconds=3")
    th = threading.Thread(target=long_request)
    t0 = time.monotonic()
    th.start()
    time.sleep(0.7)
    busy = fetch(base + "/debug/pprof/profile?seconds=1")
    assert busy.status == 500, busy
    assert "Could not enable CPU profiling: cpu profiling already in use" in busy.text, busy
    assert busy.headers["X-Go-Pprof"] == "1", busy.headers
    # Other endpoints answer while the window is open.
    quick = fetch(base + "/debug/pprof/cmdline", timeout=5)
    assert quick.status == 200 and time.monotonic() - t0 < 2.5, (quick, time.monotonic() - t0)
    for bad in ("86401", "99999999999999999999"):
        r = fetch(base + "/debug/pprof/profile?seconds=" + bad)
        assert r.status == 400 and "must be a positive integer" in r.text, (bad, r)
    th.join(30)
    r = result["r"]
    assert r.status == 200, r
    assert r.headers["Content-Disposition"] == 'attachment; filename="profile"', r.headers
    prof = pprofdec.decode_bytes(r.body, "profile")
    pprofdec.validate(prof)
    assert prof.sample_types == [("samples", "count"), ("cpu", "nanoseconds")]
    eq_within(prof.duration_ns, 3e9, rel=0.2, what="window length")
    assert prof.cum("cpu").get("burn_cpu", 0) > 0.5 * prof.total("cpu"), prof.summary()
    # A second window works once the first is over.
    again = get_profile(base + "/debug/pprof/profile?seconds=1", "profile")
    assert again.num_samples > 0
    finish(p)
    assert not profiles(kind="cpu"), profiles()
    assert profiles(kind="heap"), "exit dump missing"


@timeout(90)
def test_profile_seconds_zero_or_missing_is_go_default():
    """profile?seconds=0, seconds=abc, seconds=-1, seconds= and a bare
    seconds open Go's default 30 s window (scrapers send seconds=0 to mean
    "yours"), rather than a 400: while each is open, another /profile is
    busy."""
    for q in ("seconds=0", "seconds=abc", "seconds=-1", "seconds=", "seconds"):
        p, base = serve()
        s = socket.create_connection(("127.0.0.1", port_of(base)), timeout=10)
        s.sendall(b"GET /debug/pprof/profile?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q.encode())
        s.settimeout(1.0)
        try:
            early = s.recv(200)
        except socket.timeout:
            early = b""
        assert early == b"", (q, early)
        busy = fetch(base + "/debug/pprof/profile?seconds=1")
        assert busy.status == 500 and "already in use" in busy.text, (q, busy)
        s.close()
        p.kill_group()
        p.wait()


def _fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@timeout(90)
def test_clients_that_leave_end_their_windows():
    """A client that disconnects while its window is open ends it at once,
    as Go's request context does: after an abandoned profile?seconds=600
    the next /profile is served (not 500 "already in use" for 10 minutes);
    64 abandoned heap?seconds=86400 requests (every connection slot, from
    four loopback addresses) free their slots, snapshots and sockets, and
    the server answers at once."""
    p, base = serve()
    port = port_of(base)
    time.sleep(0.5)
    fds0 = _fd_count(p.pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /debug/pprof/profile?seconds=600 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    busy = fetch(base + "/debug/pprof/profile?seconds=1")
    assert busy.status == 500 and "already in use" in busy.text, busy
    s.close()
    time.sleep(0.5)
    again = fetch(base + "/debug/pprof/profile?seconds=1", timeout=10)
    assert again.status == 200, again

    socks = []
    for i in range(64):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.bind(("127.0.0.%d" % (2 + i // 16), 0))
        c.settimeout(10)
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /debug/pprof/heap?seconds=86400 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(c)
    wait_for(lambda: _fd_count(p.pid) >= fds0 + 64, 10, "the server to hold the 64 requests")
    for c in socks:
        c.close()
    wait_for(lambda: _fd_count(p.pid) <= fds0 + 1, 5, "the 64 sockets of clients that left to be closed")
    t0 = time.monotonic()
    r = fetch(base + "/debug/pprof/heap", timeout=10)
    assert r.status == 200 and time.monotonic() - t0 < 3, (r, time.monotonic() - t0)
    finish(p)


@timeout(60)
def test_cpu_window_and_file_profile_independent():
    """With the cpu profile on at start, an HTTP window does not take
    samples away from the file written at exit (separate consumers)."""
    p, base = serve(env={"CPROF_PROFILES": "cpu"})
    time.sleep(0.5)
    win = get_profile(base + "/debug/pprof/profile?seconds=2", "profile")
    finish(p)
    f = pprofdec.load(profiles(kind="cpu")[-1].path)
    pprofdec.validate(f)
    assert f.total("samples") > win.total("samples") > 0, (f.total("samples"), win.total("samples"))


@timeout(90)
def test_heap_base_and_delta_profiles():
    """`go tool pprof -top -base old new` between two heap fetches shows the
    leak growing; heap?seconds=2 is Go's delta profile (heap-delta,
    duration 2 s, the leak's allocations in it); the other cumulative
    profiles and goroutine take ?seconds too."""
    need("go")
    p, base = serve()
    time.sleep(1)
    old = save(base + "/debug/pprof/heap", os.path.join(tmpdir(), "old.pb.gz"))
    time.sleep(2)
    new = save(base + "/debug/pprof/heap", os.path.join(tmpdir(), "new.pb.gz"))
    top = pprof_top(new, ["-base", old])
    assert top.flat("leak_site") > 0, top.rows
    r = fetch(base + "/debug/pprof/heap?seconds=2")
    assert r.status == 200 and r.headers["Content-Disposition"] == 'attachment; filename="heap-delta"', r
    delta = pprofdec.decode_bytes(r.body, "heap-delta")
    pprofdec.validate(delta)
    # Samples written by cprof's own encoder, negative values included
    # (the in-use change of a delta), exactly as protobuf writes them.
    pprofdec.check_canonical_samples(r.body, "heap-delta")
    eq_within(delta.duration_ns, 2e9, rel=0.25, what="delta duration")
    # 64 KiB every ~10 ms for 2 s: ~12 MiB, a few dozen samples at 512 KiB.
    grown = delta.flat("alloc_space").get("leak_site", 0)
    in_range(grown, 2 << 20, 40 << 20, what="leak_site alloc_space over 2 s")
    assert delta.flat("inuse_space").get("leak_site", 0) > 0, delta.summary()
    # The base really was subtracted: the leak has run for some 5 s by
    # now, so 2 s of it are well under its whole (a base matched to the
    # wrong buckets, or none, would give the whole).
    since_start = get_profile(base + "/debug/pprof/heap", "heap").flat("alloc_space").get("leak_site", 0)
    assert grown < 0.75 * since_start, (grown, since_start)
    allocs = get_profile(base + "/debug/pprof/allocs?seconds=1", "allocs-delta")
    assert allocs.default_sample_type == "alloc_space"
    tc = get_profile(base + "/debug/pprof/threadcreate?seconds=2", "threadcreate-delta")
    in_range(tc.cum("threadcreate").get("spawn_site", 0), 5, 15, what="threads created in 2 s")
    mutex = get_profile(base + "/debug/pprof/mutex?seconds=1", "mutex-delta")
    assert mutex.flat("delay").get("hold_lock", 0) > 0, mutex.summary()
    # goroutine delta: each thread that moved is +1 where it is and -1
    # where it was (one of each per tid); the total is the change in the
    # thread count (0, or +-1 for the short-lived thread spawned every
    # 200 ms).
    gd = get_profile(base + "/debug/pprof/goroutine?seconds=1", "goroutine-delta")
    per_tid = {}
    for smp in gd.samples():
        assert smp.values[0] in (1, -1), smp.values
        per_tid.setdefault(smp.labels["tid"], []).append(smp.values[0])
    assert all(sorted(v) in ([1], [-1], [-1, 1]) for v in per_tid.values()), per_tid
    assert gd.total("goroutine") in (-1, 0, 1), gd.total("goroutine")
    finish(p)


@timeout(60)
def test_godeltaprof_delta_paths():
    """delta_heap, delta_mutex and delta_block (Grafana's godeltaprof paths,
    which Alloy's pyroscope.scrape can scrape): each answer covers the time
    since the previous answer on that path - allocations and contention as
    deltas, memory in use as it is now - with Go's sample types; with
    ?seconds=N they are window deltas as heap?seconds=N."""
    p, base = serve()
    time.sleep(1)
    first = get_profile(base + "/debug/pprof/delta_heap", "delta_heap")
    assert first.sample_types == [("alloc_objects", "count"), ("alloc_space", "bytes"),
                                  ("inuse_objects", "count"), ("inuse_space", "bytes")]
    get_profile(base + "/debug/pprof/delta_mutex", "delta_mutex")
    get_profile(base + "/debug/pprof/delta_block", "delta_block")
    time.sleep(1.5)
    heap = get_profile(base + "/debug/pprof/delta_heap", "delta_heap")
    in_range(heap.duration_ns, 1.4e9, 4e9, what="time since the previous delta_heap")
    grown = heap.flat("alloc_space").get("leak_site", 0)
    # 64 KiB every ~10 ms: ~9 MiB in 1.5 s, sampled at 512 KiB.
    in_range(grown, 2 << 20, 40 << 20, what="leak_site allocations since the previous scrape")
    # In use is absolute: everything leaked so far, not just the last 1.5 s.
    inuse = heap.flat("inuse_space").get("leak_site", 0)
    assert inuse > grown, (inuse, grown)
    full = get_profile(base + "/debug/pprof/heap")
    assert full.flat("alloc_space").get("leak_site", 0) > grown, full.summary()
    mutex = get_profile(base + "/debug/pprof/delta_mutex", "delta_mutex")
    assert mutex.sample_types == [("contentions", "count"), ("delay", "nanoseconds")]
    d = mutex.flat("delay").get("hold_lock", 0)
    assert 0 <= d < get_profile(base + "/debug/pprof/mutex").flat("delay").get("hold_lock", 0), d
    block = get_profile(base + "/debug/pprof/delta_block", "delta_block")
    assert block.flat("delay").get("wait_lock", 0) > 0, block.summary()
    win = fetch(base + "/debug/pprof/delta_heap?seconds=1")
    assert win.status == 200, win
    finish(p)


@timeout(60)
def test_served_profiles_carry_no_arguments():
    """Profiles served over HTTP name the program in their command comment
    but carry none of its arguments (command lines hold secrets, and
    scrapers ship profiles to their backends; Go's carry none); the files
    written at exit keep the whole command line."""
    secret = "--password=hunter2-XYZZY"
    p, base = serve(args=["30", secret])
    time.sleep(0.5)
    for path in ("heap", "allocs", "mutex", "block", "threadcreate", "goroutine", "delta_heap",
                 "profile?seconds=1", "heap?seconds=1"):
        r = fetch(base + "/debug/pprof/" + path)
        assert r.status == 200, (path, r)
        raw = gzip.decompress(r.body)
        assert b"hunter2" not in raw, path
        assert b"command: http_server_demo" in raw, (path, raw[-400:])
    finish(p)
    f = profiles(kind="heap", pid=p.pid)[-1].path
    with open(f, "rb") as fh:
        assert b"hunter2-XYZZY" in gzip.decompress(fh.read()), "the file lost its command line"


# What continuous profilers fetch by default (docs/continuous-profiling.md):
# path -> the sample types they key the profile on.  Their CPU windows are
# seconds=14 (Alloy: 15 s interval) and seconds=10 (Parca: 10 s); the
# replay uses 2 s.
_CPU_TYPES = [("samples", "count"), ("cpu", "nanoseconds")]
_HEAP_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"),
               ("inuse_objects", "count"), ("inuse_space", "bytes")]
_LOCK_TYPES = [("contentions", "count"), ("delay", "nanoseconds")]
ALLOY_DEFAULT = {"/debug/pprof/profile?seconds=2": _CPU_TYPES, "/debug/pprof/allocs": _HEAP_TYPES,
                 "/debug/pprof/goroutine": [("goroutine", "count")], "/debug/pprof/mutex": _LOCK_TYPES,
                 "/debug/pprof/block": _LOCK_TYPES}
ALLOY_GODELTAPROF = {"/debug/pprof/delta_heap": _HEAP_TYPES, "/debug/pprof/delta_mutex": _LOCK_TYPES,
                     "/debug/pprof/delta_block": _LOCK_TYPES}
PARCA_DEFAULT = {"/debug/pprof/profile?seconds=2": _CPU_TYPES, "/debug/pprof/allocs": _HEAP_TYPES,
                 "/debug/pprof/goroutine": [("goroutine", "count")], "/debug/pprof/mutex": _LOCK_TYPES,
                 "/debug/pprof/block": _LOCK_TYPES}


@timeout(90)
def test_scrapers_default_paths_replayed():
    """Grafana Alloy's pyroscope.scrape (default and godeltaprof paths) and
    Parca's scrape defaults, replayed against a live program as the
    scrapers send them (all of one scraper's paths at once, twice): every
    answer is 200, application/octet-stream, gzipped, and decodes with the
    sample types the backend keys the profile on."""
    p, base = serve()
    time.sleep(1)
    for name, paths in (("alloy", dict(ALLOY_DEFAULT, **ALLOY_GODELTAPROF)), ("parca", PARCA_DEFAULT)):
        for round_ in range(2):
            got = {}

            def scrape(path):
                try:
                    got[path] = fetch(base + path, headers={"User-Agent": name}, timeout=20)
                except Exception as e:
                    got[path] = e
            threads = [threading.Thread(target=scrape, args=(path,)) for path in paths]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            for path, types in paths.items():
                r = got[path]
                assert isinstance(r, Resp) and r.status == 200, (name, path, r)
                assert r.headers["Content-Type"] == "application/octet-stream", (name, path, r.headers)
                prof = pprofdec.decode_bytes(r.body, path)
                pprofdec.validate(prof)
                assert prof.sample_types == types, (name, path, prof.sample_types)
            cpu = pprofdec.decode_bytes(got["/debug/pprof/profile?seconds=2"].body, "cpu")
            assert cpu.cum("cpu").get("burn_cpu", 0) > 0, cpu.summary()
    finish(p)


# ---------------------------------------------------------------- symbols

def _run_deleted_copy():
    """Start a copy of the demo from the tmp dir and delete the copy, so
    neither pprof nor anyone else can open the binary by its path."""
    d = os.path.join(tmpdir(), "gone")
    os.makedirs(d, exist_ok=True)
    copy = os.path.join(d, "demo-copy")
    shutil.copy(prog(DEMO), copy)
    p, base = serve(path=copy)
    os.unlink(copy)
    time.sleep(1)
    return p, base


@timeout(90)
def test_remote_symbolization_without_the_binary():
    """A program whose binary is gone: pprof, fetching the legacy text form
    (which carries addresses only), names its functions by asking
    /debug/pprof/symbol; the protocol itself answers as Go's: GET ->
    num_symbols, POST 0xADDR+0xADDR (or the same as the GET query) ->
    "0xADDR name" per known address;
    bodies over 64 KiB get 413."""
    need("go")
    p, base = _run_deleted_copy()
    text = pprof(["-top", base + "/debug/pprof/heap?debug=1"])
    assert "leak_site" in text and "main" in text, text

    r = fetch(base + "/debug/pprof/symbol")
    assert r.status == 200 and r.body == b"num_symbols: 1\n", r
    r = fetch(base + "/debug/pprof/heap?debug=1")
    want = dict((int(a, 16), n) for a, n in re.findall(r"^#\t0x([0-9a-f]+)\t(leak_site|main)\+", r.text, re.M))
    assert set(want.values()) == {"leak_site", "main"}, r.text[:2000]
    body = "+".join("0x%x" % a for a in want) + "+0x10+junk"
    r = fetch(base + "/debug/pprof/symbol", method="POST", data=body.encode())
    assert r.status == 200, r
    lines = r.text.splitlines()
    assert lines[0] == "num_symbols: 1", lines
    got = dict(l.split(" ", 1) for l in lines[1:])
    assert got == {"0x%x" % a: n for a, n in want.items()}, (got, want)
    # The same list as the GET query, as Go's handler reads r.URL.RawQuery.
    r = fetch(base + "/debug/pprof/symbol?" + body)
    assert r.status == 200, r
    lines = r.text.splitlines()
    assert lines[0] == "num_symbols: 1", lines
    got = dict(l.split(" ", 1) for l in lines[1:])
    assert got == {"0x%x" % a: n for a, n in want.items()}, (got, want)
    big = fetch(base + "/debug/pprof/symbol", method="POST", data=b"0x1+" * 20000)
    assert big.status == 413, big
    finish(p)


@timeout(60)
def test_deleted_binary_still_named_in_protobuf():
    """The protobuf profiles of a program whose binary was deleted still
    name its functions (go tool pprof -top): pprof cannot find the binary,
    and skips /symbol for locations that already carry lines, so the
    names must be embedded - read through /proc/self/exe."""
    need("go")
    p, base = _run_deleted_copy()
    top = parse_top(pprof(["-top", base + "/debug/pprof/heap"]))
    assert "leak_site" in top.names(), top.names()
    finish(p)


# ---------------------------------------------------------------- security

def test_non_loopback_refused_without_token():
    """CPROF_HTTP on every interface without a token: one cprof: line, no
    server, and the program runs exactly as without cprof."""
    cp = run([prog(DEMO), "1"], env={"CPROF_HTTP": "0.0.0.0:0"})
    lines = [l for l in cp.stderr.splitlines() if "CPROF_HTTP" in l or "serving" in l]
    assert len(lines) == 1 and lines[0].startswith("cprof: ") and "refusing" in lines[0], cp.stderr
    assert "CPROF_HTTP_TOKEN" in lines[0], lines
    assert "done" in cp.stdout, cp.stdout


def test_unusable_token_means_no_server_and_is_never_printed():
    """A CPROF_HTTP_TOKEN that is set but unusable (a space in it, too
    short, a ':'): one cprof: line naming the variable and saying there is
    no server, never the token's value; nothing listens (not even on
    loopback, without authentication); the program runs as without cprof."""
    for secret in ("has spaceq insidez", "shrt7!x", "qqusr:pa55wordz"):
        cp = run([prog(DEMO), "1"], env={"CPROF_HTTP": "127.0.0.1:0", "CPROF_HTTP_TOKEN": secret})
        assert secret not in cp.stderr and secret not in cp.stdout, cp.stderr
        for part in secret.replace(":", " ").split():
            if len(part) > 3:
                assert part not in cp.stderr, (part, cp.stderr)
        lines = [l for l in cp.stderr.splitlines() if "HTTP" in l or "serving" in l]
        assert len(lines) == 1 and lines[0].startswith("cprof: ") and "CPROF_HTTP_TOKEN" in lines[0] \
            and "no HTTP server" in lines[0], cp.stderr
        assert "serving" not in cp.stderr, cp.stderr
        assert "done" in cp.stdout, cp.stdout


def test_unusable_libmicrohttpd_is_one_line():
    """A libmicrohttpd.so.12 that lacks the functions cprof needs (here a
    stand-in found first through LD_LIBRARY_PATH): one cprof: line, no
    server, the program unaffected."""
    cc = need("cc")
    d = os.path.join(tmpdir(), "fakelib")
    os.makedirs(d)
    src = os.path.join(d, "empty.c")
    with open(src, "w") as f:
        f.write("int not_microhttpd;\n")
    run([cc, "-shared", "-fPIC", "-o", os.path.join(d, "libmicrohttpd.so.12"), src], preload=False)
    cp = run([prog(DEMO), "1"], env={"CPROF_HTTP": "127.0.0.1:0", "LD_LIBRARY_PATH": d})
    lines = [l for l in cp.stderr.splitlines() if "microhttpd" in l or "serving" in l]
    assert len(lines) == 1 and lines[0].startswith("cprof: ") and "no HTTP server" in lines[0], cp.stderr
    assert "done" in cp.stdout, cp.stdout


@timeout(60)
def test_token_required_as_basic_auth_password():
    """With CPROF_HTTP_TOKEN, on any address and on loopback too: no or a
    wrong password -> 401 with WWW-Authenticate; the right one (any user
    name) -> 200; `go tool pprof http://user:TOKEN@...` works."""
    need("go")
    token = "s3cret-Token_42"
    for addr in ("0.0.0.0:0", "127.0.0.1:0"):
        p, base = serve(env={"CPROF_HTTP": addr, "CPROF_HTTP_TOKEN": token})
        url = base + "/debug/pprof/heap"
        r = fetch(url)
        assert r.status == 401, r
        assert r.headers["WWW-Authenticate"].startswith("Basic realm="), r.headers
        for cred in ("u:wrong-token", "u:" + token + "x", token + ":", "u:" + token[:-1], "garbage"):
            h = {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()}
            assert fetch(url, headers=h).status == 401, cred
        assert fetch(url, headers={"Authorization": "Bearer " + token}).status == 401
        for user in ("u", "", "someone"):
            h = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()}
            r = fetch(url, headers=h)
            assert r.status == 200 and r.body[:2] == b"\x1f\x8b", (user, r)
        if addr.startswith("0.0.0.0"):
            time.sleep(1)  # a few leak_site samples
            authed = base.replace("http://", "http://x:%s@" % token)
            top = parse_top(pprof(["-top", authed + "/debug/pprof/heap"]))
            assert "leak_site" in top.names(), top.rows
        finish(p)


@timeout(90)
def test_hostile_clients_leave_program_and_server_alone():
    """Raw garbage, a 100 KiB request line, an unknown method, a client that
    stalls half way through its request line and 100 concurrent
    connections: each gets a 4xx or is cut off, the server keeps answering
    later clients promptly, and the program keeps doing its own work and
    exits normally."""
    p, base = serve()
    port = port_of(base)
    t0 = ticks(p)

    garbage = raw_exchange(port, b"\x00\xff\xfe not http at all\r\n\r\n")
    assert garbage == b"" or garbage.startswith(b"HTTP/1.1 400"), garbage[:200]
    long_line = raw_exchange(port, b"GET /debug/pprof/" + b"a" * (100 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_line == b"" or re.match(rb"HTTP/1\.1 4(14|31|00)", long_line), long_line[:200]
    brew = raw_exchange(port, b"BREW /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert brew.startswith(b"HTTP/1.1 405"), brew[:300]
    headers = raw_exchange(port, b"GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n" +
                           b"X-Big: " + b"b" * (64 << 10) + b"\r\n\r\n")
    assert headers == b"" or re.match(rb"HTTP/1\.1 4(31|13|00)", headers), headers[:200]

    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"GET /debug/pp")

    results = []

    def client():
        try:
            r = fetch(base + "/debug/pprof/cmdline", timeout=20)
            results.append(r.status)
        except Exception as e:  # refused or reset by the connection limits
            results.append(type(e).__name__)
    threads = [threading.Thread(target=client) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 100 and results.count(200) >= 10, results
    assert all(r == 200 or isinstance(r, str) for r in results), results

    t1 = time.monotonic()
    r = fetch(base + "/debug/pprof/heap", timeout=10)
    assert r.status == 200 and time.monotonic() - t1 < 3, (r, time.monotonic() - t1)
    # The clients may all be served within a few ticks (100 ms each): give
    # the program time to show progress, with the stalled client still open.
    try:
        wait_for(lambda: ticks(p) > t0 + 3, 5, "the program's ticks")
    except AssertionError:
        raise AssertionError("the program stopped doing its own work:\n" + p.describe())
    stalled.close()
    finish(p)


def _thread_cpu_ticks(pid, name):
    """utime + stime (clock ticks) of the thread of pid named `name`."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != name:
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except OSError:
            continue
    raise AssertionError("no thread %s in %d" % (name, pid))


@timeout(90)
def test_program_near_its_descriptor_limit_keeps_its_descriptors():
    """A program holding all but 6 of its 256 descriptors, opening 5 of
    them again and again (the sixth is for cprof's writer thread, which
    reads /proc/self/stat), while 40 clients try the server: none of its opens
    fails (the server accepts nothing while the program is within its
    margin of RLIMIT_NOFILE), the server thread does not spin, one cprof:
    line says why; once the program releases descriptors the server
    answers again."""
    p, base = serve("fd_games", args=["hog", 256, 40], ready="waiting")
    os.kill(p.pid, signal.SIGUSR1)
    wait_for(lambda: "ready" in p.out(), 5, "the program to take its descriptors")
    ticks0 = _thread_cpu_ticks(p.pid, "cprof-http")
    t0 = time.monotonic()
    results = []

    def client():
        try:
            results.append(fetch(base + "/debug/pprof/cmdline", timeout=2).status)
        except Exception as e:
            results.append(type(e).__name__)
    for _ in range(4):
        threads = [threading.Thread(target=client) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    elapsed = time.monotonic() - t0
    spent = _thread_cpu_ticks(p.pid, "cprof-http") - ticks0
    hz = os.sysconf("SC_CLK_TCK")
    assert spent < 0.2 * hz * elapsed, "cprof-http used %.2f s of CPU in %.1f s" % (spent / hz, elapsed)
    assert 200 not in results, results
    os.kill(p.pid, signal.SIGUSR1)
    wait_for(lambda: "released" in p.out(), 5, "the program to release descriptors")

    def served():
        try:
            return fetch(base + "/debug/pprof/cmdline", timeout=2).status == 200
        except Exception:
            return False
    wait_for(served, 10, "the server to answer once the program has descriptors to spare")
    rc = p.stop(signal.SIGTERM)
    assert rc == 0 and "failures 0\n" in p.out(), p.describe()
    lines = [l for l in p.err().splitlines() if "descriptor" in l]
    assert len(lines) == 1 and lines[0].startswith("cprof: "), p.err()


@timeout(60)
def test_program_closing_and_reusing_server_descriptors():
    """A daemon that closes every inherited descriptor (closefrom(3)) while
    the server has a client waiting, then opens its own listener and epoll
    instance on cprof's old numbers: the server notices, stops with one
    cprof: line and never touches the program's descriptors (before: the
    cprof-http thread used the program's epoll instance and crashed on its
    data); the program serves its own clients and exits 0."""
    p, base = serve("fd_games", args=["closefrom", 30], ready="waiting")
    waiting = socket.create_connection(("127.0.0.1", port_of(base)), timeout=10)
    waiting.sendall(b"GET /debug/pprof/heap?seconds=600 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert get_profile(base + "/debug/pprof/heap").num_samples >= 0
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGUSR1)
    m = wait_for(lambda: re.search(r"listening (\d+)", p.out()), 5, "the program's own listener")
    port = int(m.group(1))
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert c.recv(100) == b"hello\n", p.describe()
        time.sleep(0.05)
    wait_for(lambda: "HTTP server has stopped" in p.err(), 5, "the server to notice")
    time.sleep(0.5)
    waiting.close()
    rc = p.stop(signal.SIGTERM)
    assert rc == 0 and "served 20\n" in p.out() and "done" in p.out(), p.describe()
    lines = [l for l in p.err().splitlines() if "descriptors" in l]
    assert len(lines) == 1 and lines[0].startswith("cprof: "), p.err()


def _send_queues(port):
    """Bytes queued for sending on the established sockets of local port
    `port` (the server's side of its connections)."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "01":
                out.append(int(parts[4].split(":")[0], 16))
    return out


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@timeout(60)
def test_slow_readers_hold_only_their_bytes():
    """48 clients that ask for a large text answer (a 800 KB cmdline) and
    read nothing: each holds at most 256 KiB of the kernel's memory (the
    server's send buffer; before, the whole answer), and in the process
    only its answer's bytes (not the workspace it was built in), all of
    them together at most 32 MiB (later ones get 503); once they leave the
    memory is returned and the server answers."""
    big = ["x%d" % i + "y" * 100000 for i in range(8)]
    p, base = serve(args=["60"] + big)
    port = port_of(base)
    r = fetch(base + "/debug/pprof/cmdline")
    assert r.status == 200 and len(r.body) > 800000, (r.status, len(r.body))
    time.sleep(0.5)
    rss0 = _rss_kb(p.pid)
    socks = []
    for i in range(48):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.bind(("127.0.0.%d" % (2 + i // 16), 0))
        c.settimeout(10)
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(c)
    time.sleep(2)
    grown = _rss_kb(p.pid) - rss0
    statuses = [c.recv(12)[9:12] for c in socks]
    assert grown < 48 * 1024, "%d KiB held for 48 slow readers" % grown
    # Queued in the kernel for each: bounded by the server's send buffer,
    # not the whole answer.
    queued = _send_queues(port)
    assert queued and max(queued) < 400 * 1024, sorted(queued)[-5:]
    assert statuses.count(b"200") >= 16 and set(statuses) <= {b"200", b"503"}, statuses
    for c in socks:
        c.close()
    wait_for(lambda: fetch(base + "/debug/pprof/cmdline").status == 200, 10, "the server to answer")
    assert _rss_kb(p.pid) - rss0 < 16 * 1024, (_rss_kb(p.pid) - rss0)
    finish(p)


# ---------------------------------------------------------------- threads

def _thread_block(text, name):
    """The block of a goroutine?debug=2 dump for the thread named `name`."""
    for block in text.split("\n\n"):
        if re.match(r"thread \d+ \[%s[\],]" % re.escape(name), block):
            return block
    raise AssertionError("no thread %s in:\n%s" % (name, text[:4000]))


@timeout(60)
def test_threads_dump_of_a_deadlock():
    """goroutine?debug=2 shows each deadlocked thread stuck in
    pthread_mutex_lock under the function that took the locks in the wrong
    order; the goroutine protobuf (fetched directly and by go tool pprof)
    and the debug=1 text (which pprof reads too) show the same."""
    p, base = serve("deadlock")
    try:
        r = fetch(base + "/debug/pprof/goroutine?debug=2", timeout=20)
    except OSError as e:
        raise AssertionError("goroutine?debug=2 got no answer in 20 s (%s): collecting the threads' "
                             "stacks hung, so the program's threads are stuck in cprof's signal "
                             "handler" % e)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), r
    text = r.text
    for thread, fn in (("locker-ab", "lock_a_then_b"), ("locker-ba", "lock_b_then_a")):
        block = _thread_block(text, thread)
        frames = re.findall(r"^(\S+)\(\.\.\.\)$", block, re.M)
        assert fn in frames, block
        lock = [i for i, f in enumerate(frames) if f in ("pthread_mutex_lock", "___pthread_mutex_lock",
                                                          "__pthread_mutex_lock", "__lll_lock_wait")]
        assert lock and min(lock) < frames.index(fn), block
        # As Go prints it: the program's frames with their file:line, and
        # the function that created the thread.
        assert re.search(r"^created by main\n\t\S*/test/progs/deadlock\.c:\d+( \+0x[0-9a-f]+)?$", block, re.M), \
            block
        assert re.search(r"^%s\(\.\.\.\)\n\t\S*/test/progs/deadlock\.c:\d+( \+0x[0-9a-f]+)?$" % fn,
                         block, re.M), block
    main = re.search(r"^thread %d \[" % p.pid, text, re.M)
    assert main, text[:3000]

    prof = get_profile(base + "/debug/pprof/goroutine", "goroutine")
    assert prof.sample_types == [("goroutine", "count")], prof.sample_types
    stacks = [s.stack for s in prof.samples()]
    for fn in ("lock_a_then_b", "lock_b_then_a"):
        stack = [st for st in stacks if fn in st]
        assert len(stack) == 1, stacks
        assert any("lock" in f for f in stack[0][:stack[0].index(fn)]), stack
    alias = get_profile(base + "/debug/pprof/threads", "threads")
    assert alias.total() == prof.total() == 3, (alias.total(), prof.total())
    # Over a window, as Go's goroutine?seconds=N: the end minus the start.
    # Every thread is stuck where it was, so everything cancels.
    delta = get_profile(base + "/debug/pprof/goroutine?seconds=1", "goroutine-delta")
    assert delta.sample_types == [("goroutine", "count")]
    eq_within(delta.duration_ns, 1e9, rel=0.25, what="goroutine delta duration")
    assert not list(delta.samples()), [(s.values, s.stack) for s in delta.samples()]

    r = fetch(base + "/debug/pprof/goroutine?debug=1", timeout=20)
    assert r.status == 200 and r.text.startswith("goroutine profile: total 3\n"), r.text[:500]
    assert "lock_a_then_b" in r.text and "# threads:" in r.text and "locker-ba" in r.text, r.text[:3000]
    if shutil.which("go"):
        out = os.path.join(tmpdir(), "fetched.goroutine.pb.gz")
        pprof(["-proto", "-output", out, base + "/debug/pprof/goroutine"])
        assert pprofdec.validate(pprofdec.load(out)).total() == 3
        path = os.path.join(tmpdir(), "goroutine.txt")
        with open(path, "wb") as f:
            f.write(r.body)
        top = parse_top(pprof(["-top", path]))
        assert {"lock_a_then_b", "lock_b_then_a"} <= set(top.names()), top.names()
    p.kill_group()


# ---------------------------------------------------------------- text forms

@timeout(90)
def test_legacy_text_forms():
    """?debug=1 gives Go's legacy text (heap, contention, counts) with
    frame comments and the memory map; go tool pprof reads the heap,
    mutex, block and threadcreate texts and names the demo's functions."""
    need("go")
    p, base = serve()
    time.sleep(1.5)
    expect = {"heap": (r"heap profile: \d+: \d+ \[\d+: \d+\] @ heap/1048576\n", "leak_site"),
              "mutex": (r"--- mutex:\ncycles/second=1000000000\nsampling period=1\n", "hold_lock"),
              "block": (r"--- contention:\ncycles/second=1000000000\n", "wait_lock"),
              "threadcreate": (r"threadcreate profile: total \d+\n", "spawn_site")}
    for name, (head, fn) in expect.items():
        r = fetch(base + "/debug/pprof/%s?debug=1" % name)
        assert r.status == 200 and r.headers["Content-Type"] == "text/plain; charset=utf-8", r
        assert re.match(head, r.text), r.text[:300]
        assert re.search(r"^#\t0x[0-9a-f]+\t%s\+0x[0-9a-f]+\t/" % fn, r.text, re.M), r.text[:2000]
        assert "\n--- Memory map: ---\n" in r.text, r.text[-2000:]
        path = os.path.join(tmpdir(), "%s.txt" % name)
        with open(path, "wb") as f:
            f.write(r.body)
        top = parse_top(pprof(["-top", path]))
        assert fn in top.names(), (name, top.rows)
    r = fetch(base + "/debug/pprof/allocs?debug=1")
    assert r.status == 200 and r.text.startswith("heap profile: "), r
    finish(p)


# ---------------------------------------------------------------- index etc.

def test_index_cmdline_and_errors():
    """The index lists every profile with a count and a link; cmdline is
    the NUL-separated argv; unknown paths, bad parameters and methods get
    Go's 4xx answers."""
    p, base = serve(args=["30", "extra arg"])
    time.sleep(0.5)

    def index():
        # The heap row counts buckets: the program leaks 64 KiB every
        # 10 ms, and its first sample can take longer than half a second
        # on a loaded machine (about one run in a few hundred otherwise).
        r = fetch(base + "/debug/pprof/")
        rows = dict((n, int(c)) for c, n in re.findall(
            r"<tr><td>(\d+)</td><td><a href='(\w+)\?debug=1'>\w+</a>", r.text))
        return (r, rows) if rows.get("heap") else None
    r, rows = wait_for(index, 10, "a heap sample on the index page")
    assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8", r
    assert set(rows) == {"allocs", "block", "cmdline", "goroutine", "heap", "mutex", "profile", "threadcreate"}, r.text
    # main, burner, holder, waiter (and maybe one short-lived spawn)
    assert rows["heap"] > 0 and rows["goroutine"] in (4, 5) and rows["threadcreate"] >= 3, rows
    assert "goroutine?debug=2" in r.text, r.text
    moved = fetch(base + "/debug/pprof", timeout=10)   # urllib follows the 301
    assert moved.status == 200 and "Types of profiles available" in moved.text, moved

    r = fetch(base + "/debug/pprof/cmdline")
    assert r.status == 200 and r.body == ("%s\x0030\x00extra arg" % prog(DEMO)).encode(), r

    for path, status, msg in (
            ("/debug/pprof/nope", 404, "Unknown profile\n"),
            ("/debug/pprof/trace", 404, "Unknown profile\n"),
            ("/debug/pprof/heap/x", 404, "Unknown profile\n"),
            ("/elsewhere", 404, "404 page not found\n"),
            ("/debug/pprof/heap?seconds=abc", 400, 'invalid value for "seconds" - must be a positive integer\n'),
            ("/debug/pprof/heap?seconds=0", 400, 'invalid value for "seconds" - must be a positive integer\n'),
            ("/debug/pprof/heap?seconds=1&debug=1", 400, "seconds and debug params are incompatible\n"),
            ("/debug/pprof/goroutine?seconds=1&debug=2", 400, "seconds and debug params are incompatible\n")):
        r = fetch(base + path)
        assert (r.status, r.text) == (status, msg), (path, r)
    r = fetch(base + "/debug/pprof/heap", method="POST", data=b"x")
    assert r.status == 405 and "GET" in r.headers["Allow"], r
    r = fetch(base + "/debug/pprof/heap", method="HEAD")
    assert r.status == 200 and r.body == b"", r
    finish(p)


# ---------------------------------------------------------------- lifecycle

@timeout(60)
def test_interval_dumps_and_exit_alongside():
    """CPROF_INTERVAL files keep coming while the server serves; a program
    told to exit while a /profile?seconds=N request waits exits at once,
    with its exit profiles, and the pending client is simply cut off."""
    p, base = serve(env={"CPROF_INTERVAL": "1"})
    # The program allocates steadily: its first sample comes after about
    # 512 KiB (no thread's first allocation is sampled for free).
    wait_for(lambda: get_profile(base + "/debug/pprof/heap").num_samples > 0, 10, "a heap sample")
    wait_for(lambda: len(profiles(kind="heap", pid=p.pid)) >= 2, 10, "two periodic heap dumps")
    result = {}

    def long_request():
        try:
            result["r"] = fetch(base + "/debug/pprof/profile?seconds=20", timeout=30)
        except Exception as e:
            result["r"] = e
    th = threading.Thread(target=long_request)
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    finish(p)
    assert time.monotonic() - t0 < 5, "exit took %.1fs" % (time.monotonic() - t0)
    th.join(15)
    assert "r" in result and not isinstance(result["r"], Resp), result
    n = max(f.n for f in profiles(pid=p.pid))
    kinds = {f.kind for f in profiles(pid=p.pid) if f.n == n}
    assert {"heap", "cpu", "mutex"} <= kinds, kinds


def _listen_inode(port):
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                return parts[9]
    return None


def _socket_inodes(pid):
    out = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            link = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out.add(m.group(1))
    return out


@timeout(60)
def test_fork_child_does_not_keep_the_parents_port():
    """A child forked without exec does not keep the parent's listening
    socket (with port 0 it serves on a port of its own): once the parent is
    gone the parent's port is closed, while the child still runs."""
    p, base = serve(args=["30", "fork"], ready="child")
    child = int(re.search(r"child (\d+)", p.out()).group(1))
    port = port_of(base)
    # The parent serves: its leak (64 KiB every 10 ms, from the fork on)
    # shows up within a few sampling periods.
    wait_for(lambda: get_profile(base + "/debug/pprof/heap").num_samples > 0, 10,
             "heap samples served by the parent")
    ino = _listen_inode(port)
    assert ino and ino in _socket_inodes(p.pid), ino
    assert ino not in _socket_inodes(child), "the fork child holds the listening socket"
    try:
        # Not finish(): its group kill is fine, the child left the group.
        finish(p)
        os.kill(child, 0)  # still running
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError("port %d still accepts connections after the parent exited" % port)
        except ConnectionRefusedError:
            pass
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


@timeout(90)
def test_request_flood_does_not_stall_fork():
    """Clients fetching heap?debug=1 back to back (16,384 stacks to
    symbolize, about a tenth of a second each) while the program forks
    every 2 ms: fork() waits at most for a reading of the tables, never
    for an encoding.  Before, fork waited on the lock every encoding held:
    a tenth of the forks took more than half a request's time (now: under
    a third, about a twentieth on an idle machine).  Children
    forked while the server was symbolizing (so the lock fork skips was
    held) write their own heap profiles at exit, with every name."""
    p, base = serve("fork_latency", args=[6, 4],
                    env={"CPROF_HEAP_RATE": "1", "CPROF_PROFILES": "heap"})
    durations = []

    def flood():
        while p.poll() is None:
            t = time.monotonic()
            try:
                r = fetch(base + "/debug/pprof/heap?debug=1", timeout=30)
            except OSError:
                return  # the program ended mid-request
            if r.status != 200:
                return  # exiting (503)
            durations.append(time.monotonic() - t)

    clients = [threading.Thread(target=flood) for _ in range(2)]
    for c in clients:
        c.start()
    rc = p.wait(60)
    for c in clients:
        c.join(30)
    assert rc == 0, p.describe()
    m = re.search(r"forks (\d+) median_us (\d+) p90_us (\d+) max_us (\d+)", p.out())
    assert m and int(m.group(1)) >= 100, p.describe()
    durations.sort()
    assert len(durations) >= 5, durations
    request_us = durations[len(durations) // 2] * 1e6
    p90 = int(m.group(3))
    assert p90 < request_us / 3, "fork p90 %d us while a request takes %d us: %s" % (
        p90, request_us, m.group(0))
    children = [f for f in profiles(kind="heap") if f.pid != p.pid]
    assert len(children) == 4, (children, p.describe())
    for f in children:
        top = pprof_top(f.path, ["-sample_index=inuse_space"])
        leak = [r for r in top.rows if r.name == "child_leak"]
        assert leak and leak[0].flat.num == 4096, (f.path, top.rows)


@timeout(60)
def test_peak_heap_over_http():
    """heap?peak=1 is the heap as it was at its peak (heap_peak: 64 MiB
    through peak_first, freed, then 16 MiB through peak_second), as a
    profile and with debug=1 as text; heap itself shows peak_second only;
    peak and seconds together are refused."""
    rate = 65536
    p, base = serve("heap_peak", ["60"], env={"CPROF_HEAP_RATE": str(rate), "CPROF_PROFILES": "heap"})
    try:
        import json
        from checks import heap_sd
        truth = json.loads(next(l for l in p.out().splitlines() if l.startswith("{")))
        peak = get_profile(base + "/debug/pprof/heap?peak=1", "heap-peak")
        heap = get_profile(base + "/debug/pprof/heap", "heap")
        first, block = truth["peak_first"], truth["block"]
        sd = heap_sd(first, block, rate)
        got = peak.flat("inuse_space")
        assert first * (1 - 1 / 64) - 5 * sd - block <= got.get("peak_first", 0) <= first + 5 * sd, (got, sd)
        assert got.get("peak_second", 0) == 0, got
        now = heap.flat("inuse_space")
        assert now.get("peak_first", 0) == 0 and now.get("peak_second", 0) > 0, now
        text = fetch(base + "/debug/pprof/heap?peak=1&debug=1")
        assert text.status == 200 and text.text.startswith("heap profile: "), text
        assert "peak_first" in text.text and "peak_second" not in text.text, text.text[:3000]
        r = fetch(base + "/debug/pprof/heap?peak=1&seconds=1")
        assert r.status == 400 and "peak" in r.text, r
    finally:
        p.stop(signal.SIGTERM)
