"""Profiler labels (cprof.h): key=value sets on CPU, heap, mutex, block and
threads samples, checked against a program that knows what it did under
each set (test/progs/labels_truth.c), and the examples in C, C++ and Rust."""

import os

import pprofdec
from checks import load_checked, one, run_prog
from harness import *

MiB = 1 << 20


def by_label(p, type_name, key="handler", where=None):
    """{label value (None: unlabelled): summed value} over the samples
    (whose stack contains `where`, if given)."""
    i = p.index(type_name)
    out = {}
    for s in p.samples():
        if where and where not in s.stack:
            continue
        v = s.labels.get(key)
        out[v] = out.get(v, 0) + s.values[i]
    return out


def burned_under_a(p):
    """The CPU samples of `burn` under handler=a (the other libraries'
    label tests burn there), and their summed value."""
    ss = [s for s in p.samples() if s.stack[:1] == ["burn"] and s.labels.get("handler") == "a"]
    return ss, sum(s.values[0] for s in ss)


def run_truth():
    cp, truth = run_prog("labels_truth", env={"CPROF_HEAP_RATE": "4096", "CPROF_BLOCK_RATE": "1"})
    assert truth and truth["labels"] == 1 and truth["same"] == 1 and truth["get"] == 1, cp.stdout
    return truth


@timeout(120)
def test_labels_in_every_profile():
    """Each profile's samples carry the labels that were current where they
    were taken, in the known proportions."""
    truth = run_truth()

    # cpu: 1 unit under a, 3 under b, same function; both sets add phase=cpu.
    p = load_checked(one(kind="cpu"))
    burn = {}
    for s in p.samples():
        if "burn" in s.stack[:1]:
            key = (s.labels.get("handler"), s.labels.get("phase"))
            burn[key] = burn.get(key, 0) + s.values[0]
            assert s.labels.get("thread") == "labels_truth", s
    # The calibration run, before any set is current, is unlabelled.
    total = burn.get(("a", "cpu"), 0) + burn.get(("b", "cpu"), 0)
    assert total >= 60 and set(burn) <= {("a", "cpu"), ("b", "cpu"), (None, None)}, burn
    share_a = burn.get(("a", "cpu"), 0) / total
    share_b = burn.get(("b", "cpu"), 0) / total
    in_range(share_a, 0.17, 0.33, "cpu share of handler=a (1/4 expected)")
    in_range(share_b, 0.64, 0.82, "cpu share of handler=b (3/4 expected)")

    # heap: alloc a 30 / b 30 MiB; inuse a 15 / b 10 MiB (a's blocks freed
    # under b leave a's bucket; the rest keep a's label).
    p = load_checked(one(kind="heap"))
    alloc = by_label(p, "alloc_space", where="keep_block")
    inuse = by_label(p, "inuse_space", where="keep_block")
    eq_within(alloc.get("a", 0), truth["alloc_a"], rel=0.05, what="alloc_space handler=a")
    eq_within(alloc.get("b", 0), truth["alloc_b"], rel=0.05, what="alloc_space handler=b")
    eq_within(inuse.get("a", 0), truth["inuse_a"], rel=0.05, what="inuse_space handler=a")
    eq_within(inuse.get("b", 0), truth["inuse_b"], rel=0.05, what="inuse_space handler=b")
    assert alloc.get(None, 0) < 0.01 * (truth["alloc_a"] + truth["alloc_b"]), alloc
    for s in p.samples():
        assert "bytes" in s.num_labels, s

    # mutex: the holder (handler=a) ends the critical sections; block: the
    # waiter (handler=b) waits in wait_for_lock.
    p = load_checked(one(kind="mutex"))
    mutex = by_label(p, "delay", where="long_unlock")
    assert set(mutex) == {"a"}, mutex
    eq_within(mutex["a"], truth["waited_ns"], rel=0.25, what="mutex delay handler=a")
    p = load_checked(one(kind="block"))
    block = by_label(p, "delay", where="wait_for_lock")
    assert set(block) == {"b"}, block
    eq_within(block["b"], truth["waited_ns"], rel=0.15, what="block delay handler=b")

    # threads: the parked thread under handler=idle, the others unlabelled.
    p = load_checked(one(kind="threads"))
    seen = {s.labels.get("thread"): s.labels.get("handler") for s in p.samples()}
    assert seen.get("parker") == "idle", seen
    assert seen.get("labels_truth") is None, seen


