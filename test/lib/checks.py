"""checks - assertions shared by cprof's integration tests.

Every profile a test touches goes through two independent readers: the
project's decoder/validator (pprofdec, python3-protobuf over our .proto)
and `go tool pprof` itself.
"""

import glob
import json
import math
import os
import socket

import pprofdec
from harness import BUILD, PROGS, eq_within, pprof, profiles, run, tmpdir, wait_for


def run_prog(name, args=(), env=None, **kw):
    """Run a test program under cprof; return (CompletedProcess, truth) where
    truth is the JSON the program printed on its last line (or None)."""
    cp = run([os.path.join(PROGS, name)] + [str(a) for a in args], env=env, **kw)
    truth = None
    lines = [l for l in cp.stdout.strip().splitlines() if l.startswith("{")]
    if lines:
        truth = json.loads(lines[-1])
    return cp, truth


def load_checked(path, pprof_too=True):
    """Decode and validate a profile with pprofdec, check that its samples
    are encoded as the protobuf runtime encodes them, and have go tool
    pprof read it (-raw lists every sample, location and mapping)."""
    p = pprofdec.load(path)
    pprofdec.validate(p)
    with open(path, "rb") as f:
        pprofdec.check_canonical_samples(f.read(), str(path))
    if pprof_too:
        out = pprof(["-raw", path])
        assert "Mappings" in out or p.msg.sample == [], "pprof -raw shows no mappings:\n" + out[:2000]
    return p


def all_valid(pprof_too=False):
    """Every profile in the test's directory is valid, and no temporary
    file of a dump is left there."""
    for f in profiles():
        load_checked(f.path, pprof_too=pprof_too)
    assert not glob.glob(".cprof-tmp*"), glob.glob(".cprof-tmp*")


def same_as_bare(argv, env=None, timeout=60):
    """argv under cprof prints what it prints bare (both must exit 0)."""
    bare = run(argv, preload=False, timeout=timeout)
    cp = run(argv, env=env, timeout=timeout)
    assert cp.stdout == bare.stdout, (bare.stdout[-500:], cp.stdout[-500:])
    return cp


def kinds_of(dir=None, pid=None):
    """{kind: [ProfileFile...]} of the profiles in dir."""
    out = {}
    for f in profiles(dir or tmpdir(), pid=pid):
        out.setdefault(f.kind, []).append(f)
    return out


def dump_sets(dir=None):
    """{(pid, dump number): set of kinds} of the profiles in dir: one entry
    per dump, to check that every dump wrote every profile."""
    out = {}
    for f in profiles(dir or tmpdir()):
        out.setdefault((f.pid, f.n), set()).add(f.kind)
    return out


def one(dir=None, kind=None, pid=None):
    """The single profile of `kind` (asserts there is exactly one)."""
    fs = profiles(dir or tmpdir(), kind=kind, pid=pid)
    assert len(fs) == 1, "expected one %s profile, found %s" % (kind, [f.path for f in fs])
    return fs[0].path


def flat_by_function(p, type_name):
    return p.flat(type_name)


def share(values, name):
    total = sum(values.values())
    return values.get(name, 0) / total if total else 0.0


def heap_sd(bytes_, size, rate):
    """Standard deviation of the Horvitz-Thompson estimate of `bytes_`
    allocated in objects of `size` at sampling rate `rate`:
    n objects, each kept with p = 1 - exp(-s/R) and weighted s/p, so
    Var = n * s^2 * (1 - p) / p."""
    if rate <= 1 or size <= 0:
        return 0.0
    n = bytes_ / size
    p = -math.expm1(-size / rate)
    return math.sqrt(n * size * size * (1 - p) / p)


def free_port():
    """A loopback TCP port nothing listens on (now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=15):
    """Wait until something accepts connections on 127.0.0.1:port."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout, "port %d" % port)
