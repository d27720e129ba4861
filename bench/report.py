"""report - turn bench/run.py's results into docs/performance.md.

Everything printed here is computed from the results dictionary (also saved
as <build>/bench/results.json); the only hand-written text is
bench/method.md (how it is measured), included verbatim, and the short
explanations in NOTES below, which are attached only where the measurements
show cprof behind another profiler.
"""


import costs
import measure

# ---------------------------------------------------------------- targets

TARGETS = [
    {"id": "heap-3pct", "text": "heap profile at 512 KiB within 3% of bare",
     "section": "malloc-heap", "config": "cprof-heap", "kind": "overhead", "limit": 0.03},
    {"id": "heap-5pct-wall", "text": "heap profile at 512 KiB within 5% of bare: wall time",
     "section": "malloc-heap", "config": "cprof-heap", "kind": "overhead", "limit": 0.05},
    {"id": "heap-5pct-cpu", "text": "heap profile at 512 KiB within 5% of bare: CPU time",
     "section": "malloc-heap", "config": "cprof-heap", "kind": "overhead", "limit": 0.05,
     "metric": "cpu_ratio"},
    {"id": "cpu-1pct", "text": "CPU profile at 100 Hz within 1% of bare",
     "section": "cpu", "config": "cprof-cpu", "kind": "overhead", "limit": 0.01},
    {"id": "lock-5ns", "text": "uncontended lock+unlock pair: +5 ns at most (all profiles)",
     "section": "lock-pair", "config": "cprof-all", "kind": "diff", "limit": 5.0},
    {"id": "lock-5ns-lock", "text": "uncontended lock+unlock pair: +5 ns at most (mutex,block)",
     "section": "lock-pair", "config": "cprof-lock", "kind": "diff", "limit": 5.0},
    {"id": "lock-3pct", "text": "mutex and block profiles within 3% of bare: lock-contended",
     "section": "lock-contended", "config": "cprof-lock", "kind": "overhead", "limit": 0.03},
] + [
    {"id": "all-5pct-" + s, "text": "all profiles within 5%% of bare: %s" % s,
     "section": s, "config": "cprof-all", "kind": "overhead", "limit": 0.05}
    for s in ("malloc", "lock-contended", "cpu", "sqlite", "python")
] + [
    {"id": "redis-97", "text": "all profiles: at least 97% of bare redis throughput",
     "section": "redis", "config": "cprof-all", "kind": "throughput", "limit": 0.97},
    {"id": "dump-200ms", "text": "dump of 100,000 distinct stacks under 200 ms (at exit)",
     "section": "growth-stacks", "kind": "dump", "limit": 200.0, "n": 100000},
    {"id": "dump-200ms-signal", "text": "dump of 100,000 distinct stacks under 200 ms (SIGUSR2)",
     "section": "growth-stacks", "kind": "dump-signal", "limit": 200.0, "n": 100000},
    {"id": "short-1ms-wall", "text": "all profiles: /bin/true costs at most 1 ms more per process "
     "(wall)", "section": "short-lived", "config": "cprof-all", "kind": "short",
     "metric": "diff_wall", "limit": 0.001},
    {"id": "short-1ms-cpu", "text": "all profiles: /bin/true costs at most 1 ms more per process "
     "(CPU time)", "section": "short-lived", "config": "cprof-all", "kind": "short",
     "metric": "diff_cpu", "limit": 0.001},
]

# Which cprof configuration is compared with which other profiler: a
# profiler is compared with the cprof profile that does the same job.
COMPARE = [("cprof-heap", "jemalloc-prof"), ("cprof-heap", "tcmalloc-sample"),
           ("cprof-heap", "heaptrack"), ("cprof-cpu", "gperf-cpu"), ("cprof-cpu", "perf")]

# Explanations for rows where cprof is measured behind another profiler,
# keyed by (cprof configuration, other profiler); written from measurements
# (see bench/method.md, "Reading the notes").  A row found behind without an
# entry here is reported as "unexplained".
NOTES = {
    (None, "cprof-heap", "jemalloc-prof"):
        "How they differ: jemalloc samples inside its own allocator, so the byte countdown is "
        "part of its allocation fast path and a sampled block is marked in the allocator's own "
        "metadata: its free() needs no lookup.  cprof sits in front of glibc's malloc: every "
        "call goes through its wrapper (one more call, and an indirect call to the real "
        "function), and every free() must ask cprof's table of sampled pointers whether the "
        "block was sampled (heapprof.h: one load when the pointer's shard is empty, a "
        "seqlock-protected probe when it is not).",
    (None, "cprof-heap", "tcmalloc-sample"):
        "How they differ: tcmalloc samples inside its own allocator (the countdown is in its "
        "fast path, a sampled block is flagged in its span metadata), so its free() needs no "
        "lookup.  cprof sits in front of glibc's malloc: every call goes through its wrapper, "
        "and every free() must ask cprof's table of sampled pointers whether the block was "
        "sampled.",
    ("malloc", "cprof-cpu", "gperf-cpu"):
        "How they differ: a preloaded cprof sits in front of malloc and free whatever profiles "
        "are on (with the heap profile off its wrappers only forward the call), so on a "
        "workload that does nothing but allocate, the CPU profile carries the wrappers' cost, "
        "which the row \"cprof heap, hooks only\" measures alone; gperftools' CPU profiler "
        "does not wrap the allocator.",
    (None, "cprof-cpu", "perf"):
        "How they differ: perf record takes its samples in the kernel and writes them from its "
        "own process, so nothing runs in the program's threads; cprof interrupts the sampled "
        "thread with a signal and unwinds its stack there.",
}

BEHIND_MARGIN = 0.01     # 1 percentage point (wall, throughput)
BEHIND_MARGIN_NS = 1.0   # ns per operation


# ---------------------------------------------------------------- formatting

def pct(r, signed=True):
    if r is None:
        return "-"
    return ("%+.1f%%" if signed else "%.1f%%") % (100.0 * (r - 1.0) if signed else 100.0 * r)


def ratio_cell(s, metric):
    """A paired-ratio summary: overhead (or throughput share) with spread."""
    if not s:
        return "-"
    if metric == "rps":
        return "%.1f%% (%.1f .. %.1f)" % (100 * s["median"], 100 * s["min"], 100 * s["max"])
    return "%s (%s .. %s)" % (pct(s["median"]), pct(s["min"]), pct(s["max"]))