@timeout(120)
def test_labels_with_go_tool_pprof():
    """go tool pprof -tagfocus selects a label set's samples; -tags lists the
    labels with their shares."""
    truth = run_truth()
    heap = one(kind="heap")
    top = pprof_top(heap, ["-tagfocus=handler=a", "-sample_index=inuse_space"])
    eq_within(top.flat("keep_block"), truth["inuse_a"], rel=0.05, abs=0.01 * MiB,
              what="pprof -tagfocus=handler=a inuse_space")
    top = pprof_top(heap, ["-tagfocus=handler=b", "-sample_index=alloc_space"])
    eq_within(top.flat("keep_block"), truth["alloc_b"], rel=0.05, abs=0.01 * MiB,
              what="pprof -tagfocus=handler=b alloc_space")
    top = pprof_top(one(kind="block"), ["-tagfocus=handler=b"])
    assert "wait_for_lock" in top.names(), top.rows
    tags = pprof(["-tags", one(kind="cpu")])
    assert "handler:" in tags and "phase:" in tags, tags
    top = pprof_top(one(kind="cpu"), ["-tagfocus=phase=cpu"])
    assert top.names()[:1] == ["burn"], top.rows[:3]
    top = pprof_top(one(kind="threads"), ["-tagfocus=handler=idle"])
    assert "parked_here" in top.names(), top.rows


def test_labels_without_cprof():
    """Without libcprof.so the weak calls return 0 and the program runs as
    it would: same work, no profile."""
    cp = run([prog("labels_truth")], preload=False, timeout=60)
    line = [l for l in cp.stdout.splitlines() if l.startswith("{")][-1]
    assert '"labels": 0' in line and '"same": 1' in line, cp.stdout
    assert profiles(tmpdir()) == [], profiles(tmpdir())


def _example(name, key, heavy, light, profile="cpu"):
    """Run an example under cprof and without it; its `profile` samples
    carry `key`, the heavy value with about twice or more the light's."""
    cp = run([prog(name)], timeout=60)
    assert "labels on" in cp.stdout, cp.stdout
    p = load_checked(one(kind=profile))
    shares = by_label(p, p.sample_types[-1][0], key=key)
    assert shares.get(heavy, 0) > 1.4 * shares.get(light, 0) > 0, shares
    bare = run([prog(name)], preload=False, timeout=60)
    assert "labels off" in bare.stdout, bare.stdout
    return p


@timeout(120)
def test_example_c():
    p = _example("labels_example", "handler", "search", "upload")
    assert all(s.labels.get("tier") == "web" for s in p.samples() if "handler" in s.labels)


@timeout(120)
def test_example_cxx():
    _example("labels_example_cxx", "pool", "slow", "fast")
    heap = load_checked(one(kind="heap"))
    assert set(by_label(heap, "alloc_space", key="pool")) >= {"slow", "fast"}


@timeout(120)
def test_example_rust():
    if not os.access(os.path.join(PROGS, "labels_example_rs"), os.X_OK):
        raise Skip("rustc not installed (sh scripts/deps.sh test installs it)")
    _example("labels_example_rs", "job", "encode", "resize")


