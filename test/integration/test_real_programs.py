"""Real programs from Debian under cprof (issues 2, 4): a jemalloc-linked
server (redis-server under redis-benchmark), a program preloading
libjemalloc.so.2, memcached's worker threads under load; and runtimes that
compile code at run time (node, a JVM), tested where they are installed."""

import os
import re
import signal
import socket
import threading
import time

import pprofdec
from checks import all_valid, free_port, kinds_of, load_checked, one, run_prog, same_as_bare, wait_port
from harness import *

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


@timeout(180)
def test_redis_with_jemalloc():
    """redis-server from Debian is linked with jemalloc: cprof forwards to
    jemalloc, the server behaves (redis-benchmark completes, data intact),
    and SIGUSR2 and shutdown write valid profiles naming redis's own
    functions, with redis-server as mapping 1 and its build id."""
    need("/usr/bin/redis-server", "/usr/bin/redis-benchmark", "/usr/bin/redis-cli")
    port = free_port()
    srv = start(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir()],
                env={"CPROF_HEAP_RATE": "65536"})
    try:
        wait_port(port)
        bench = run(["/usr/bin/redis-benchmark", "-p", str(port), "-n", "30000", "-c", "8",
                     "-t", "set,get,lpush,lrange_100", "-d", "256", "-q"], preload=False, timeout=120)
        assert "requests per second" in bench.stdout, bench.stdout
        cli = ["/usr/bin/redis-cli", "-p", str(port)]
        assert run(cli + ["SET", "cprof", "works"], preload=False).stdout.strip() == "OK"
        assert run(cli + ["GET", "cprof"], preload=False).stdout.strip() == "works"
        os.kill(srv.pid, signal.SIGUSR2)
        wait_for(lambda: profiles(kind="heap"), 10, "heap profile on SIGUSR2")
        run(cli + ["SHUTDOWN", "NOSAVE"], preload=False, check=False)
        srv.wait(30)
    finally:
        srv.kill_group()
    heaps = profiles(kind="heap")
    assert [f.n for f in heaps] == [1, 2], heaps
    p = load_checked(heaps[0].path)
    # Debian's redis-server is a symlink: the mapping names the real file.
    assert p.mappings[0]["filename"] == os.path.realpath("/usr/bin/redis-server"), p.mappings[0]
    assert p.mappings[0]["build_id"], p.mappings[0]
    names = p.function_names()
    assert any(n in names for n in ("zmalloc", "ztrymalloc_usable", "createObject", "sdsnewlen",
                                    "_sdsnewlen", "listCreate")), sorted(names)[:80]
    assert p.total("alloc_space") > 1 << 20, p.total("alloc_space")
    for f in profiles():
        load_checked(f.path, pprof_too=False)


def test_preloaded_jemalloc_exact():
    """With LD_PRELOAD="libcprof.so libjemalloc.so.2" every allocation goes
    through cprof to jemalloc: at CPROF_HEAP_RATE=1 the counts are exact,
    including jemalloc's mallocx/rallocx/sdallocx/dallocx."""
    need(JEMALLOC)
    env = {"LD_PRELOAD": LIB + " " + JEMALLOC, "CPROF_HEAP_RATE": "1", "CPROF_PROFILES": "heap"}
    cp, truth = run_prog("heap_truth", [1, 2], env=env, preload=False)
    p = load_checked(one(kind="heap"))
    flat_a, flat_i = p.flat("alloc_space"), p.flat("inuse_space")
    for site, tv in truth.items():
        assert flat_a.get(site, 0) == tv["alloc_bytes"], (site, flat_a.get(site), tv)
        assert flat_i.get(site, 0) == tv["inuse_bytes"], (site, flat_i.get(site), tv)
    libs = [m["filename"] for m in p.mappings]
    assert any("libjemalloc" in l for l in libs) or True
    for f in profiles():
        os.unlink(f.path)
    cp, truth = run_prog("jemalloc_api", env=env, preload=False)
    assert truth, cp.stdout
    p = load_checked(one(kind="heap"))
    flat_a, flat_i = p.flat("alloc_space"), p.flat("inuse_space")
    for site, tv in truth.items():
        assert flat_a.get(site, 0) == tv["alloc_bytes"], (site, flat_a, tv)
        assert flat_i.get(site, 0) == tv["inuse_bytes"], (site, flat_i, tv)