def diff_cell(s):
    if not s:
        return "-"
    return "%+.2f ns (%+.2f .. %+.2f)" % (s["median"], s["min"], s["max"])


def value_cell(v, metric):
    if v is None:
        return "-"
    if metric == "ns_per_op":
        return "%.2f ns" % v
    if metric == "rps":
        return "%.0f req/s" % v
    return "%.3f s" % v


def mib(kib):
    return "-" if kib is None else "%.1f MiB" % (kib / 1024.0)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def overhead_of(entry, metric):
    """Median overhead as a fraction (0.02 = 2% slower; for throughput the
    loss of throughput), or None."""
    s = entry.get("ratio") if entry else None
    if not s:
        return None
    return 1.0 - s["median"] if metric == "rps" else s["median"] - 1.0


# ---------------------------------------------------------------- verdicts

def unsettled(lo, hi, limit, fmt):
    """The verdict's note when the limit lies inside the median's 95%
    interval (measure.median_interval): the same library measured again
    could land on the other side."""
    if lo is None or hi is None or not lo <= limit <= hi:
        return ""
    return " (not settled: the median's 95%% interval is %s .. %s)" % (fmt(lo), fmt(hi))


def verdict(results, t):
    """(measured text, spread text, verdict) for one target."""
    sec = results["sections"].get(t["section"])
    if not sec or sec.get("unavailable"):
        return "not run", "", "NOT RUN"
    if t["kind"] in ("dump", "dump-signal"):
        pt = sec["points"].get(t["n"]) or sec["points"].get(str(t["n"]))
        if not pt:
            return "not run", "", "NOT RUN"
        if t["kind"] == "dump":
            vals = exit_dump_ms(pt, "cprof")
        else:
            vals = pt.get("cprof_signal_ms") or []
        if not vals:
            return "no measurement", "", "FAIL"
        m = measure.median(vals)
        spread = "%.0f .. %.0f ms" % (min(vals), max(vals))
        v = "PASS" if m <= t["limit"] else "FAIL"
        v += unsettled(*measure.median_interval(vals), t["limit"], lambda x: "%.0f ms" % x)
        return "%.0f ms" % m, spread, v
    e = sec["configs"].get(t["config"])
    if not e:
        reason = sec.get("unavailable", {}).get(t["config"], "not measured")
        return reason, "", "NOT RUN"
    if t["kind"] == "short":
        s = e.get(t["metric"])
        if not s:
            return "no valid run", "", "FAIL"
        v = "PASS" if s["median"] <= t["limit"] else "FAIL"
        v += unsettled(s.get("lo95"), s.get("hi95"), t["limit"],
                       lambda x: "%+.2f ms" % (1000 * x))
        return ("%+.2f ms" % (1000 * s["median"]),
                "%+.2f .. %+.2f ms" % (1000 * s["min"], 1000 * s["max"]), v)
    if t["kind"] == "diff":
        s = e.get("diff")
        if not s:
            return "no valid run", "", "FAIL"
        v = "PASS" if s["median"] <= t["limit"] else "FAIL"
        v += unsettled(s.get("lo95"), s.get("hi95"), t["limit"], lambda x: "%+.2f ns" % x)
        return "%+.2f ns" % s["median"], "%+.2f .. %+.2f ns" % (s["min"], s["max"]), v
    s = e.get(t.get("metric", "ratio"))
    if not s:
        return "no valid run", "", "FAIL"
    if t["kind"] == "throughput":
        v = "PASS" if s["median"] >= t["limit"] else "FAIL"
        v += unsettled(s.get("lo95"), s.get("hi95"), t["limit"],
                       lambda x: "%.1f%%" % (100 * x))
        return ("%.1f%% of bare" % (100 * s["median"]),
                "%.1f .. %.1f%%" % (100 * s["min"], 100 * s["max"]), v)
    lim = 1.0 + t["limit"]
    v = "PASS" if s["median"] <= lim else "FAIL"
    v += unsettled(s.get("lo95"), s.get("hi95"), lim, pct)
    if t.get("metric") == "cpu_ratio":
        return "CPU time " + pct(s["median"]), "%s .. %s" % (pct(s["min"]), pct(s["max"])), v
    cpu = e.get("cpu_ratio")
    extra = ""
    if cpu:
        extra = "; CPU time %s" % pct(cpu["median"])
    return pct(s["median"]) + extra, "%s .. %s" % (pct(s["min"]), pct(s["max"])), v


def exit_dump_ms(pt, key):
    """Exit times of a configuration minus the bare program's median exit
    time: what the profiler adds between main's return and process end."""
    bare = pt.get("bare", {}).get("exit_ms") or []
    vals = pt.get(key, {}).get("exit_ms") or []
    if not bare or not vals:
        return []
    b = measure.median(bare)
    return [v - b for v in vals]


def _paired_runs(sec, ck, ok, field):
    """Per-repetition comparisons of cprof (ck) with the other profiler (ok)
    on one measure: ratios cprof/other (or differences for ns per pair)."""
    metric = sec["metric"]
    key = {"ratio": metric, "work_ratio": "work"}.get(field, metric)
    cr = sec["configs"][ck].get("runs") or []
    orr = sec["configs"][ok].get("runs") or []
    out = []
    for a, b in zip(cr, orr):
        if a and b and a.get(key) is not None and b.get(key) is not None:
            if metric == "ns_per_op":
                out.append(a[key] - b[key])
            elif metric == "rps":
                out.append(b[key] / a[key])     # > 1: cprof loses throughput
            else:
                out.append(a[key] / b[key])
    return out


