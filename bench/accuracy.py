"""accuracy - read each profiler's output back and compare it with the truth.

Ground truth comes from the test programs: heap_truth prints, per
allocation site, the bytes and objects it allocated and still holds at exit;
cpu_truth prints the CPU time of each burn_* function (its thread's CPU time
split by the units of identical work each function ran) and the process's
getrusage total.

Readers (one per output format, all reduced to plain dicts):
  cprof             test/lib/pprofdec.py (the independent decoder)
  jemalloc          its heap_v2 text is rewritten into the legacy
                    "heap profile:" text that pprof reads, once with the live
                    counts and once with the cumulative ones (prof_accum), and
                    converted with `go tool pprof -proto`; pprof applies the
                    Poisson unbiasing to heap_v2 samples, as jeprof does
  gperftools heap   `go tool pprof -proto` of the final .heap file
  gperftools CPU    `go tool pprof -proto` of the profile
  heaptrack         `heaptrack_print -F` stacks, cost "allocations" (calls)
                    and "leaked" (bytes live at exit); heaptrack keeps no
                    per-site total of allocated bytes
  perf              `perf report --no-children --sort sym -F period,sym`
                    (cpu-clock periods are nanoseconds)

A heap sample is charged to the first frame, leaf first, whose function name
starts with "site_"; a CPU sample to its leaf function.
"""

import math
import os
import re
import subprocess

SITE_RE = re.compile(r"^(site_[a-z]+)")


def _site(stack):
    for name in stack:
        m = SITE_RE.match(name)
        if m:
            return m.group(1)
    return None


def _pprofdec():
    import pprofdec
    return pprofdec