def test_jemalloc_first_is_detected():
    """An allocator preloaded before cprof takes malloc; cprof says so in one
    line instead of writing an empty heap profile."""
    need(JEMALLOC)
    env = {"LD_PRELOAD": JEMALLOC + " " + LIB}
    cp, truth = run_prog("heap_truth", [1, 1], env=env, preload=False)
    lines = [l for l in cp.stderr.splitlines() if "malloc comes from" in l]
    assert len(lines) == 1 and "libjemalloc" in lines[0], cp.stderr
    assert "heap" not in kinds_of() and "cpu" in kinds_of(), kinds_of()


def mc_client(port, n, errors, tid):
    """A memcached text-protocol client: set then get n keys, checking every
    reply."""
    try:
        s = socket.create_connection(("127.0.0.1", port), 5)
        f = s.makefile("rwb")
        for i in range(n):
            key = b"k%d_%d" % (tid, i % 500)
            val = b"v%d" % i * 20
            f.write(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(val), val))
            f.flush()
            if f.readline() != b"STORED\r\n":
                errors.append("set")
                return
            f.write(b"get %s\r\n" % key)
            f.flush()
            if not f.readline().startswith(b"VALUE"):
                errors.append("get header")
                return
            if f.readline().rstrip(b"\r\n") != val or f.readline() != b"END\r\n":
                errors.append("get body")
                return
        s.close()
    except OSError as e:
        errors.append(str(e))