def behind_rows(results):
    """Rows where cprof is measurably behind another profiler doing the same
    job: [(section, cprof key, other key, [finding, ...])], a finding being
    (measure, cprof value, other value, other's profiling-only cost or None,
    unit, k, n).

    "Measurably": cprof's median overhead against bare exceeds the other's
    by more than the margin, and comparing the two repetition by repetition
    (they ran moments apart) cprof is slower by more than the margin in the
    median and slower in at least 80% of the repetitions (k of n).  Wall-time
    workloads are compared on the wall time and, where the program times
    its own work phase, on that too (perf's and heaptrack's fixed start-up
    and exit costs are in the wall time only): behind on either counts."""
    out = []
    for name, sec in results["sections"].items():
        if "configs" not in sec or sec.get("metric") is None:
            continue
        metric = sec["metric"]
        for ck, ok in COMPARE:
            c, o = sec["configs"].get(ck), sec["configs"].get(ok)
            if not c or not o:
                continue
            found = []
            fields = [("ratio", "ns per pair" if metric == "ns_per_op" else
                       "throughput" if metric == "rps" else "wall"), ("work_ratio", "work phase")]
            for field, what in fields:
                if field == "work_ratio" and not (c.get("work_ratio") and o.get("work_ratio")):
                    continue
                pr = _paired_runs(sec, ck, ok, field)
                if not pr:
                    continue
                if metric == "ns_per_op":
                    slower = [d > 0 for d in pr]
                    big = measure.median(pr) > BEHIND_MARGIN_NS
                else:
                    slower = [r > 1.0 for r in pr]
                    big = measure.median(pr) - 1.0 > BEHIND_MARGIN
                k, n = sum(slower), len(slower)
                if not big or k < 0.8 * n:
                    continue
                if metric == "ns_per_op":
                    cd, od = c.get("diff"), o.get("diff")
                    co, oo = cd["median"], od["median"]
                    if co - oo <= BEHIND_MARGIN_NS:
                        continue    # the two summaries disagree: noise
                    only = None
                    vb = o.get("vs_base")
                    base = sec["configs"].get(vb["base"]) if vb else None
                    if base and base.get("value") and o.get("value"):
                        only = o["value"]["median"] - base["value"]["median"]
                    found.append((what, co, oo, only, "ns", k, n))
                    continue
                cs, os_ = c.get(field), o.get(field)
                if metric == "rps":
                    co, oo = 1.0 - cs["median"], 1.0 - os_["median"]
                else:
                    co, oo = cs["median"] - 1.0, os_["median"] - 1.0
                if co - oo <= BEHIND_MARGIN:
                    continue        # the two summaries disagree: noise
                only = None
                vb = (o.get("vs_base") or {}).get(field)
                if vb:
                    only = (1.0 - vb["median"]) if metric == "rps" else vb["median"] - 1.0
                found.append((what, co, oo, only, "frac", k, n))
            if found:
                out.append((name, ck, ok, found))
    return out


# ---------------------------------------------------------------- console

def console_summary(sec):
    lines = ["  %s: %s" % (sec["title"], sec.get("command", ""))]
    metric = sec["metric"]
    for k, e in sec["configs"].items():
        v = e["value"]["median"] if e.get("value") else None
        if k == "bare":
            cmp_ = ""
        elif metric == "ns_per_op":
            cmp_ = diff_cell(e.get("diff"))
        else:
            cmp_ = ratio_cell(e.get("ratio"), metric)
        lines.append("    %-34s %-14s %-28s %s" % (e["label"], value_cell(v, metric), cmp_,
                                                   e["output"]["first"] or ""))
    for k, r in sec.get("unavailable", {}).items():
        lines.append("    %-34s not available: %s" % (k, r))
    return "\n".join(lines)


