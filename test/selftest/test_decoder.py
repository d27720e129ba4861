"""Self-test of the independent decoder (test/lib/pprofdec.py) and of the
`go tool pprof -top` parsing in harness.py, on pprof data that does not come
from cprof: profiles written by Go's runtime/pprof (test/selftest/goprof)
and profiles built here with the generated protobuf classes."""

import gzip
import os
import sys

import pprofdec
from harness import (ROOT, eq_within, need, parse_top, parse_value,
                     pprof_top, run, timeout, tmpdir)

GOPROF_SRC = os.path.join(ROOT, "test", "selftest", "goprof")


def go_profiles():
    """Build test/selftest/goprof in the tmp dir (GOPATH mode, private
    GOCACHE and HOME, no network) and run it; return (cpu_path, heap_path)."""
    go = need("go")
    t = tmpdir()
    env = {"HOME": t, "GOCACHE": os.path.join(t, "gocache"), "GOPATH": os.path.join(t, "gopath"),
           "GO111MODULE": "off", "GOFLAGS": None, "CGO_ENABLED": "0", "GOPROXY": "off",
           "LD_PRELOAD": None}
    exe = os.path.join(t, "goprof")
    run([go, "build", "-o", exe, "main.go"], env=env, preload=False, cwd=GOPROF_SRC, timeout=300)
    cpu, heap = os.path.join(t, "go.cpu.pb.gz"), os.path.join(t, "go.heap.pb.gz")
    run([exe, cpu, heap], env={"LD_PRELOAD": None}, preload=False, timeout=60)
    return cpu, heap


def _later_in_stack(stack, leaf, caller):
    return stack and stack[0] == leaf and caller in stack[1:]


@timeout(300)
def test_go_cpu_profile():
    cpu, _ = go_profiles()
    p = pprofdec.validate(pprofdec.load(cpu))
    assert p.sample_types == [("samples", "count"), ("cpu", "nanoseconds")], p.sample_types
    assert p.period_type == ("cpu", "nanoseconds"), p.period_type
    assert p.period > 0
    assert p.duration_ns > 0 and p.time_ns > 0
    assert p.index() == 1   # no default_sample_type: the last type
    flat = p.flat("cpu")
    total = p.total("cpu")
    assert total > 0, "no CPU samples at all"
    assert "main.burnCPU" in flat, sorted(flat)
    assert flat["main.burnCPU"] >= 0.5 * total, (flat, total)
    assert max(flat, key=flat.get) == "main.burnCPU", flat
    # Leaf-first stacks: burnCPU called from main.main.
    stacks = p.by_stack("cpu")
    assert any(_later_in_stack(s, "main.burnCPU", "main.main") for s in stacks), stacks
    # Go writes value[1] = value[0] * period for every sample.
    for s in p.samples():
        assert s.values[1] == s.values[0] * p.period, (s, p.period)
    assert p.total("samples") * p.period == total
    assert p.cum("cpu")["main.main"] >= flat["main.burnCPU"]
    m = p.mappings
    assert m and m[0]["filename"].endswith("goprof"), m


@timeout(300)
def test_go_heap_profile():
    _, heap = go_profiles()
    p = pprofdec.validate(pprofdec.load(heap))
    assert p.sample_types == [("alloc_objects", "count"), ("alloc_space", "bytes"),
                              ("inuse_objects", "count"), ("inuse_space", "bytes")], p.sample_types
    assert p.period_type == ("space", "bytes"), p.period_type
    for t in ("alloc_objects", "inuse_objects"):
        v = p.flat(t).get("main.allocHeap", 0)
        assert v >= 1000, (t, v)
    for t in ("alloc_space", "inuse_space"):
        v = p.flat(t).get("main.allocHeap", 0)
        assert v >= 1000 * 4096, (t, v)
    # inuse never exceeds alloc for a stack; cum(main.main) covers allocHeap.
    for s in p.samples():
        assert s.values[2] <= s.values[0] and s.values[3] <= s.values[1], s
    assert p.cum("inuse_space")["main.main"] >= p.flat("inuse_space")["main.allocHeap"]
    stacks = p.by_stack("inuse_space")
    assert any(_later_in_stack(s, "main.allocHeap", "main.main") for s in stacks), stacks