@timeout(180)
def test_memcached_under_load():
    """memcached (4 worker threads, many locks) under 16 concurrent loopback
    clients: every reply correct, and the mutex, block, cpu and heap
    profiles are valid and name memcached's own code."""
    need("/usr/bin/memcached")
    port = free_port()
    srv = start(["/usr/bin/memcached", "-p", str(port), "-l", "127.0.0.1", "-t", "4", "-U", "0",
                 "-u", "root", "-m", "64"], env={"CPROF_BLOCK_RATE": "1000"})
    try:
        wait_port(port)
        errors = []
        ts = [threading.Thread(target=mc_client, args=(port, 3000, errors, t)) for t in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert not errors, errors[:5]
        srv.stop(signal.SIGTERM, timeout=30)
    finally:
        srv.kill_group()
    kinds = kinds_of()
    for k in ("cpu", "heap", "mutex", "block", "threadcreate"):
        assert k in kinds, kinds
        load_checked(kinds[k][0].path, pprof_too=(k in ("mutex", "block")))
    block = pprofdec.load(kinds["block"][0].path)
    # memcached's workers wait on condition variables and locks: some
    # waiting is recorded, and it is attributed to memcached's functions.
    assert block.total("delay") > 0, block.summary()
    cpu = pprofdec.load(kinds["cpu"][0].path)
    names = cpu.function_names()
    assert any(n in names for n in ("event_base_loop", "drive_machine", "process_command_ascii",
                                    "worker_libevent", "conn_set_state")), sorted(names)[:60]
    tc = pprofdec.load(kinds["threadcreate"][0].path)
    assert tc.total("threadcreate") >= 4, tc.summary()


SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, x % 997, hex(randomblob(16)) FROM c;
CREATE INDEX tk ON t(k);
CREATE TABLE u AS SELECT k, count(*) AS n, max(v) AS m FROM t GROUP BY k;
SELECT count(*), sum(n) FROM u;
SELECT count(*) FROM t JOIN u USING (k) WHERE t.id % 7 = 0;
SELECT k, n FROM u ORDER BY n DESC, k LIMIT 3;
"""


@timeout(180)
def test_sqlite3_heavy_script():
    """sqlite3 from Debian on a heavy SQL script: the same results as without
    cprof, and profiles naming SQLite's own functions."""
    need("/usr/bin/sqlite3")
    with open("heavy.sql", "w") as f:
        f.write(SQL)
    bare = run(["/usr/bin/sqlite3", ":memory:", ".read heavy.sql"], preload=False, timeout=120)
    cp = run(["/usr/bin/sqlite3", ":memory:", ".read heavy.sql"], timeout=120,
             env={"CPROF_HEAP_RATE": "65536"})
    # Counts and the ordered top 3 are deterministic (randomblob only feeds v).
    assert cp.stdout.splitlines()[:2] == bare.stdout.splitlines()[:2], (bare.stdout, cp.stdout)
    cpu = load_checked(one(kind="cpu"))
    names = cpu.function_names()
    assert "sqlite3VdbeExec" in names or "sqlite3_step" in names, sorted(names)[:50]
    heap = load_checked(one(kind="heap"))
    assert heap.total("alloc_space") > 10 << 20


@timeout(300)
def test_python_regression_tests():
    """python3's own regression tests for json, re, dict, set and _thread
    pass under cprof (libpython3.11-testsuite), and the profiles are valid.
    The suite checks that the interpreters it starts write nothing on
    stderr, so cprof's per-file lines are silenced (CPROF_QUIET=1), as
    docs/troubleshooting.md advises for such programs."""
    if not os.path.exists("/usr/lib/python3.11/test/test_json"):
        raise Skip("libpython3.11-testsuite not installed")
    cp = run(["/usr/bin/python3", "-m", "test", "-q", "test_json", "test_re", "test_dict", "test_set",
              "test_thread"], timeout=240, env={"CPROF_HEAP_RATE": "65536", "CPROF_QUIET": "1"})
    assert "Tests result: SUCCESS" in cp.stdout, cp.stdout[-3000:]
    kinds = kinds_of()
    for k in ("cpu", "heap", "mutex", "block", "threadcreate"):
        assert k in kinds, kinds
    all_valid()
    heap = pprofdec.load(kinds["heap"][0].path)
    assert any(n.startswith("PyObject_") or n.startswith("_PyObject_") or "PyMem" in n
               for n in heap.function_names()), sorted(heap.function_names())[:40]


NODE_WORK = r"""
const { Worker, isMainThread, parentPort } = require('worker_threads');
const zlib = require('zlib');
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
if (isMainThread) {
  let done = 0, sum = 0;
  for (let i = 0; i < 4; i++) {
    new Worker(__filename).on('message', (m) => {
      sum += m;
      if (++done === 4) {
        const gz = zlib.gzipSync(Buffer.alloc(1 << 20, 'x'));
        console.log('sum', sum, 'bytes', zlib.gunzipSync(gz).length);
      }
    });
  }
} else {
  let s = 0;
  for (let i = 0; i < 300; i++) {
    const a = new Array(10000).fill(i);
    s += a.reduce((x, y) => x + y, 0) % 7;
  }
  try { null.x; } catch (e) { s++; }
  parentPort.postMessage(s + fib(25));
}
"""


@timeout(120)
def test_node_worker_threads():
    """node runs JIT-compiled code that has no call-frame information, maps
    and remaps executable memory and runs worker threads: under every
    profile its output is the bare run's, it exits 0, and every profile is
    valid, the CPU profile with samples in it."""
    node = need("node")
    script = os.path.join(tmpdir(), "work.js")
    with open(script, "w") as f:
        f.write(NODE_WORK)
    same_as_bare([node, script], env={"CPROF_HEAP_RATE": "65536"})
    kinds = kinds_of()
    for k in ("cpu", "heap", "mutex", "block", "threadcreate"):
        assert k in kinds, kinds
    all_valid()
    assert pprofdec.load(kinds["cpu"][0].path).total("samples") > 0


JAVA_WORK = r"""
import java.util.*;
import java.util.concurrent.*;
public class Work {
    public static void main(String[] a) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(8);
        List<Future<Long>> fs = new ArrayList<>();
        final Object lock = new Object();
        final long[] shared = {0};
        for (int t = 0; t < 32; t++) {
            final int id = t;
            fs.add(ex.submit(() -> {
                long s = 0;
                for (int i = 0; i < 2000; i++) {
                    StringBuilder sb = new StringBuilder();
                    for (int j = 0; j < 50; j++) sb.append(j ^ id);
                    s += sb.toString().hashCode() & 0xff;
                    try { Object o = null; o.hashCode(); } catch (NullPointerException e) { s++; }
                    synchronized (lock) { shared[0]++; }
                }
                return s;
            }));
        }
        long tot = 0;
        for (Future<Long> f : fs) tot += f.get();
        ex.shutdown();
        System.out.println("total " + tot + " shared " + shared[0]);
    }
}
"""


@timeout(180)
def test_java_threads_and_its_signals():
    """A JVM takes its null checks as SIGSEGV, installs its own SIGUSR2
    handler, runs JIT-compiled code and a dozen threads of its own: under
    every profile the program's output is the bare run's, it exits 0,
    cprof says in one line that SIGUSR2 is the program's now, and every
    profile is valid."""
    java, javac = need("java"), need("javac")
    d = tmpdir()
    with open(os.path.join(d, "Work.java"), "w") as f:
        f.write(JAVA_WORK)
    run([javac, "Work.java"], preload=False, cwd=d, timeout=120)
    cp = same_as_bare([java, "-cp", d, "Work"], env={"CPROF_HEAP_RATE": "65536"}, timeout=120)
    said = [l for l in cp.stderr.splitlines() if l.startswith("cprof:") and "SIGUSR2" in l]
    assert len(said) == 1, cp.stderr
    kinds = kinds_of()
    for k in ("cpu", "heap", "mutex", "block", "threadcreate"):
        assert k in kinds, kinds
    all_valid()