def console_targets(results):
    lines = ["targets:"]
    for t in TARGETS:
        if t["section"] not in results["sections"]:
            continue
        m, spread, v = verdict(results, t)
        lines.append("  %-4s %-62s %s%s" % (v.split()[0], t["text"], m,
                                            (" [%s]" % spread) if spread else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- markdown

def _machine(results):
    m = results["machine"]
    rows = [
        ("CPU", "%s, %d cores (%s)" % (m["cpu"], m["cores"], m.get("virtualization", "?"))),
        ("memory", m.get("memory", "?")),
        ("kernel", m["kernel"]),
        ("C library", "glibc %s" % m["glibc"]),
        ("distribution", "Debian %s" % m.get("debian", "?")),
        ("compiler", "gcc %s" % m.get("gcc", "?")),
        ("cprof", m.get("cprof", "?")),
        ("library measured", m.get("library", "?")),
        ("perf_event_paranoid", m.get("perf_event_paranoid", "?")),
        ("date", results["started"]),
        ("load average", "%.2f at start, %.2f at end (1 min)" % (results["load_start"][0],
                                                                 results["load_end"][0])),
        ("other processes", "%.1f%% of the machine's CPU time during the run"
         % (100 * results.get("foreign_cpu_share", 0))),
        ("run time", "%.0f s (%s)" % (results["seconds"], results["invocation"])),
    ]
    for u in results.get("updates", []):
        rows.append(("measured again", "%s: %s (%.0f s; other processes %.1f%% of the CPU; %s)"
                     % (u["date"], ", ".join(u["sections"]), u["seconds"],
                        100 * u["foreign_cpu_share"], u["invocation"])))
    pk = m.get("packages", {})
    if pk:
        rows.append(("Debian packages", ", ".join("%s %s" % kv for kv in sorted(pk.items()))))
    return md_table(["", ""], rows)


def _configs_table(results):
    rows = []
    fc = results.get("fixed_costs", {})
    for k, c in results["configs"].items():
        state = "yes" if c["available"] else "**not available: %s**" % c["reason"]
        if c.get("note"):
            state += "; %s" % c["note"]
        cost = fc.get(k)
        rows.append((c["label"], "`%s`" % c["settings"], state,
                     "-" if k == "bare" or cost is None else "%+.1f ms" % (1000 * cost)))
    return md_table(["configuration", "exact settings", "available",
                     "start-up + exit on /bin/true"], rows) + (
        "\n\nThe last column is the wall time each configuration adds to `/bin/true` "
        "(median of 3, minus bare %.1f ms): a fixed cost that is part of every wall-time "
        "ratio below and weighs less the longer a program runs." % (1000 * fc.get("bare_s", 0)))


def _overhead_section(name, sec, results):
    out = ["#### %s" % sec["title"], "",
           "%s.  " % sec["what"],
           "Command: `%s`.  " % sec.get("command", ""),
           "%d repetitions %s%s; other processes used %.1f%% of the machine's CPU "
           "during this section (%.1f%% in the worst repetition kept)."
           % (sec["reps"], "in each of which every configuration ran right next to a bare run "
              "of its own, the bare row showing all of them" if sec.get("adjacent")
              else "in alternation",
              (", measured %s" % sec["measured_at"]) if results.get("updates")
              and sec.get("measured_at") else "", 100 * sec.get("foreign_cpu_share", 0),
              100 * max(sec.get("foreign") or [0])), ""]
    metric = sec["metric"]
    if metric == "ns_per_op":
        header = ["configuration", "ns per pair (median)", "minus bare (median, min .. max)",
                  "ratio", "output (first run)"]
    elif metric == "rps":
        header = ["configuration", "throughput (median)", "share of bare (median, min .. max)",
                  "redis-server CPU", "peak RSS", "output (first run)"]
    else:
        header = ["configuration", "wall (median)", "wall vs bare (median, min .. max)",
                  "CPU time", "work phase", "peak RSS", "output (first run)"]
    rows = []
    for k, e in sec["configs"].items():
        v = e["value"]["median"] if e.get("value") else None
        outp = e["output"]["first"] or "-"
        if e["output"]["missing"]:
            outp += "; **no output in %d run(s), excluded**" % e["output"]["missing"]
        errs = [x for x in e["output"]["errors"] if not x.startswith("NO OUTPUT")]
        if errs:
            outp += "; **%d run(s) failed: %s**" % (len(errs), errs[0][:120])
        label = e["label"]
        vb = e.get("vs_base")
        if vb and vb.get("ratio"):
            bl = sec["configs"].get(vb["base"], {}).get("label", vb["base"])
            label += " (vs %s: %s)" % (bl, ratio_cell(vb["ratio"], metric).split(" (")[0])
        if metric == "ns_per_op":
            ratio = "x%.3f" % e["ratio"]["median"] if e.get("ratio") else "-"
            rows.append((label, value_cell(v, metric),
                         "-" if k == "bare" else diff_cell(e.get("diff")),
                         "-" if k == "bare" else ratio, outp))
        elif metric == "rps":
            rows.append((label, value_cell(v, metric),
                         "-" if k == "bare" else ratio_cell(e.get("ratio"), metric),
                         "-" if k == "bare" else
                         pct((e.get("server_cpu_ratio") or {}).get("median")),
                         mib((e.get("maxrss") or {}).get("median")), outp))
        else:
            rows.append((label, value_cell(v, metric),
                         "-" if k == "bare" else ratio_cell(e.get("ratio"), metric),
                         "-" if k == "bare" else pct((e.get("cpu_ratio") or {}).get("median")),
                         "-" if k == "bare" else pct((e.get("work_ratio") or {}).get("median")),
                         mib((e.get("maxrss") or {}).get("median")), outp))
    out.append(md_table(header, rows))
    extra = []
    for k, r in sec.get("unavailable", {}).items():
        extra.append("- %s: not available: %s" % (results["configs"][k]["label"], r))
    for k, r in sec.get("skipped", {}).items():
        extra.append("- %s: not run: %s" % (results["configs"][k]["label"], r))
    if sec.get("alloc_rate"):
        a = sec["alloc_rate"]
        t = ("- bare allocation rate: %.2f GB/s, %.1f M allocations/s (work phase)"
             % (a["bytes_per_s"] / 1e9, a["allocs_per_s"] / 1e6))
        if sec.get("per_sample_us") is not None:
            t += ("; a 512 KiB sampler takes about %.0f samples/s here, and cprof heap's extra "
                  "CPU time comes to %.1f us per sample (everything included: the wrappers, "
                  "the frees' lookups, the unwinding)" % (sec["samples_per_s"],
                                                          sec["per_sample_us"]))
        extra.append(t)
    flt = [(sec["configs"][k]["label"], sec["configs"][k]["minflt"])
           for k in ("bare", "cprof-heap-hooks", "cprof-heap")
           if k in sec["configs"] and sec["configs"][k].get("minflt")]
    if sec.get("alloc_rate") and len(flt) > 1:
        extra.append("- minor page faults of the whole process (median, min .. max): " +
                     "; ".join("%s %.0f (%.0f .. %.0f)" % (l, f["median"], f["min"], f["max"])
                               for l, f in flt) +
                     ".  glibc's malloc moves its mmap and trim thresholds up when a "
                     "thread frees a block it had mapped, so how much memory it returns to the "
                     "kernel, and faults in again, depends on how the two threads' frees "
                     "interleave: a profiler that pauses a thread now and then moves that "
                     "count either way.  cprof's own memory (its tables, the exit dump) is "
                     "about 1,800 of these faults; with the thresholds fixed "
                     "(`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:"
                     "glibc.malloc.trim_threshold=67108864`, bare and profiled alike) the "
                     "program's own faults are the same in every run.")
    if sec.get("repeated"):
        extra.append("- %d repetition(s) were run again because other processes used more "
                     "than the allowed share of the CPU during them." % sec["repeated"])
    spot = sec.get("spot_gperf_heap")
    if spot and "ratio" in spot:
        extra.append("- gperftools heap profiler (HEAPPROFILE, records every allocation): too "
                     "slow for the alternation; one spot run of malloc_mix 2 %d took %.2f s "
                     "against %.3f s bare (x%.0f); output %s."
                     % (spot["ops"], spot["gperf-heap"][0], measure.median(spot["bare"]),
                        spot["ratio"], spot.get("gperf-heap_output", "?")))
    elif spot and spot.get("unavailable"):
        extra.append("- gperftools heap profiler: not available: %s" % spot["unavailable"])
    for row in behind_rows(results):
        if row[0] == name:
            extra.append("- **cprof behind %s**: %s" % (results["configs"][row[2]]["label"],
                                                         behind_text(results, *row)))
    if extra:
        out += [""] + extra
    return "\n".join(out)


def behind_text(results, s, ck, ok, found):
    """One note: the numbers, then the explanation (measured where it can
    be), else "Unexplained"."""
    cl = results["configs"][ck]["label"]
    ol = results["configs"][ok]["label"]
    parts = []
    allocator_only = True
    for what, co, oo, only, unit, k, n in found:
        if unit == "ns":
            t = "%s: %s %+.2f ns, %s %+.2f ns against bare" % (what, cl, co, ol, oo)
            if only is not None:
                t += " (its profiling alone, against its own allocator: %+.2f ns)" % only
                allocator_only &= co <= only + BEHIND_MARGIN_NS
            else:
                allocator_only = False
        elif what == "throughput":
            t = "throughput lost: %s %.1f%%, %s %.1f%%" % (cl, 100 * co, ol, 100 * oo)
            if only is not None:
                t += " (its profiling alone, against its own allocator: %.1f%%)" % (100 * only)
                allocator_only &= co <= only + BEHIND_MARGIN
            else:
                allocator_only = False
        else:
            t = "%s: %s %+.1f%%, %s %+.1f%%" % (what, cl, 100 * co, ol, 100 * oo)
            if only is not None:
                t += " (its profiling alone, against its own allocator: %+.1f%%)" % (100 * only)
                allocator_only &= co <= only + BEHIND_MARGIN
            else:
                allocator_only = False
        parts.append(t + " (cprof slower in %d of %d repetitions)" % (k, n))
    text = "; ".join(parts) + "."
    if allocator_only:
        base = results["configs"][ok]["label"]
        return (text + " Explained by the allocator, not the profiling: %s brings its own "
                "allocator, faster than glibc's malloc on this workload, and its profiling "
                "alone costs as much as cprof's or more." % base)
    ex = results.get("explain", {}).get("%s/%s" % (s, ck))
    measured = ""
    if ex:
        measured = (" Measured with perf record of this workload under %s: %.1f%% of the CPU "
                    "samples are in cprof and the libraries it calls (%s); %.1f%% in the kernel."
                    % (cl, 100 * ex["share"],
                       ", ".join("%s %.1f%%" % (n, 100 * v) for n, v in ex["top"]) or "none",
                       100 * ex["kernel"]))
    note = NOTES.get((s, ck, ok)) or NOTES.get((None, ck, ok))
    if note:
        return text + " " + note + measured
    return text + measured + " Unexplained."


def _heap_accuracy(sec, results):
    if sec.get("unavailable"):
        return "Not run: %s" % sec["unavailable"]
    truth = sec.get("truth") or {}
    profs = sec["profilers"]
    sites = sorted(truth.keys())
    out = ["Program: `build/test/progs/%s` (prints the true bytes and objects per site); "
           "a heap sample is charged to the innermost `site_*` frame of its stack.  "
           "Sampled profilers (cprof, jemalloc) are run several times; a cell gives the mean "
           "of |estimate - truth| / truth over the runs and, in brackets, the mean signed "
           "error (bias).  *Expected 1 sd* is the relative standard deviation of an "
           "unbiased Poisson sampler at 512 KiB for that site: errors of that size are "
           "sampling noise, not a defect." % sec["command"], ""]
    avail = []
    for k, p in profs.items():
        if p.get("unavailable"):
            out.append("- %s: not available: %s" % (p["label"], p["unavailable"]))
        elif not p["runs"]:
            out.append("- %s: no run succeeded: %s"
                       % (p["label"], "; ".join(p.get("errors", []))[:300]))
        else:
            avail.append(k)
    if len(out) > 2:
        out.append("")
    exp = sec.get("expected_sd", {})
    for field, title in (("alloc_bytes", "allocated bytes"), ("alloc_objects", "allocated objects"),
                         ("inuse_bytes", "live bytes at exit")):
        header = ["site", "truth"] + ["%s (%d run%s)" % (profs[k]["label"], len(profs[k]["runs"]),
                                                          "s" if len(profs[k]["runs"]) > 1 else "")
                                      for k in avail]
        header.append("expected 1 sd")
        rows = []
        sums = {k: [] for k in avail}
        for site in sites:
            tv = truth[site].get(field)
            if not tv:
                continue
            row = [site, "{:,}".format(tv)]
            for k in avail:
                runs = profs[k]["runs"]
                if not any(field in d for run in runs for d in run["got"].values()):
                    row.append("n/a")
                    continue
                errs = [(run["got"].get(site, {}).get(field, 0) - tv) / float(tv) for run in runs]
                mae = sum(abs(e) for e in errs) / len(errs)
                bias = sum(errs) / len(errs)
                sums[k].append(mae)
                row.append("%.1f%% (%+.1f%%)" % (100 * mae, 100 * bias))
            e = (exp.get(site) or {}).get(field)
            row.append("%.1f%%" % (100 * e) if e is not None else "-")
            rows.append(row)
        mean_row = ["mean over sites", ""]
        for k in avail:
            mean_row.append("%.1f%%" % (100 * sum(sums[k]) / len(sums[k])) if sums[k] else "n/a")
        mean_row.append("")
        rows.append(mean_row)
        out += ["**%s**" % title, "", md_table(header, rows), ""]
    out.append("heaptrack records no per-site total of allocated bytes (its costs are calls, "
               "peak, leaked and temporary), hence n/a.  tcmalloc's sampler keeps its samples "
               "in the process (MallocExtension::GetHeapSample) and writes no file, so it has no "
               "column here.  jemalloc counts the usable size of the size class an allocation "
               "was rounded up to, not the size asked for, so its byte figures for sizes "
               "between classes (site_mixed) run high by design.  The objects of site_realloc "
               "are mostly small (64 B to 1 MiB, doubling): a sampler rarely picks a small one "
               "and counts it many times when it does, hence the large expected error of that "
               "count.")
    return "\n".join(out)


def _cpu_accuracy(sec, results):
    if sec.get("unavailable"):
        return "Not run: %s" % sec["unavailable"]
    out = ["Program: `build/test/progs/%s` (two threads; burn_a:burn_b:burn_c = 3:1:2 of "
           "work, each thread's CPU time split by the units each function ran; getrusage gives the total).  "
           "Share error: |profile share - measured share| of each function among the three, "
           "in percentage points, mean over the runs.  Captured: the profile's total CPU time "
           "over getrusage's (a profiler that misses samples shows below 100%%)." % sec["command"],
           ""]
    rows = []
    for k, p in sec["profilers"].items():
        if p.get("unavailable"):
            rows.append((p["label"], "-", "not available: %s" % p["unavailable"], "", "", "", ""))
            continue
        if not p["runs"]:
            rows.append((p["label"], "0",
                         "no run succeeded: %s" % "; ".join(p.get("errors", []))[:200],
                         "", "", "", ""))
            continue
        caps, errs = [], {"burn_a": [], "burn_b": [], "burn_c": []}
        truth_share = None
        for run in p["runs"]:
            t = run["truth"]
            tt = sum(t[f] for f in errs)
            ft = sum(run["flat"].get(f, 0) for f in errs)
            caps.append(run["total"] / float(t["rusage_ns"]))
            truth_share = {f: t[f] / float(tt) for f in errs}
            for f in errs:
                share = run["flat"].get(f, 0) / float(ft) if ft else 0.0
                errs[f].append(abs(share - t[f] / float(tt)))
        rows.append((p["label"], str(len(p["runs"])),
                     "%.1f%% (%.1f .. %.1f)" % (100 * measure.median(caps), 100 * min(caps),
                                                 100 * max(caps)))
                    + tuple("%.1f pp" % (100 * sum(errs[f]) / len(errs[f])) for f in errs)
                    + (", ".join("%s %.1f%%" % (f, 100 * v) for f, v in truth_share.items()),))
    out.append(md_table(["profiler", "runs", "captured CPU (median, min .. max)",
                         "burn_a error", "burn_b error", "burn_c error",
                         "measured shares (last run)"],
                        rows))
    return "\n".join(out)


def _growth_threads(sec, results):
    out = []
    for part, cmd, keys in (("malloc", sec["malloc_command"], ["cprof-heap", "cprof-all"]),
                            ("cpu", sec["cpu_command"], ["cprof-cpu", "cprof-all"])):
        rows = []
        for n in sec["counts"]:
            s = sec[part].get(n) or sec[part].get(str(n))
            if not s:
                continue
            b = s["configs"]["bare"]["value"]
            row = [str(n), value_cell(b["median"] if b else None, "wall")]
            for k in keys:
                e = s["configs"].get(k)
                row.append(ratio_cell(e.get("ratio"), "wall") if e else "-")
                row.append(pct((e.get("cpu_ratio") or {}).get("median")) if e else "-")
            rows.append(row)
        header = ["threads", "bare wall"]
        for k in keys:
            header += [results["configs"][k]["label"] + " wall", "CPU time"]
        out += ["**%s** (`%s`, %d repetitions per point)" % (part, cmd, sec["reps"]), "",
                md_table(header, rows), ""]
    return "\n".join(out)


def _growth_rate(sec, results):
    rows = []
    keys = ["cprof-heap", "cprof-all", "jemalloc-prof"]
    for wk in sec["works"]:
        s = sec["points"].get(wk) or sec["points"].get(str(wk))
        if not s:
            continue
        b = s["configs"]["bare"]
        runs = [r for r in b["runs"] if r and "work" in r]
        rate = measure.median([r["bytes"] / r["work"] for r in runs]) if runs else None
        allocs = measure.median([r["ops"] / r["work"] for r in runs]) if runs else None
        row = [str(wk), "%.2f GB/s, %.1f M/s" % (rate / 1e9, allocs / 1e6) if rate else "-",
               "%d" % s["ops"], value_cell(b["value"]["median"] if b["value"] else None, "wall")]
        for k in keys:
            e = s["configs"].get(k)
            if not e:
                row.append(s.get("unavailable", {}).get(k, "-"))
                continue
            cell = ratio_cell(e.get("ratio"), "wall")
            vb = e.get("vs_base")
            if vb and vb.get("ratio"):
                cell += "; vs jemalloc alone %s" % pct(vb["ratio"]["median"])
            row.append(cell)
        rows.append(row)
    header = ["work between operations", "bare allocation rate", "operations", "bare wall"] + [
        results["configs"][k]["label"] for k in keys]
    return ("`malloc_mix 2 OPS WORK`: WORK iterations of integer work between two operations "
            "lower the allocation rate; OPS is calibrated so each point runs about as long.  "
            "%d repetitions per point.\n\n" % sec["reps"] + md_table(header, rows))


def _growth_live(sec, results):
    rows = []
    for mb in sec["lives"]:
        s = sec["points"].get(mb) or sec["points"].get(str(mb))
        if not s:
            continue
        b = s["configs"]["bare"]["value"]
        row = ["%d MiB" % mb, value_cell(b["median"] if b else None, "ns_per_op")]
        for k in ("cprof-heap", "cprof-all", "jemalloc-prof"):
            e = s["configs"].get(k)
            if not e:
                row.append(s.get("unavailable", {}).get(k, "-"))
                continue
            cell = diff_cell(e.get("diff"))
            je = s["configs"].get("jemalloc", {}).get("value")
            if k == "jemalloc-prof" and e.get("value") and je:
                cell += "; vs jemalloc alone %+.2f ns" % (e["value"]["median"] - je["median"])
            row.append(cell)
        rows.append(row)
    return ("`%s`: before the timed loop the program allocates LIVE_MB MiB in 4 KiB blocks and "
            "keeps them (about LIVE_MB x 2 of them sampled at 512 KiB).  A heap profiler that "
            "sits in front of the allocator must tell, on every free(), sampled blocks from "
            "the others; this shows whether that gets dearer as more sampled blocks are live.  "
            "%d repetitions per point.\n\n" % (sec["command"], sec["reps"])
            + md_table(["live heap", "bare ns per pair"]
                       + [results["configs"][k]["label"] + " (minus bare)"
                          for k in ("cprof-heap", "cprof-all", "jemalloc-prof")], rows))


def _growth_stacks(sec, results):
    labels = sec["labels"]
    out = ["`bench/progs/stacks.c N`: N allocations of 64 bytes, each from its own call stack "
           "(the decimal digits of i choose the functions on the path), all live at exit, every "
           "allocation sampled (cprof `CPROF_HEAP_RATE=1`, jemalloc `lg_prof_sample:0`; "
           "gperftools records every allocation anyway).  Peak RSS is the child's ru_maxrss; "
           "the profiler's memory is its peak RSS minus that of the same allocator without the "
           "profiler; bytes per stack are its growth from N=1 (the profiler's fixed cost).  "
           "Exit dump time: from the program's own timestamp just before main "
           "returns to the end of the process (wait4), minus the same for the bare program.  "
           "SIGUSR2 dump time: from the signal to the (renamed, complete) file.  %d repetitions "
           "per point, medians." % sec["reps"], ""]
    for k, r in sec.get("unavailable", {}).items():
        out.append("- %s: not available: %s" % (labels[k], r))
    pairs = [("cprof", "bare"), ("jemalloc-prof", "jemalloc"), ("gperf-heap", "tcmalloc")]
    rows = []

    def delta(pt, k, base):
        if not pt or k not in pt or base not in pt or not pt[k]["maxrss"] or not pt[base]["maxrss"]:
            return None
        return measure.median(pt[k]["maxrss"]) - measure.median(pt[base]["maxrss"])

    pt1 = sec["points"].get(1) or sec["points"].get("1")
    for n in sec["ns"]:
        pt = sec["points"].get(n) or sec["points"].get(str(n))
        if not pt:
            continue
        row = ["{:,}".format(n), mib(measure.median(pt["bare"]["maxrss"]))]
        for k, base in pairs:
            d = delta(pt, k, base)
            if d is None:
                row.append("-")
                continue
            d1 = delta(pt1, k, base)
            if n > 1 and d1 is not None:
                row.append("%+.1f MiB (%.0f B/stack over N=1)" % (d / 1024.0,
                                                                  (d - d1) * 1024.0 / (n - 1)))
            else:
                row.append("%+.1f MiB" % (d / 1024.0))
        cells = []
        for k, name in (("cprof", "cprof"), ("jemalloc-prof", "jemalloc"),
                        ("gperf-heap", "gperftools")):
            det = pt.get(k, {}).get("detail")
            if det:
                cells.append("%s {:,}".format(det["stacks"]) % name)
        row.append(", ".join(cells) or "-")
        rows.append(row)
    out += ["**profiler memory**", "", md_table(
        ["stacks", "bare peak RSS"] + ["%s (vs %s)" % (labels[k], labels[b]) for k, b in pairs]
        + ["stacks in the written profile"], rows), ""]
    rows = []
    for n in sec["ns"]:
        pt = sec["points"].get(n) or sec["points"].get(str(n))
        if not pt:
            continue
        row = ["{:,}".format(n)]
        for k, _ in pairs:
            v = exit_dump_ms(pt, k) if k in pt else []
            size = measure.median(pt[k]["size"]) if k in pt and pt[k]["size"] else None
            cell = ("%.0f ms" % measure.median(v) if v else "-") + (
                ", %.1f KiB" % (size / 1024.0) if size else "")
            det = pt.get(k, {}).get("detail") if k in pt else None
            if det and det["stacks"] < n:
                cell += " (holds {:,} of {:,} stacks)".format(det["stacks"], n)
            row.append(cell)
            if k == "cprof":
                sig = pt.get("cprof_signal_ms") or []
                row.append("%.0f ms" % measure.median(sig) if sig else "-")
        rows.append(row)
    out += ["**dump time and file size**", "", md_table(
        ["stacks", "cprof exit dump, heap file", "cprof SIGUSR2 dump",
         "jemalloc exit dump, file", "gperftools exit dump, file"], rows)]
    return "\n".join(out)


def _short_lived(sec, results):
    out = ["`bench/progs/spawn_many.c`: `%s` runs /bin/true %d times bare and %d times under "
           "the profiler, alternating, one process after the other; each profiled run is "
           "compared with the bare run just before it (wall: fork to wait4; CPU: the child's "
           "user + system time).  A repetition gives the medians over its runs; the table "
           "gives the median of %d repetitions (min .. max).  Files: what each profiled process "
           "left in the output directory (a process that recorded nothing writes no file)."
           % (sec["command"], sec["pairs"], sec["pairs"], sec["reps"]), ""]
    rows = []

    def ms(s, sign=False):
        if not s:
            return "-"
        f = "%+.2f" if sign else "%.2f"
        return (f + " ms (" + f + " .. " + f + ")") % (1000 * s["median"], 1000 * s["min"],
                                                      1000 * s["max"])
    for k, e in sec["configs"].items():
        if not e.get("runs"):
            rows.append((sec["labels"][k], "no valid run", "", "", "", ""))
            continue
        fp = e.get("files_per_process")
        rows.append((sec["labels"][k], ms(e["bare_wall"]), ms(e["wall"]),
                     ms(e["diff_wall"], True), ms(e["diff_cpu"], True),
                     "%.2f" % fp["median"] if fp else "-"))
    out.append(md_table(["configuration", "bare wall per process", "profiled wall per process",
                         "wall added", "CPU time added", "files per process"], rows))
    b = sec.get("build") or {}
    if b.get("per_process_wall"):
        out += ["", "A real tree: `%s`, bare and with `LD_PRELOAD` and the default profiles "
                "exported to make, %d repetitions in alternation: %d profiled processes "
                "(counted in a separate run with `CPROF_EMPTY_FILES=1`), bare %.2f s, profiled "
                "%.2f s (medians); cprof adds %s of wall time and %s of CPU time per process "
                "(median; min .. max); %d files were written, by the %d processes that "
                "recorded something (medians)."
                % (b["command"], b["reps"], b["processes"], measure.median(b["bare"]),
                   measure.median(b["cprof"]), ms(b["per_process_wall"], True),
                   ms(b["per_process_cpu"], True), measure.median(b["files"]),
                   measure.median(b["with_files"]))]
    return "\n".join(out)


def _counted(sec, results):
    if sec.get("unavailable"):
        return "Not measured: %s." % sec["unavailable"]
    out = ["`bench/costs.py`: each figure is the difference between two runs of one program "
           "under `valgrind --tool=callgrind --cache-sim=yes`, counting only inside the "
           "workload's own function, so start-up and the exit dump are left out.  Counts, not "
           "time: they do not move with the machine's load, so a regression of a few "
           "instructions shows here when the timed rows cannot show it.", ""]
    base = costs.baseline()
    was = lambda fmt, *keys: (fmt % tuple(base[k] for k in keys)) if base else "-"
    rows = [("malloc+free pair, heap hooks, no sampling (`CPROF_PROFILES=heap CPROF_HEAP_RATE=0`)",
             "%.1f instructions" % sec["pair_hooks"], was("%.1f", "pair_hooks"),
             "`malloc_pair %d %d`, over bare (bare: %.0f instructions a pair)"
             % (costs.PAIR_ITERS, costs.PAIR_SIZE, sec["pair_bare"])),
            ("malloc+free pair, heap profile at the default rate",
             "%.1f instructions" % sec["pair_sampling"], was("%.1f", "pair_sampling"),
             "the same, samples included"),
            ("one heap sample", "%.0f instructions, %.0f first-level data misses"
             % (sec["per_sample"], sec["per_sample_d1"]), was("%.0f, %.0f", "per_sample", "per_sample_d1"),
             "`malloc_mix 1 %d` at the default rate over rate 0, divided by its %d samples "
             "(misses: the whole program's, callgrind's simulated caches)"
             % (sec["mix_ops"], sec["mix_samples"]))]
    if sec.get("labels_pair") is not None:
        rows.append(("label set made current and restored (`cprof_labels_set` twice)",
                     "%.1f instructions" % sec["labels_pair"],
                     was("%.1f", "labels_pair") if base and "labels_pair" in base else "-",
                     "`labels_pair %d` under cprof (`CPROF_PROFILES=none`) over bare, where the "
                     "header's weak calls are skipped (bare: %.0f instructions a pair)"
                     % (costs.LABEL_ITERS, sec["labels_bare"])))
    out.append(md_table(["what", "cprof adds", "before" if not base else "before (%s)" % base["measured_at"],
                         "how"], rows))
    if base:
        out += ["", "The \"before\" column is %s (`bench/counted-baseline.json`)." % base["what"]]
    return "\n".join(out)


def _when(results, name):
    """" (measured DATE)" for a section when the page mixes runs."""
    sec = results["sections"].get(name) or {}
    if results.get("updates") and sec.get("measured_at"):
        return " (measured %s)" % sec["measured_at"]
    return ""


def markdown(results, method_path):
    title = "# cprof performance"
    if not results.get("full"):
        title += " (partial run: %s)" % ("--quick" if results.get("quick") else "selected sections")
    again = ""
    if results.get("updates"):
        again = (", some sections measured again later (%s: the Machine table says which)"
                 % ", ".join(u["date"] for u in results["updates"]))
    out = [title, "",
           "Generated by `make bench` (`bench/run.py`) on %s%s; every number below comes from "
           "these runs (all of them are also in `build/bench/results.json`).  Do not edit by "
           "hand: change `bench/` and run `make bench` again." % (results["started"], again), "",
           "## Machine", "", _machine(results), ""]
    try:
        with open(method_path) as f:
            out += [f.read().strip(), ""]
    except OSError:
        pass
    out += ["## Targets", "",
            md_table(["target", "measured (median)", "spread (min .. max)", "verdict"],
                     [(t["text"],) + verdict(results, t) for t in TARGETS
                      if t["section"] in results["sections"]]), "",
            "A verdict compares the median with the limit, as the target is written.  "
            "*(not settled: ...)* marks one whose limit lies inside the median's 95% "
            "confidence interval (the order statistics that hold the median of the "
            "repetitions' distribution with probability 95% or more, whatever that "
            "distribution is; of 41 repetitions, the 14th and the 28th of the sorted "
            "ratios; of 7, the lowest and the highest): measured again on this machine, the "
            "same library could land on the other side.", ""]
    out += ["## Configurations", "", _configs_table(results), ""]
    secs = results["sections"]
    over = [s for s in ("malloc", "malloc-heap", "malloc-pair", "lock-pair", "lock-contended",
                        "cpu", "sqlite", "python", "redis") if s in secs]
    if over:
        out += ["## Overhead", ""]
        groups = [("Allocation", ["malloc", "malloc-heap", "malloc-pair"]),
                  ("Locks", ["lock-pair", "lock-contended"]),
                  ("CPU", ["cpu"]), ("Real programs", ["sqlite", "python", "redis"])]
        for gname, names in groups:
            names = [n for n in names if n in secs]
            if not names:
                continue
            out += ["### %s" % gname, ""]
            for n in names:
                out += [_overhead_section(n, secs[n], results), ""]
    if "accuracy-heap" in secs or "accuracy-cpu" in secs:
        out += ["## Accuracy", ""]
        if "accuracy-heap" in secs:
            out += ["### Heap: per-site estimates against heap_truth"
                    + _when(results, "accuracy-heap"), "",
                    _heap_accuracy(secs["accuracy-heap"], results), ""]
        if "accuracy-cpu" in secs:
            out += ["### CPU: per-function shares and captured CPU against cpu_truth"
                    + _when(results, "accuracy-cpu"), "",
                    _cpu_accuracy(secs["accuracy-cpu"], results), ""]
    if any(s in secs for s in ("growth-threads", "growth-rate", "growth-live", "growth-stacks",
                               "short-lived")):
        out += ["## Cost growth", ""]
        if "growth-threads" in secs:
            out += ["### Overhead against thread count" + _when(results, "growth-threads"), "",
                    _growth_threads(secs["growth-threads"], results), ""]
        if "growth-rate" in secs:
            out += ["### Overhead against allocation rate" + _when(results, "growth-rate"), "",
                    _growth_rate(secs["growth-rate"], results), ""]
        if "growth-live" in secs:
            out += ["### malloc+free cost against live heap size" + _when(results, "growth-live"),
                    "",
                    _growth_live(secs["growth-live"], results), ""]
        if "growth-stacks" in secs:
            out += ["### Memory and dump time against distinct stacks"
                    + _when(results, "growth-stacks"), "",
                    _growth_stacks(secs["growth-stacks"], results), ""]
        if "short-lived" in secs:
            out += ["### Short-lived processes: the cost per process"
                    + _when(results, "short-lived"), "",
                    _short_lived(secs["short-lived"], results), ""]
    if "counted" in secs:
        out += ["## Counted costs" + _when(results, "counted"), "", _counted(secs["counted"], results), ""]
    notes = []
    for row in behind_rows(results):
        notes.append("- %s, cprof behind %s: %s" % (row[0], results["configs"][row[2]]["label"],
                                                   behind_text(results, *row)))
    fails = [(t, verdict(results, t)) for t in TARGETS if t["section"] in secs]
    fails = [(t, v) for t, v in fails if v[2].startswith("FAIL")]
    out += ["## Notes", ""]
    if fails:
        out.append("Targets missed in this run:")
        out.append("")
        for t, v in fails:
            out.append("- %s: %s (spread %s)." % (t["text"], v[0], v[1] or "-"))
        out.append("")
    if notes:
        out.append("Rows where cprof is behind another profiler doing the same job: by more "
                   "than %.0f percentage point (or %.0f ns per pair) in the median of the "
                   "repetition-by-repetition comparison, and slower in at least 80%% of the "
                   "repetitions:" % (100 * BEHIND_MARGIN, BEHIND_MARGIN_NS))
        out.append("")
        out += notes
    else:
        out.append("cprof is not behind any other profiler doing the same job by more than "
                   "%.0f percentage point in this run." % (100 * BEHIND_MARGIN))
    out.append("")
    return "\n".join(out)
