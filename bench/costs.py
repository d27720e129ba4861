"""Counted costs: the instructions cprof adds to an allocation, counted by
callgrind rather than timed, so that a regression of a few instructions is
visible on a machine whose timings move by ten percent from run to run.

Two figures, each the difference between two runs of the same program
under `valgrind --tool=callgrind`, counting only inside the workload's own
function (--toggle-collect), so start-up and the exit dump are left out:

- per malloc+free pair: `malloc_pair N 64`, inside loop(): the run with
  cprof's heap hooks armed but never sampling (CPROF_PROFILES=heap,
  CPROF_HEAP_RATE=0) minus the bare run, divided by the pairs made; and the
  same with the default rate, where the pair also carries its share of the
  samples (one per 512 KiB allocated);
- per heap sample: `malloc_mix 1 OPS`, inside worker(): the run at the
  default rate minus the run at rate 0, divided by the samples taken (the
  calls of heap_record_alloc that callgrind counted);
- per label set+restore pair: `labels_pair N`, inside loop(): the run
  under cprof (CPROF_PROFILES=none: the pair's cost does not depend on the
  profiles) minus the bare run, where the weak calls are skipped, divided
  by N.

Per sample, callgrind's cache simulation also counts the first-level data
misses the sample adds (the whole program's: misses a sample causes later
in the program's own code count too; last-level misses are too few to
tell from the variation between runs).  callgrind runs
one thread at a time on a simulated cache, so these are counts, not time:
what they cannot show (two threads sharing tables, the real machine's
caches) the timed rows of `make bench` do.
"""

import os
import re
import subprocess
import tempfile

PAIR_ITERS = 200000     # malloc_pair's timed pairs; it makes a tenth more as warm-up
PAIR_SIZE = 64
MIX_OPS = 400000
LABEL_ITERS = 200000


def _callgrind(cmd, env, fn, tmp):
    """({event: count inside fn}, {function name: calls counted}).  Events:
    Ir (instructions), and from callgrind's cache simulation D1 (first-level
    data misses, D1mr + D1mw) and LL (last-level data misses, DLmr + DLmw)."""
    out = os.path.join(tmp, "callgrind.out")
    full = ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--toggle-collect=" + fn,
            "--callgrind-out-file=" + out] + cmd
    subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    events, total, calls, names, current = [], {}, {}, {}, None
    with open(out) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
                continue
            m = re.match(r"(summary|totals):((?: \d+)+)", line)
            if m:
                v = dict(zip(events, (int(x) for x in m.group(2).split())))
                total = {"Ir": v.get("Ir", 0), "D1": v.get("D1mr", 0) + v.get("D1mw", 0),
                         "LL": v.get("DLmr", 0) + v.get("DLmw", 0)}
                continue
            # Function ids are shared by fn= and cfn= lines: the first one
            # to mention an id names it (callgrind's name compression).
            m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3).strip()
                current = names.get(m.group(2)) if m.group(1) else None
                continue
            m = re.match(r"calls=(\d+)", line)
            if m and current:
                calls[current] = calls.get(current, 0) + int(m.group(1))
    return total, calls


def baseline():
    """The figures of an earlier version to compare with (counted-baseline.json
    beside this file), or None."""
    import json
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "counted-baseline.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def measure(bindir, lib):
    """The counted costs, or None when valgrind is missing."""
    if subprocess.run(["sh", "-c", "command -v valgrind"], stdout=subprocess.DEVNULL).returncode != 0:
        return None
    base = dict(os.environ, CPROF_QUIET="1")
    base.pop("LD_PRELOAD", None)
    with tempfile.TemporaryDirectory(prefix="cprof-costs-") as tmp:
        base["CPROF_OUTPUT"] = os.path.join(tmp, "cprof.%p.%t.pb.gz")
        hooks = dict(base, LD_PRELOAD=lib, CPROF_PROFILES="heap", CPROF_HEAP_RATE="0")
        heap = dict(base, LD_PRELOAD=lib, CPROF_PROFILES="heap")
        pair = [os.path.join(bindir, "malloc_pair"), str(PAIR_ITERS), str(PAIR_SIZE)]
        pairs = PAIR_ITERS + PAIR_ITERS // 10
        bare_ir, _ = _callgrind(pair, base, "loop", tmp)
        hooks_ir, _ = _callgrind(pair, hooks, "loop", tmp)
        heap_ir, _ = _callgrind(pair, heap, "loop", tmp)
        mix = [os.path.join(bindir, "malloc_mix"), "1", str(MIX_OPS)]
        mix0_ir, _ = _callgrind(mix, hooks, "worker", tmp)
        mix_ir, calls = _callgrind(mix, heap, "worker", tmp)
        lab = [os.path.join(bindir, "labels_pair"), str(LABEL_ITERS)]
        lab_bare, _ = _callgrind(lab, base, "loop", tmp)
        lab_on, _ = _callgrind(lab, dict(base, LD_PRELOAD=lib, CPROF_PROFILES="none"), "loop", tmp)
    samples = calls.get("heap_record_alloc", 0)
    per = lambda a, b, n, e: (a[e] - b[e]) / n if n else None
    return {
        "pair_bare": bare_ir["Ir"] / pairs,
        "pair_hooks": per(hooks_ir, bare_ir, pairs, "Ir"),
        "pair_sampling": per(heap_ir, bare_ir, pairs, "Ir"),
        "mix_samples": samples,
        "mix_ops": MIX_OPS,
        "per_sample": per(mix_ir, mix0_ir, samples, "Ir"),
        "per_sample_d1": per(mix_ir, mix0_ir, samples, "D1"),
        "labels_bare": lab_bare["Ir"] / LABEL_ITERS,
        "labels_pair": per(lab_on, lab_bare, LABEL_ITERS, "Ir"),
    }


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(measure(sys.argv[1], sys.argv[2]), indent=1))