@timeout(120)
def test_opentelemetry_thread_context():
    """Trace and span ids an OpenTelemetry SDK publishes in otel_thread_ctx_v1
    (OTEP 4947, here defined by libotelctx.so) become trace_id and span_id
    labels next to the program's own, on CPU, heap and threads samples; a
    record whose valid byte is not 1, or none, adds nothing."""
    cp, truth = run_prog("otel_ctx", env={"CPROF_HEAP_RATE": "4096"})
    span1, span2, span3 = truth["span1"], truth["span2"], truth["span3"]
    trace_of = {span1: truth["trace1"], span2: truth["trace2"], span3: truth["trace3"]}

    p = load_checked(one(kind="cpu"))
    cpu = {}
    samples, labelled = burned_under_a(p)
    for s in samples:
        span = s.labels.get("span_id")
        if span is not None:
            assert s.labels.get("trace_id") == trace_of.get(span), s
        cpu[span] = cpu.get(span, 0) + s.values[0]
    # 1 unit in span 1, 2 in span 2, 2 without ids (invalid record, none).
    assert set(cpu) <= {span1, span2, None} and labelled >= 25, cpu
    in_range(cpu.get(span1, 0) / labelled, 0.1, 0.32, "cpu share of span 1 (1/5)")
    in_range(cpu.get(span2, 0) / labelled, 0.27, 0.53, "cpu share of span 2 (2/5)")
    in_range(cpu.get(None, 0) / labelled, 0.27, 0.53, "cpu share without ids (2/5)")

    p = load_checked(one(kind="heap"))
    heap = by_label(p, "alloc_space", key="span_id", where="keep")
    eq_within(heap.get(span1, 0), 10 * MiB, rel=0.05, what="alloc_space in span 1")
    eq_within(heap.get(span2, 0), 20 * MiB, rel=0.05, what="alloc_space in span 2")
    for s in p.samples():
        if "keep" in s.stack:
            assert s.labels.get("handler") == "a" and s.labels.get("trace_id") == trace_of[s.labels["span_id"]], s

    p = load_checked(one(kind="threads"))
    parked = [s for s in p.samples() if "parked_in_span" in s.stack]
    assert len(parked) == 1 and parked[0].labels.get("span_id") == span3, parked
    assert parked[0].labels.get("trace_id") == truth["trace3"], parked

    top = pprof_top(one(kind="cpu"), ["-tagfocus=span_id=" + span2])
    assert top.names()[:1] == ["burn"], top.rows[:3]


@timeout(120)
def test_custom_labels_abi():
    """Labels published through Polar Signals' custom-labels ABI v1
    (libcustomlabels.so) join the program's own on CPU, heap and threads
    samples; the ABI's rules hold (an absent key is ignored, the first
    value of a key wins) and a value too long for cprof is left out."""
    run_prog("custom_labels", env={"CPROF_HEAP_RATE": "4096"})
    p = load_checked(one(kind="cpu"))
    cpu = {}
    samples, labelled = burned_under_a(p)
    for s in samples:
        who = s.labels.get("customer")
        cpu[who] = cpu.get(who, 0) + s.values[0]
        assert "note" not in s.labels and (who is None or s.labels.get("region") == "eu"), s
    # 1 unit acme, 2 globex, 1 without.
    assert set(cpu) <= {"acme", "globex", None} and labelled >= 25, cpu
    in_range(cpu.get("acme", 0) / labelled, 0.12, 0.4, "cpu share of customer=acme (1/4)")
    in_range(cpu.get("globex", 0) / labelled, 0.35, 0.65, "cpu share of customer=globex (2/4)")

    p = load_checked(one(kind="heap"))
    heap = by_label(p, "alloc_space", key="customer", where="keep")
    eq_within(heap.get("acme", 0), 10 * MiB, rel=0.05, what="alloc_space customer=acme")
    eq_within(heap.get("globex", 0), 20 * MiB, rel=0.05, what="alloc_space customer=globex")

    p = load_checked(one(kind="threads"))
    parked = [s for s in p.samples() if "parked_with_labels" in s.stack]
    assert len(parked) == 1 and parked[0].labels.get("customer") == "initech", parked


@timeout(90)
def test_labels_over_http():
    """The profiles served over HTTP carry the labels too, and
    goroutine?debug=1 prints a thread's labels as Go prints a goroutine's
    (# labels: {"handler":"idle"}), its stack grouped apart from the same
    stack under other labels."""
    from test_http import fetch, serve
    p, base = serve("labels_truth", args=["serve"], env={"CPROF_HEAP_RATE": "4096"})
    try:
        r = fetch(base + "/debug/pprof/goroutine?debug=1")
        assert r.status == 200, r
        blocks = r.text.split("\n\n")
        parked = [b for b in blocks if "parked_here" in b]
        assert len(parked) == 1 and '# labels: {"handler":"idle"}' in parked[0], r.text[:3000]
        r = fetch(base + "/debug/pprof/heap")
        assert r.status == 200, r
        path = os.path.join(tmpdir(), "heap.pb.gz")
        with open(path, "wb") as f:
            f.write(r.body)
        heap = by_label(load_checked(path), "inuse_space", where="keep_block")
        assert heap.get("a", 0) > 10 * MiB and heap.get("b", 0) > 5 * MiB, heap
    finally:
        p.stop()