def _check_top_against_decoder(p, path, type_name, extra=()):
    """Every row of pprof -top (nodefraction 0) agrees with the decoder's
    flat and cum for that function, within pprof's printing precision."""
    top = pprof_top(path, ["-nodefraction=0", "-sample_index=%s" % type_name] + list(extra))
    assert top.type == type_name, top.header
    flat, cum = p.flat(type_name), p.cum(type_name)
    assert top.rows, top
    checked = 0
    for r in top.rows:
        if r.name not in cum:
            continue
        eq_within(r.flat.num, flat.get(r.name, 0), abs=r.flat.tol, what="%s flat %s" % (type_name, r.name))
        eq_within(r.cum.num, cum[r.name], abs=r.cum.tol, what="%s cum %s" % (type_name, r.name))
        checked += 1
    assert checked >= 1, (top.names(), sorted(cum))
    eq_within(top.total.num, p.total(type_name), abs=top.total.tol, what="%s total" % type_name)
    return top


@timeout(300)
def test_pprof_top_agrees_go_cpu():
    cpu, _ = go_profiles()
    p = pprofdec.validate(pprofdec.load(cpu))
    top = pprof_top(cpu)
    assert top.type == "cpu", top.header
    assert top.rows[0].name == "main.burnCPU", top.rows[0]
    assert top.rows[0].flat.unit in ("ms", "s"), top.rows[0]
    eq_within(top.rows[0].flat.num, p.flat("cpu")["main.burnCPU"], abs=top.rows[0].flat.tol,
              what="flat main.burnCPU")
    assert top.duration_ns is not None
    eq_within(top.duration_ns, p.duration_ns, abs=0.005e6 if top.duration_ns < 1e9 else 0.005e9,
              what="Duration header")
    _check_top_against_decoder(p, cpu, "cpu")
    t = _check_top_against_decoder(p, cpu, "samples")
    assert t.rows[0].flat.unit == "" and isinstance(t.rows[0].flat.num, int), t.rows[0]


@timeout(300)
def test_pprof_top_agrees_go_heap():
    _, heap = go_profiles()
    p = pprofdec.validate(pprofdec.load(heap))
    top = pprof_top(heap)
    assert top.type == "inuse_space", top.header
    assert top.rows[0].name == "main.allocHeap", top.rows[0]
    assert top.rows[0].flat.unit in ("kB", "MB"), top.rows[0]
    for t in ("inuse_space", "alloc_space", "inuse_objects", "alloc_objects"):
        _check_top_against_decoder(p, heap, t)


# ---------------------------------------------------------------- synthetic profiles

def synthetic():
    """A small valid profile exercising inlining, recursion, an unsymbolized
    location, string and numeric labels, and default_sample_type."""
    pb = pprofdec.pb2()
    m = pb.Profile()
    strings = [""]

    def s(text):
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    for t, u in (("samples", "count"), ("space", "bytes")):
        vt = m.sample_type.add()
        vt.type, vt.unit = s(t), s(u)
    m.period_type.type, m.period_type.unit = s("space"), s("bytes")
    m.period = 1
    m.default_sample_type = s("samples")
    m.time_nanos = 1_700_000_000_000_000_000
    m.duration_nanos = 2_500_000_000
    m.comment.append(s("synthetic profile"))
    mp = m.mapping.add()
    mp.id, mp.memory_start, mp.memory_limit = 1, 0x400000, 0x500000
    mp.filename = s("/nonexistent/prog")
    mp.build_id = s("abcdef")
    mp.has_functions = True
    for fid, name in enumerate(["main", "f", "g", "leaf_inl", "h"], 1):
        f = m.function.add()
        f.id, f.name, f.system_name, f.filename = fid, s(name), s(name), s("prog.c")
        f.start_line = 10 * fid
    for lid, (addr, funcs) in enumerate([(0x401000, [1]), (0x402000, [2]), (0x403000, [3]),
                                         (0x404000, [4, 5]), (0x405000, [])], 1):
        loc = m.location.add()
        loc.id, loc.mapping_id, loc.address = lid, 1, addr
        for fid in funcs:
            ln = loc.line.add()
            ln.function_id, ln.line = fid, 10 * fid + 1
    for locs, vals, labels in (([4, 2, 1], [1, 100], [("thread", "worker", None)]),
                               ([2, 3, 2, 1], [2, 200], []),
                               ([5, 1], [3, 300], [("bytes", None, 4096)]),
                               ([3, 1], [4, 400], [])):
        smp = m.sample.add()
        smp.location_id.extend(locs)
        smp.value.extend(vals)
        for k, v, n in labels:
            lab = smp.label.add()
            lab.key = s(k)
            if v is not None:
                lab.str = s(v)
            else:
                lab.num, lab.num_unit = n, s("bytes")
    s("(unclosed")   # for the bad drop_frames mutation
    m.string_table.extend(strings)
    return m


