"""Self-test of make bench's statistics (bench/measure.py, bench/report.py,
bench/run.py): the median's confidence interval, the target verdicts that
use it, and the summaries a page rendered again from results.json computes
from the runs it keeps.  Nothing is measured or preloaded."""

import copy
import math
import os
import random
import sys

from harness import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import measure  # noqa: E402
import report  # noqa: E402
import run as bench_run  # noqa: E402


def test_median_interval_ranks():
    # Of 41 values the 14th and the 28th; of 9 the 2nd and the 8th; none
    # of 5 (even min .. max holds the median with probability 15/16 only).
    assert measure.median_interval(list(range(41))) == (13, 27)
    assert measure.median_interval(list(range(9))) == (1, 7)
    assert measure.median_interval(list(range(5))) == (None, None)
    assert measure.median_interval([None, 3, 1, 2, None, 5, 4, 6]) == (1, 6)


def test_median_interval_holds_the_true_median():
    """Repetitions drawn from skewed distributions whose median is known:
    the interval holds it at least 95% of the time (exactly 97.0% for 41
    values, 96.5% for 15), and is not so wide that it always does."""
    rng = random.Random(7)
    cases = ((41, lambda: rng.lognormvariate(0.0, 0.3), 1.0),
             (15, lambda: rng.expovariate(1.0), math.log(2.0)))
    for n, draw, true_median in cases:
        trials = 2000
        held = 0
        for _ in range(trials):
            lo, hi = measure.median_interval([draw() for _ in range(n)])
            held += lo <= true_median <= hi
        assert 0.94 * trials <= held <= 0.995 * trials, (n, held)


def malloc_results(ratios, cpu_ratios=None):
    """A results dictionary with the section of the heap targets
    (malloc-heap), as bench/run.py keeps it: runs by repetition, each
    with the bare run next to it, summarized from them."""
    cpu_ratios = cpu_ratios or ratios
    bare = [{"wall": 1.0, "cpu": 2.0, "maxrss": 100} for _ in ratios]
    mine = [{"wall": r, "cpu": 2.0 * c, "maxrss": 120} for r, c in zip(ratios, cpu_ratios)]
    sec = {"metric": "wall", "adjacent": True,
           "configs": {"bare": {"runs": bare},
                       "cprof-heap": {"runs": mine, "bare_runs": bare}}}
    results = {"sections": {"malloc-heap": sec}}
    bench_run.summarize_again(results)
    return results


def heap_verdict(results, metric=None):
    t = next(t for t in report.TARGETS
             if t["id"] == ("heap-5pct-cpu" if metric == "cpu" else "heap-5pct-wall"))
    return report.verdict(results, t)[2]


def test_verdicts_say_when_the_limit_is_inside_the_interval():
    rng = random.Random(3)
    # Tight around +2%: below the 5% limit, interval and all.
    tight = [1.02 + rng.uniform(-0.01, 0.01) for _ in range(41)]
    assert heap_verdict(malloc_results(tight)) == "PASS"
    # Tight around +8%: above it.
    assert heap_verdict(malloc_results([r + 0.06 for r in tight])) == "FAIL"
    # Median +4% but repetitions from -15% to +24%: the median passes,
    # the interval reaches past the limit.
    wide = ([0.85 + 0.19 * i / 20 for i in range(20)] + [1.04] +
            [1.05 + 0.2 * i / 20 for i in range(20)])
    rng.shuffle(wide)
    v = heap_verdict(malloc_results(wide))
    assert v.startswith("PASS (not settled: the median's 95% interval is "), v
    lo, hi = measure.median_interval(wide)
    assert "%s .. %s" % (report.pct(lo), report.pct(hi)) in v, v
    # The CPU time target reads the CPU ratios.
    res = malloc_results(tight, [r + 0.06 for r in tight])
    assert heap_verdict(res) == "PASS"
    assert heap_verdict(res, "cpu") == "FAIL"


def test_summaries_computed_again_are_the_runs_summaries():
    """A page rendered from a results.json of an earlier run (whose
    summaries lack the interval) shows what a new run would have."""
    rng = random.Random(5)
    results = malloc_results([1.0 + rng.uniform(-0.1, 0.2) for _ in range(41)])
    entry = results["sections"]["malloc-heap"]["configs"]["cprof-heap"]
    fresh = copy.deepcopy(entry)
    for key in ("ratio", "cpu_ratio", "value", "maxrss"):
        for field in ("lo95", "hi95"):
            del entry[key][field]
        entry[key]["median"] = -1.0
    bench_run.summarize_again(results)
    assert entry == fresh
    ratios = [m["wall"] for m in entry["runs"]]
    assert entry["ratio"]["median"] == measure.median(ratios)
    assert (entry["ratio"]["lo95"], entry["ratio"]["hi95"]) == measure.median_interval(ratios)


def test_adjacent_schedule_pairs_every_run_with_a_bare_run():
    """In a section of adjacent pairs (the heap targets'), each
    configuration other than bare runs once a repetition, right next to a
    bare run of its own, and bare runs first in about half of each
    configuration's pairs; without pairs every configuration runs once."""
    keys = ["bare", "cprof-heap", "cprof-heap-hooks", "null-interposer"]
    rng = random.Random(1)
    first = {k: 0 for k in keys[1:]}
    reps = 400
    for r in range(reps):
        seq = bench_run.schedule(keys, r, rng, True)
        assert len(seq) == 2 * (len(keys) - 1), seq
        pairs = [seq[i:i + 2] for i in range(0, len(seq), 2)]
        assert sorted(next(k for k, p in pair if p is None) for pair in pairs) == sorted(keys[1:])
        for pair in pairs:
            (k1, p1), (k2, p2) = pair
            if k1 == "bare":
                assert p1 == k2 and p2 is None, pair
                first[k2] += 1
            else:
                assert (k2, p2) == ("bare", k1) and p1 is None, pair
    for k, n in first.items():
        assert 0.4 * reps <= n <= 0.6 * reps, (k, n)
    seq = bench_run.schedule(keys, 0, rng, False)
    assert sorted(k for k, _ in seq) == sorted(keys) and all(p is None for _, p in seq)


def test_adjacent_ratios_use_the_bare_run_next_to_them():
    """A configuration's ratios are taken against its own bare runs, not
    the bare row's (which, in a section of pairs, holds every bare run)."""
    mine = [{"wall": 1.1 * b, "cpu": 1.1 * b} for b in (1.0, 2.0, 1.5, 1.2, 0.9, 1.7, 1.3)]
    own = [{"wall": b, "cpu": b} for b in (1.0, 2.0, 1.5, 1.2, 0.9, 1.7, 1.3)]
    other = [{"wall": 1.0, "cpu": 1.0} for _ in own]
    sec = {"metric": "wall", "adjacent": True,
           "configs": {"bare": {"runs": other + own},
                       "cprof-heap": {"runs": mine, "bare_runs": own}}}
    bench_run.summarize_again({"sections": {"malloc-heap": sec}})
    ratio = sec["configs"]["cprof-heap"]["ratio"]
    assert abs(ratio["median"] - 1.1) < 1e-9 and abs(ratio["max"] - 1.1) < 1e-9, ratio