def pprof_to_proto(binary, src, dst):
    """`go tool pprof -proto` of a legacy profile, symbolized with binary."""
    r = subprocess.run(["go", "tool", "pprof", "-proto", "-output", dst, binary, src],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0 or not os.path.exists(dst):
        raise RuntimeError("go tool pprof failed on %s: %s" % (src, r.stderr.strip()[:300]))
    return dst


def sites_from_pprof(path, types):
    """{site: {out_name: value}} summing the sample types named in `types`
    ({profile type: output name})."""
    p = _pprofdec().load(path)
    idx = {}
    for t, name in types.items():
        try:
            idx[name] = p.index(t)
        except KeyError:
            pass
    out = {}
    for s in p.samples():
        site = _site(s.stack)
        if site is None:
            continue
        d = out.setdefault(site, {})
        for name, i in idx.items():
            d[name] = d.get(name, 0) + s.values[i]
    return out


HEAP_TYPES = {"alloc_objects": "alloc_objects", "alloc_space": "alloc_bytes",
              "inuse_objects": "inuse_objects", "inuse_space": "inuse_bytes"}


def cprof_heap(path):
    return sites_from_pprof(path, HEAP_TYPES)


def gperf_heap(binary, path, tmp):
    return sites_from_pprof(pprof_to_proto(binary, path, os.path.join(tmp, "gpheap.pb.gz")),
                            HEAP_TYPES)


def _je_legacy(src, dst, accum):
    """Rewrite a jemalloc heap_v2 profile as a legacy heap profile holding
    the live (accum=False) or cumulative (accum=True) counts."""
    with open(src, errors="replace") as f:
        lines = f.read().split("\n")
    m = re.match(r"heap_v2/(\d+)", lines[0])
    if not m:
        raise RuntimeError("%s: not a jemalloc heap_v2 profile" % src)
    rate = m.group(1)
    samples, maps, stack = [], [], None
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("MAPPED_LIBRARIES:"):
            maps = lines[i:]
            break
        line = line.strip()
        if line.startswith("@"):
            stack = line[1:].strip()
            continue
        mm = re.match(r"t\*:\s*(\d+):\s*(\d+)\s*\[\s*(\d+):\s*(\d+)\s*\]", line)
        if mm and stack is not None:
            n, b = (mm.group(3), mm.group(4)) if accum else (mm.group(1), mm.group(2))
            if n != "0":
                samples.append("%s: %s [%s: %s] @ %s" % (n, b, n, b, stack))
    with open(dst, "w") as f:
        f.write("heap profile: 0: 0 [0: 0] @ heap_v2/%s\n" % rate)
        f.write("\n".join(samples) + "\n\n")
        f.write("\n".join(maps))


def jemalloc_heap(binary, path, tmp):
    out = {}
    for accum, prefix in ((False, "inuse"), (True, "alloc")):
        legacy = os.path.join(tmp, "je-%s.heap" % prefix)
        _je_legacy(path, legacy, accum)
        proto = pprof_to_proto(binary, legacy, os.path.join(tmp, "je-%s.pb.gz" % prefix))
        got = sites_from_pprof(proto, {"objects": prefix + "_objects", "space": prefix + "_bytes",
                                       "inuse_objects": prefix + "_objects",
                                       "inuse_space": prefix + "_bytes"})
        for site, d in got.items():
            out.setdefault(site, {}).update(d)
    return out


def heaptrack_heap(path, tmp):
    out = {}
    for cost, name in (("allocations", "alloc_objects"), ("leaked", "inuse_bytes")):
        st = os.path.join(tmp, "ht-%s.txt" % cost)
        r = subprocess.run(["heaptrack_print", "-f", path, "--flamegraph-cost-type", cost,
                            "-F", st], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        if r.returncode != 0 or not os.path.exists(st):
            raise RuntimeError("heaptrack_print failed: %s" % r.stderr.strip()[:300])
        with open(st, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                stack, _, value = line.rpartition(" ")
                # root first, frames "name (file)" separated by ';'
                frames = [fr.split(" (")[0] for fr in stack.rstrip(";").split(";")]
                site = _site(list(reversed(frames)))
                if site is None or not value.isdigit():
                    continue
                d = out.setdefault(site, {})
                d[name] = d.get(name, 0) + int(value)
    return out


# ---------------------------------------------------------------- expected error

def heap_truth_spec(scale, threads):
    """Sizes and counts of heap_truth's allocations, mirrored from
    test/progs/heap_truth.c: {site: (alloc list of (size, count), live list)}.
    Used only for the expected sampling error; check_spec() compares it with
    the program's own totals and drops any site that disagrees."""
    mixed = [(16 + k * 512 + 256, 4000 * scale / 128.0) for k in range(128)]
    realloc_sizes = [64 << k for k in range(15)]
    return {
        "site_keep": ([(4096, 5000 * scale)], [(4096, 5000 * scale)]),
        "site_churn": ([(1000, 20000 * scale)], []),
        "site_mixed": (mixed, [(s, c / 2) for s, c in mixed]),
        "site_realloc": ([(s, 40 * scale) for s in realloc_sizes], [(1 << 20, 40 * scale)]),
        "site_calloc": ([(3000, 3000 * scale)], [(3000, 3000 * scale)]),
        "site_huge": ([(256 << 20, 1)], [(256 << 20, 1)]),
        "site_thread": ([(2048, 4000 * scale * threads)], [(2048, 4000 * scale * threads)]),
    }


def expected_rel_sd(objs, rate):
    """Relative standard deviation of the unbiased Poisson-sampling estimate
    of the total bytes of objects [(size, count)]: each object of size s is
    sampled with p = 1 - exp(-s/R) and counted s/p bytes, so the estimate's
    variance is sum(count * s^2 * (1 - p) / p)."""
    total = sum(s * c for s, c in objs)
    if total <= 0:
        return None
    var = 0.0
    for s, c in objs:
        p = -math.expm1(-s / float(rate))
        var += c * s * s * (1 - p) / p
    return math.sqrt(var) / total


def expected_rel_sd_count(objs, rate):
    """Relative standard deviation of the estimated object count: each
    sampled object counts 1/p, so the variance is sum(count * (1 - p) / p).
    Small objects are rarely sampled and weigh a lot when they are, so a
    site of small objects has a large error in its count."""
    total = sum(c for _, c in objs)
    if total <= 0:
        return None
    var = 0.0
    for s, c in objs:
        p = -math.expm1(-s / float(rate))
        var += c * (1 - p) / p
    return math.sqrt(var) / total


def check_spec(spec, truth):
    """Keep the sites whose spec object counts match the truth (sizes of the
    random mixed site are an approximation: only its count is checked)."""
    ok = {}
    for site, (alloc, live) in spec.items():
        t = truth.get(site)
        if not t:
            continue
        if abs(sum(c for _, c in alloc) - t["alloc_objects"]) > 0.5:
            continue
        if abs(sum(c for _, c in live) - t["inuse_objects"]) > 0.5:
            continue
        ok[site] = (alloc, live)
    return ok


# ---------------------------------------------------------------- CPU

def cprof_cpu(path):
    p = _pprofdec().load(path)
    return p.flat("cpu"), p.total("cpu")


def gperf_cpu(binary, path, tmp):
    proto = pprof_to_proto(binary, path, os.path.join(tmp, "gpcpu.pb.gz"))
    p = _pprofdec().load(proto)
    return p.flat("cpu"), p.total("cpu")


def perf_cpu(path):
    r = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "--sort",
                        "sym", "-g", "none", "--percent-limit", "0", "-F", "period,sym"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("perf report failed: %s" % r.stderr.strip()[:300])
    flat, total = {}, 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+\[[.k]\]\s+(\S+)", line)
        if m:
            v = int(m.group(1))
            flat[m.group(2)] = flat.get(m.group(2), 0) + v
            total += v
    return flat, total