def _write(msg, name, gz=True):
    path = os.path.join(tmpdir(), name)
    data = msg.SerializeToString()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    return path


def test_synthetic_profile_accessors():
    m = synthetic()
    p = pprofdec.validate(pprofdec.load(_write(m, "synthetic.pb.gz")))
    raw = pprofdec.validate(pprofdec.load(_write(m, "synthetic.pb", gz=False)))
    assert raw.by_stack("space") == p.by_stack("space")
    assert p.sample_types == [("samples", "count"), ("space", "bytes")]
    assert p.period_type == ("space", "bytes") and p.period == 1
    assert p.default_sample_type == "samples" and p.index() == 0
    assert p.duration_ns == 2_500_000_000 and p.time_ns == 1_700_000_000_000_000_000
    assert p.comments == ["synthetic profile"]
    assert p.mappings == [dict(id=1, filename="/nonexistent/prog", build_id="abcdef",
                               start=0x400000, limit=0x500000, offset=0, has_functions=True,
                               has_filenames=False, has_line_numbers=False,
                               has_inline_frames=False)], p.mappings
    samples = list(p.samples())
    assert [s.stack for s in samples] == [
        ["leaf_inl", "h", "f", "main"],
        ["f", "g", "f", "main"],
        ["0x405000", "main"],
        ["g", "main"]], [s.stack for s in samples]
    assert samples[0].labels == {"thread": "worker"} and samples[0].num_labels == {}
    assert samples[2].labels == {"bytes": 4096}
    assert samples[2].num_labels == {"bytes": (4096, "bytes")}
    assert samples[0].frames[0] == ("leaf_inl", "prog.c", 41, 0x404000), samples[0].frames
    assert p.total("space") == 1000 and p.total("samples") == 10 and p.total() == 10
    assert p.flat("space") == {"leaf_inl": 100, "f": 200, "0x405000": 300, "g": 400}
    assert p.cum("space") == {"leaf_inl": 100, "h": 100, "f": 300, "main": 1000,
                              "g": 600, "0x405000": 300}, p.cum("space")
    assert p.by_stack(1) == {("leaf_inl", "h", "f", "main"): 100, ("f", "g", "f", "main"): 200,
                             ("0x405000", "main"): 300, ("g", "main"): 400}
    summary = p.summary()
    assert "total space: 1000 bytes" in summary and "0x405000" in summary, summary


@timeout(120)
def test_pprof_top_agrees_synthetic():
    need("go")
    m = synthetic()
    path = _write(m, "synthetic.pb.gz")
    p = pprofdec.validate(pprofdec.load(path))
    top = pprof_top(path, ["-nodefraction=0", "-symbolize=none"])
    assert top.type == "samples", top.header    # default_sample_type honoured
    assert "synthetic profile" in top.header, top.header
    for t in ("samples", "space"):
        top = _check_top_against_decoder(p, path, t, ["-symbolize=none"])
        names = set(top.names())
        assert {"main", "f", "g", "h", "leaf_inl"} <= names, names
        # Recursion: f counted once per sample, as pprof does.
        assert top.cum("f") == p.cum(t)["f"]
        assert top.find("leaf_inl").inline, top.find("leaf_inl")


# ---------------------------------------------------------------- negative tests

def _expect_invalid(fn, keyword, what):
    try:
        fn()
    except pprofdec.InvalidProfile as e:
        if keyword.lower() not in str(e).lower():
            raise AssertionError("%s: error %r does not mention %r" % (what, str(e), keyword))
        return str(e)
    raise AssertionError("%s: accepted, expected an error mentioning %r" % (what, keyword))


@timeout(300)
def test_corrupt_and_truncated_files_fail():
    _, heap = go_profiles()
    with open(heap, "rb") as f:
        good = f.read()
    t = tmpdir()

    def write(name, data):
        path = os.path.join(t, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    for cut in (10, len(good) // 3, len(good) // 2, len(good) - 9, len(good) - 4, len(good) - 1):
        path = write("trunc%d.pb.gz" % cut, good[:cut])
        _expect_invalid(lambda: pprofdec.load(path), "gzip", "gzip truncated to %d bytes" % cut)
    for pos in (len(good) // 2, len(good) - 6):
        bad = bytearray(good)
        bad[pos] ^= 0x5a
        path = write("flip%d.pb.gz" % pos, bytes(bad))
        _expect_invalid(lambda: pprofdec.load(path), "gzip", "gzip with byte %d flipped" % pos)
    _expect_invalid(lambda: pprofdec.load(write("empty.pb.gz", b"")), "empty", "empty file")
    _expect_invalid(lambda: pprofdec.load(write("junk.pb", b"\xff" * 32)), "protobuf", "junk")
    _expect_invalid(lambda: pprofdec.load(write("gzjunk.pb.gz", gzip.compress(b"\xff" * 32))),
                    "protobuf", "gzip of junk")

    # Truncation inside a length-delimited field of a raw protobuf.
    m = pprofdec.pb2().Profile()
    m.string_table.extend(["", "x" * 300])
    data = m.SerializeToString()
    for cut in (3, 100, len(data) - 1):
        path = write("rawtrunc%d.pb" % cut, data[:cut])
        _expect_invalid(lambda: pprofdec.load(path), "protobuf", "raw protobuf cut at %d" % cut)
        path = write("gztrunc%d.pb.gz" % cut, gzip.compress(data[:cut]))
        _expect_invalid(lambda: pprofdec.load(path), "protobuf", "gzip of protobuf cut at %d" % cut)

    # pprofdec's command line reports the bad file and exits 1.
    r = run([sys.executable, os.path.join(ROOT, "test", "lib", "pprofdec.py"), heap,
             os.path.join(t, "trunc10.pb.gz")], preload=False, check=False)
    assert r.returncode == 1, r
    assert "main.allocHeap" in r.stdout and "INVALID" in r.stdout, r.stdout
    r = run([sys.executable, os.path.join(ROOT, "test", "lib", "pprofdec.py"), heap], preload=False)
    assert "inuse_space" in r.stdout, r.stdout


def _mutations(m):
    """(description, mutate(msg), keyword expected in the error)."""
    idx = list(m.string_table).index

    def add_mapping(x):
        mp = x.mapping.add()
        mp.id, mp.memory_start, mp.memory_limit = 1, 0x10, 0x20

    def add_function(x):
        f = x.function.add()
        f.id = 2

    def label(x, **kw):
        lab = x.sample[0].label.add()
        for k, v in kw.items():
            setattr(lab, k, v)

    return [
        ("sample with an extra value", lambda x: x.sample[0].value.append(5), "values"),
        ("sample with a missing value", lambda x: x.sample[1].value.pop(), "values"),
        ("string_table[0] not empty", lambda x: x.string_table.__setitem__(0, "x"), "string_table[0]"),
        ("duplicate location id", lambda x: setattr(x.location[1], "id", 1), "duplicate location"),
        ("location id 0", lambda x: setattr(x.location[0], "id", 0), "reserved id 0"),
        ("mapping id 0", lambda x: setattr(x.mapping[0], "id", 0), "reserved id 0"),
        ("function id 0", lambda x: setattr(x.function[4], "id", 0), "reserved id 0"),
        ("missing function", lambda x: setattr(x.location[0].line[0], "function_id", 99), "missing function"),
        ("line function_id 0", lambda x: setattr(x.location[0].line[0], "function_id", 0), "function_id 0"),
        ("missing location", lambda x: x.sample[0].location_id.__setitem__(0, 77), "missing location"),
        ("missing mapping", lambda x: setattr(x.location[0], "mapping_id", 9), "missing mapping"),
        ("address outside mapping", lambda x: setattr(x.location[0], "address", 0x600000), "outside"),
        ("empty mapping range", lambda x: setattr(x.mapping[0], "memory_limit", 0x400000), "not below"),
        ("duplicate mapping id", add_mapping, "duplicate mapping"),
        ("duplicate function id", add_function, "duplicate function"),
        ("string index too large", lambda x: setattr(x.function[0], "name", 1000), "out of range"),
        ("negative string index", lambda x: setattr(x.sample_type[0], "unit", -1), "out of range"),
        ("bad mapping filename index", lambda x: setattr(x.mapping[0], "filename", 500), "out of range"),
        ("bad comment index", lambda x: x.comment.append(999), "out of range"),
        ("period without period_type", lambda x: x.ClearField("period_type"), "period_type"),
        ("default_sample_type not a type", lambda x: setattr(x, "default_sample_type", idx("main")),
         "default_sample_type"),
        ("drop_frames not a regex", lambda x: setattr(x, "drop_frames", idx("(unclosed")), "regex"),
        ("keep_frames not a regex", lambda x: setattr(x, "keep_frames", idx("(unclosed")), "regex"),
        ("samples without sample types", lambda x: x.ClearField("sample_type"), "sample_type"),
        ("label with empty key", lambda x: label(x, key=0, str=idx("main")), "empty key"),
        ("label with str and num", lambda x: label(x, key=idx("thread"), str=idx("main"), num=3), "both"),
        ("negative duration", lambda x: setattr(x, "duration_nanos", -1), "negative"),
    ]


def test_validate_rejects_broken_profiles():
    base = synthetic()
    pprofdec.validate(pprofdec.decode_bytes(base.SerializeToString(), "base"))
    seen = []
    for what, mutate, keyword in _mutations(base):
        m = pprofdec.pb2().Profile()
        m.CopyFrom(base)
        mutate(m)
        data = m.SerializeToString()
        p = pprofdec.decode_bytes(data, what)
        msg = _expect_invalid(lambda: pprofdec.validate(p), keyword, what)
        seen.append(msg)
    print("\n".join(seen))

    # A field profile.proto does not define (number 99, varint 1), at top
    # level and inside a sample: rejected unless allowed.
    data = base.SerializeToString() + bytes([0x98, 0x06, 0x01])
    p = pprofdec.decode_bytes(data, "unknown field")
    _expect_invalid(lambda: pprofdec.validate(p), "unknown", "unknown top-level field")
    pprofdec.validate(p, allow_unknown_fields=True)
    m = pprofdec.pb2().Profile()
    m.CopyFrom(base)
    smp = m.sample[0].SerializeToString() + bytes([0x98, 0x06, 0x01])
    m.sample[0].ParseFromString(smp)
    p = pprofdec.decode_bytes(m.SerializeToString(), "unknown sample field")
    e = _expect_invalid(lambda: pprofdec.validate(p), "unknown", "unknown sample field")
    assert "sample[0]" in e, e


def test_parse_pprof_values():
    cases = {
        "0": (0, ""), "1234": (1234, ""), "300ms": (300_000_000, "ms"), "1.50s": (1_500_000_000, "s"),
        "10.01us": (10_010, "us"), "250ns": (250, "ns"), "2hrs": (7200 * 10**9, "hrs"),
        "96B": (96, "B"), "4032.09kB": (4032.09 * 1024, "kB"), "1.25MB": (1.25 * 2**20, "MB"),
        "2GB": (2 * 2**30, "GB"), "-300ms": (-300_000_000, "ms"), "12.50": (12.5, ""),
    }
    for text, (num, unit) in cases.items():
        v = parse_value(text)
        assert v.raw == text and v.unit == unit, (text, v)
        eq_within(v.num, num, abs=1e-6 * max(1, abs(num)), what=text)
    eq_within(parse_value("4032.09kB").tol, 0.005 * 1024, rel=1e-6)
    assert parse_value("1234").tol == 0
    try:
        parse_value("abc")
    except ValueError:
        pass
    else:
        raise AssertionError("parse_value accepted 'abc'")

    text = """File: prog
Type: cpu
Time: Nov 21, 2026 at 2:47pm (UTC)
Duration: 402.63ms, Total samples = 300ms (74.51%)
Showing nodes accounting for 290ms, 96.67% of 300ms total
Dropped 3 nodes (cum <= 1.50ms)
      flat  flat%   sum%        cum   cum%
     200ms 66.67% 66.67%      200ms 66.67%  std::vector<int, std::allocator<int> >::push_back(int const&)
      80ms 26.67% 93.33%      280ms 93.33%  (anonymous namespace)::work (inline)
      10ms  3.33% 96.67%       10ms  3.33%  0x0000000000401234
         0 1.2e-05% 96.67%      290ms 96.67%  main
"""
    top = parse_top(text)
    rows, header = top                      # unpacks as (rows, header)
    assert len(rows) == 4 and header[1] == "Type: cpu", top
    assert top.type == "cpu" and top.duration_ns == 402_630_000 and top.total.num == 300_000_000
    assert rows[0].name == "std::vector<int, std::allocator<int> >::push_back(int const&)"
    assert rows[1].name == "(anonymous namespace)::work" and rows[1].inline
    assert rows[1].cum.num == 280_000_000 and rows[1].flat_pct == 26.67 and rows[1].sum_pct == 93.33
    assert rows[3].flat.num == 0 and rows[3].flat_pct == 1.2e-05
    assert top.flat("main") == 0 and top.cum("main") == 290_000_000 and top.cum("nope") == 0
    assert top.header_value("File") == "prog"
