#!/usr/bin/env python3
"""bench/report.py RUNDIR: summarise one bench/run into report.md, .csv, .png.

RUNDIR holds what bench/run wrote: meta.txt (key=value lines), runs.csv (one
row per workload run: rep, workload, allocator, wall_s, maxrss_kib, status,
checksum), metrics.csv (rep, workload, allocator and one `metric`, `target`
or `info` line a memory-return workload printed; see workloads/mem.h) and
micro.ALLOCATOR.REP.json (Google Benchmark JSON of repetition REP; runs made
before the microbenchmarks were repeated have one micro.ALLOCATOR.json).
Writes, in RUNDIR:

  report.md   hugeslab against its targets, median wall time and peak RSS per
              workload and allocator, the ratio to glibc, a geometric-mean row
              (over the workloads that are not memory-return workloads), the
              "Memory given back" table (the median of every metric over the
              repetitions, hugeslab's targets), the median of the
              microbenchmarks over the repetitions, and any failed run or
              checksum that differs from glibc's;
  report.csv  every raw run (a copy of runs.csv);
  report-metrics.csv  every metric of every run: rep, workload, allocator,
              metric, value, unit (only when there are some);
  report-micro.csv  every microbenchmark result: rep, benchmark, allocator,
              ns_per_iteration (only when there are microbenchmark results);
  report.png  grouped bars of the time and RSS ratios to glibc (gnuplot;
              skipped with a note when gnuplot is missing).
Standard library only.
"""
import csv
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

BASE = "glibc"
# The allocator the targets are for, the allocators it is measured against,
# and the malloc_free sizes of target (d).
TARGET = "hugeslab"
PEERS = ("glibc", "jemalloc", "mimalloc", "tcmalloc")
TARGET_SIZES = (16, 32, 64, 128, 256, 512, 1024)
TIME_UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# The memory-return workloads' targets for hugeslab, in the order of the
# targets table: (workload, metric, text). The limits themselves come from the
# workloads' `target` lines (they depend on what each run measured).
MEM_TARGETS = (
    ("phased", "rss_after_2500ms", "phased: RSS 2.5 s after freeing 9 of 10 phases ≤ 1.1 × live + 4 MiB"),
    ("phased", "rss_after_trim", "phased: RSS after malloc_trim(0) ≤ live + 3 MiB"),
    ("phased", "all_freed_above_own", "phased: everything freed, 2.5 s later ≤ 2 MiB above own footprint"),
    ("survivors", "rss_after_trim", "survivors: RSS after malloc_trim(0) ≤ 1.02 × floor + 2 MiB"),
    ("redislike", "rss_at_2x_decay", "redislike: RSS at 2 × decay_ms ≤ 1.2 × start RSS + 4 MiB"),
    ("hugeheap", "thp_pct", "hugeheap: ≥ 90% of the memory in AnonHugePages"),
    ("prefork", "heap_worker_private", "prefork: a worker's Private_Dirty ≤ own × 1.1 + 4 MiB, freeing 10% of what it inherited"),
    ("prefork", "pool_pool_private", "prefork: no private page of a sealed pool in any worker"),
    ("prefork", "churn_child_private", "prefork: the child's Private_Dirty ≤ 8 MiB while the parent churns 10%"),
)
DEFAULT_MEM_WL = ("phased", "survivors", "redislike", "hugeheap", "prefork")


def read_meta(rundir):
    """(meta, [(allocator, path)], {variant allocator: description})"""
    meta, allocs, variants = {}, [], {}
    with open(os.path.join(rundir, "meta.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key.startswith("allocator."):
                allocs.append((key[len("allocator."):], value))
            elif key.startswith("variant."):
                variants[key[len("variant."):]] = value
            else:
                meta[key] = value
    return meta, allocs, variants


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt_ratio(r):
    return "" if r is None else " (%.2f×)" % r


def read_runs(rundir):
    rows = []
    with open(os.path.join(rundir, "runs.csv")) as f:
        for row in csv.DictReader(f):
            rows.append(row)
    return rows


def summarise_runs(rows, allocs):
    """{(workload, allocator): dict(time, rss, spread, n, failed, checksums)}"""
    workloads = []
    cells = {}
    for row in rows:
        w, a = row["workload"], row["allocator"]
        if w not in workloads:
            workloads.append(w)
        c = cells.setdefault((w, a), {"times": [], "rss": [], "failed": [], "sums": []})
        if row["status"] == "0":
            c["times"].append(float(row["wall_s"]))
            c["rss"].append(int(row["maxrss_kib"]) / 1024.0)
            c["sums"].append(row["checksum"])
        else:
            c["failed"].append(row["status"])
    for c in cells.values():
        t = c["times"]
        c["time"] = statistics.median(t) if t else None
        c["rss_med"] = statistics.median(c["rss"]) if c["rss"] else None
        c["spread"] = (max(t) - min(t)) / c["time"] if len(t) > 1 and c["time"] else None
    # The reference checksum of a workload: glibc's most common one, else the
    # most common over all allocators.
    reference = {}
    for w in workloads:
        pool = cells.get((w, BASE), {}).get("sums") or [
            s for (w2, _), c in cells.items() if w2 == w for s in c["sums"]]
        if pool:
            reference[w] = max(set(pool), key=pool.count)
    for (w, a), c in cells.items():
        c["mismatch"] = sorted({s for s in c["sums"] if s != reference.get(w)})
    return workloads, cells


def table(workloads, cells, names, key, unit, digits, excluded=()):
    """Markdown table of one measure (key 'time' or 'rss_med'); the workloads
    in excluded are shown, marked †, but left out of the geometric means."""
    lines = ["| workload | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    ratios = {a: [] for a in names}
    for w in workloads:
        base = cells.get((w, BASE), {}).get(key)
        out = []
        for a in names:
            c = cells.get((w, a))
            if not c:
                out.append("–")
                continue
            v = c[key]
            if v is None:
                out.append("**FAIL** (status %s)" % ",".join(c["failed"]))
                continue
            r = v / base if base and a != BASE else None
            if r is not None and w not in excluded:
                ratios[a].append(r)
            cell = ("%." + str(digits) + "f %s") % (v, unit) + fmt_ratio(r)
            if c["failed"]:
                cell += " **%d failed**" % len(c["failed"])
            if c["mismatch"]:
                cell += " **checksum differs**"
            out.append(cell)
        lines.append("| %s | %s |" % (w + (" †" if w in excluded else ""), " | ".join(out)))
    gm = []
    for a in names:
        if a == BASE:
            gm.append("1.00×" if any((w, BASE) in cells for w in workloads if w not in excluded) else "–")
        else:
            g = geomean(ratios[a])
            gm.append("–" if g is None else "**%.2f×**" % g)
    lines.append("| **geometric mean of ratios** | %s |" % " | ".join(gm))
    return lines, {a: geomean(ratios[a]) for a in names if a != BASE}


HARDENED = "hugeslab-hardened"


def hardened_cost(workloads, cells, excluded):
    """Markdown section: hardened mode against the default mode, per workload
    (median time and peak RSS, ratio hardened / default) and the geometric
    means over the workloads that count for (a)-(c); empty when the run has
    no hugeslab-hardened."""
    if not any((w, HARDENED) in cells for w in workloads):
        return []
    lines = ["## Hardened mode's cost (`HUGESLAB_CONF=hardened:true` against the default mode)", "",
             "| workload | default | hardened | time ratio | default RSS | hardened RSS | RSS ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    times, rss = [], []
    for w in workloads:
        d, h = cells.get((w, TARGET)), cells.get((w, HARDENED))
        if not d or not h or d["time"] is None or h["time"] is None:
            continue
        rt = h["time"] / d["time"]
        rr = h["rss_med"] / d["rss_med"] if d["rss_med"] else None
        if w not in excluded:
            times.append(rt)
            if rr is not None:
                rss.append(rr)
        lines.append("| %s | %.3f s | %.3f s | %.2f× | %.1f MiB | %.1f MiB | %s |" % (
            w + (" †" if w in excluded else ""), d["time"], h["time"], rt, d["rss_med"], h["rss_med"],
            "–" if rr is None else "%.2f×" % rr))
    gt, gr = geomean(times), geomean(rss)
    lines.append("| **geometric mean** | | | **%s** | | | **%s** |" % (
        "–" if gt is None else "%.2f×" % gt, "–" if gr is None else "%.2f×" % gr))
    lines.append("")
    if gt is not None:
        lines.append("Target: time geomean ≤ 1.25× the default mode's: %s." % (
            "met" if gt <= 1.25 else "**not met** (%.2f×)" % gt))
        lines.append("")
    return lines


def read_micro(rundir, names):
    """({allocator: {benchmark: {rep: ns per iteration}}}, benchmark order), from
    micro.ALLOCATOR.REP.json; the single micro.ALLOCATOR.json of an older run
    counts as repetition 1."""
    results, order = {}, []
    for a in names:
        pattern = re.compile(r"micro\.%s(?:\.(\d+))?\.json$" % re.escape(a))
        files = []
        for path in glob.glob(os.path.join(rundir, "micro.*.json")):
            m = pattern.match(os.path.basename(path))
            if m:
                files.append((int(m.group(1) or 1), path))
        for rep, path in sorted(files):
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                print("report: cannot read %s: %s" % (path, e), file=sys.stderr)
                continue
            for b in data.get("benchmarks", []):
                if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                    continue
                name = b["name"].replace("/real_time", "")
                ns = b["real_time"] * TIME_UNITS.get(b.get("time_unit", "ns"), 1.0)
                results.setdefault(a, {}).setdefault(name, {})[rep] = ns
                if name not in order:
                    order.append(name)
    return results, order


def micro_medians(runs):
    """{allocator: {benchmark: median ns per iteration over the repetitions}}."""
    return {a: {b: statistics.median(by_rep.values()) for b, by_rep in res.items()}
            for a, res in runs.items()}


def micro_reps(runs):
    """How many repetitions the medians of runs are over, in words: "3
    repetitions", or "2–3 repetitions" where a run failed."""
    n = sorted({len(by_rep) for res in runs.values() for by_rep in res.values()})
    if n[0] != n[-1]:
        return "%d–%d repetitions" % (n[0], n[-1])
    return "1 repetition" if n[0] == 1 else "%d repetitions" % n[0]


def write_micro_csv(path, runs, order, names):
    """Writes every microbenchmark result of runs (from read_micro) to path."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["rep", "benchmark", "allocator", "ns_per_iteration"])
        reps = sorted({r for res in runs.values() for by_rep in res.values() for r in by_rep})
        for rep in reps:
            for b in order:
                for a in names:
                    ns = runs.get(a, {}).get(b, {}).get(rep)
                    if ns is not None:
                        out.writerow([rep, b, a, "%.4f" % ns])


def fmt_ns(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.1f ns" % ns


def micro_table(results, order, names):
    names = [a for a in names if a in results]
    lines = ["| benchmark (time per iteration) | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    ratios = {a: [] for a in names}
    for b in order:
        base = results.get(BASE, {}).get(b)
        out = []
        for a in names:
            v = results[a].get(b)
            if v is None:
                out.append("–")
                continue
            r = v / base if base and a != BASE else None
            if r is not None:
                ratios[a].append(r)
            out.append(fmt_ns(v) + fmt_ratio(r))
        lines.append("| %s | %s |" % (b, " | ".join(out)))
    gm = ["1.00×" if a == BASE else ("–" if geomean(ratios[a]) is None else "**%.2f×**" % geomean(ratios[a]))
          for a in names]
    lines.append("| **geometric mean of ratios** | %s |" % " | ".join(gm))
    return lines


def worst_malloc_free(micro, threads):
    """(ratio, benchmark, hugeslab ns, tcmalloc ns) of the malloc_free/S/threads:N
    (S in TARGET_SIZES) where hugeslab's median is furthest above tcmalloc's, or
    None; and how many of the sizes both have."""
    worst, sizes = None, 0
    for size in TARGET_SIZES:
        b = "malloc_free/%d/threads:%d" % (size, threads)
        hs, tc = micro.get(TARGET, {}).get(b), micro.get("tcmalloc", {}).get(b)
        if hs is None or not tc:
            continue
        sizes += 1
        if worst is None or hs / tc > worst[0]:
            worst = (hs / tc, b, hs, tc)
    return worst, sizes


def targets(workloads, cells, gm_time, gm_rss, micro, mem):
    """Markdown table of hugeslab against its targets on this run: gm_time and
    gm_rss are the geometric means from table(), micro the medians from
    micro_medians(), mem the metrics from read_metrics() (or None)."""
    lines = ["| target | measured | result |", "|---|---|---|"]

    def row(target, measured, verdict):
        lines.append("| %s | %s | %s |" % (target, measured, verdict))

    def verdict(ok):
        return "met" if ok else "**missed**"

    others = [a for a in PEERS if a != BASE]
    target = ("(a) wall-time geomean, ratio to glibc, ≤ 0.85× and below %s" %
              ", ".join(a + "'s" for a in others))
    g = gm_time.get(TARGET)
    if g is None:
        row(target, "–", "not measured")
    else:
        peers = [(a, gm_time[a]) for a in others if gm_time.get(a) is not None]
        absent = [a for a in others if gm_time.get(a) is None]
        measured = "%.2f×" % g
        if peers:
            measured += " (%s)" % ", ".join("%s %.2f×" % p for p in peers)
        if absent:
            measured += "; not measured: " + ", ".join(absent)
        row(target, measured, verdict(g <= 0.85 and all(g < v for _, v in peers)))

    target = "(b) no workload's median wall time over 1.3× the fastest of " + ", ".join(PEERS)
    worst, failed = None, []
    for w in workloads:
        peer_times = [(cells[(w, a)]["time"], a) for a in PEERS if cells.get((w, a), {}).get("time")]
        if not peer_times or (w, TARGET) not in cells:
            continue
        t = cells[(w, TARGET)]["time"]
        if t is None:
            failed.append(w)
            continue
        fastest, peer = min(peer_times)
        if worst is None or t / fastest > worst[0]:
            worst = (t / fastest, w, peer, t, fastest)
    if worst is None and not failed:
        row(target, "–", "not measured")
    else:
        measured = []
        if worst:
            measured.append("worst %s: %.3f s, %.2f× %s's %.3f s" % (
                worst[1], worst[3], worst[0], worst[2], worst[4]))
        if failed:
            measured.append("failed: " + ", ".join(failed))
        row(target, "; ".join(measured), verdict(not failed and worst[0] <= 1.3))

    target = "(c) peak-RSS geomean, ratio to glibc, ≤ jemalloc's"
    g, je = gm_rss.get(TARGET), gm_rss.get("jemalloc")
    if g is None or je is None:
        row(target, "–" if g is None else "%.2f×; jemalloc not measured" % g, "not measured")
    else:
        row(target, "%.2f× (jemalloc %.2f×)" % (g, je), verdict(g <= je))

    sizes = "S %d–%d" % (TARGET_SIZES[0], TARGET_SIZES[-1])
    target = "(d) `malloc_free/S/threads:1`, %s: median ≤ 1.2× tcmalloc's" % sizes
    worst, n = worst_malloc_free(micro, 1)
    if worst is None:
        row(target, "–", "not measured")
    else:
        measured = "worst %s: %s, %.2f× tcmalloc's %s" % (worst[1], fmt_ns(worst[2]), worst[0], fmt_ns(worst[3]))
        if worst[0] > 1.2:
            result = verdict(False)
        elif n < len(TARGET_SIZES):
            result = "not measured (%d of %d sizes)" % (n, len(TARGET_SIZES))
        else:
            result = verdict(True)
        row(target, measured, result)
    worst, n = worst_malloc_free(micro, 2)
    if worst is not None:
        row("`malloc_free/S/threads:2`, %s, against tcmalloc (information, not a target)" % sizes,
            "worst %s: %s, %.2f× tcmalloc's %s%s" % (
                worst[1], fmt_ns(worst[2]), worst[0], fmt_ns(worst[3]),
                "" if n == len(TARGET_SIZES) else "; %d of %d sizes" % (n, len(TARGET_SIZES))),
            "–")

    for k, (w, name, text) in enumerate(MEM_TARGETS):
        verdict = mem_verdict(mem, w, name) if mem else None
        row("(%s) %s" % (chr(ord("e") + k), text), verdict[0] if verdict else "–",
            verdict[1] if verdict else "not measured")
    return lines


def read_metrics(rundir, rows):
    """The metric, target and info lines of the runs that succeeded:
    {"order": [(workload, kind, name)] as first printed, "metric": {(w, name, a):
    [values]}, "unit"/"label": {(w, name): ...}, "target": {(w, name, a): [(op,
    limit)]}, "target_text": {(w, name): (op, unit, text)}, "info": {(w, name, a):
    [texts]}, "raw": [(rep, w, a, name, value, unit)]}; None without metrics.csv."""
    path = os.path.join(rundir, "metrics.csv")
    if not os.path.exists(path):
        return None
    ok = {(r["rep"], r["workload"], r["allocator"]) for r in rows if r["status"] == "0"}
    m = {"order": [], "metric": {}, "unit": {}, "label": {}, "target": {}, "target_text": {},
         "info": {}, "raw": []}

    def seen(w, kind, name):
        if (w, kind, name) not in m["order"]:
            m["order"].append((w, kind, name))

    with open(path) as f:
        for row in csv.DictReader(f):
            rep, w, a = row["rep"], row["workload"], row["allocator"]
            if (rep, w, a) not in ok:
                continue
            parts = row["line"].split()
            try:
                if parts[0] == "metric" and len(parts) >= 4:
                    name, value, unit = parts[1], float(parts[2]), parts[3]
                    seen(w, "metric", name)
                    m["metric"].setdefault((w, name, a), []).append(value)
                    m["unit"][(w, name)] = unit
                    m["label"].setdefault((w, name), " ".join(parts[4:]) or name)
                    m["raw"].append((rep, w, a, name, parts[2], unit))
                elif parts[0] == "target" and len(parts) >= 5 and parts[2] in ("<=", ">="):
                    name, op, limit, unit = parts[1], parts[2], float(parts[3]), parts[4]
                    m["target"].setdefault((w, name, a), []).append((op, limit))
                    m["target_text"][(w, name)] = (op, unit, " ".join(parts[5:]))
                elif parts[0] == "info" and len(parts) >= 2:
                    seen(w, "info", parts[1])
                    m["info"].setdefault((w, parts[1], a), []).append(" ".join(parts[2:]))
            except ValueError:
                print("report: bad metric line %r" % row["line"], file=sys.stderr)
    return m


def fmt_metric(v, unit):
    if unit == "KiB":
        return "%.1f MiB" % (v / 1024)
    if unit == "%":
        return "%.1f%%" % v
    if unit == "x":
        return "%.3f×" % v
    if unit in ("ms", "ns"):
        return ("%.0f %s" if abs(v) >= 100 else "%.1f %s") % (v, unit)
    return "%g %s" % (v, unit)


def mem_verdict(m, w, name):
    """(measured text, verdict) of hugeslab's target on metric name of w:
    its median against the median of its limits."""
    values, limits = m["metric"].get((w, name, TARGET)), m["target"].get((w, name, TARGET))
    if not values or not limits:
        return None
    unit = m["unit"][(w, name)]
    op = limits[0][0]
    v, lim = statistics.median(values), statistics.median(l for _, l in limits)
    ok = v <= lim if op == "<=" else v >= lim
    return ("%s (limit %s %s)" % (fmt_metric(v, unit), "≤" if op == "<=" else "≥", fmt_metric(lim, unit)),
            "met" if ok else "**missed**")


def mem_table(m, workloads, names):
    """The "Memory given back" table: a row per metric and info line of every
    memory-return workload, a column per allocator, hugeslab's target last;
    an info line that is the same under every allocator that ran the workload
    becomes a note under the table instead. Returns (lines, notes, columns)."""
    cols = [a for a in names if any(k[2] == a for k in list(m["metric"]) + list(m["info"]))]
    lines = ["| workload | measure | " + " | ".join(cols) + " | hugeslab target |",
             "|---|---|" + "---:|" * len(cols) + "---|"]
    notes = []
    for w in workloads:
        for (w2, kind, name) in m["order"]:
            if w2 != w:
                continue
            if kind == "info":
                texts = {t for a in cols for t in m["info"].get((w, name, a), [])}
                if len(texts) == 1:
                    notes.append("%s: %s %s" % (w, name, texts.pop()))
                    continue
            out = []
            for a in cols:
                if kind == "metric":
                    v = m["metric"].get((w, name, a))
                    out.append(fmt_metric(statistics.median(v), m["unit"][(w, name)]) if v else "–")
                else:
                    v = m["info"].get((w, name, a))
                    out.append(max(set(v), key=v.count) if v else "–")
            target = ""
            if kind == "metric" and (w, name) in m["target_text"]:
                op, unit, text = m["target_text"][(w, name)]
                verdict = mem_verdict(m, w, name)
                target = "%s %s: %s" % ("≤" if op == "<=" else "≥", text,
                                        "%s, %s" % (verdict[1], verdict[0]) if verdict else "not measured")
            label = m["label"].get((w, name), name) if kind == "metric" else "_%s_" % name
            lines.append("| %s | %s | %s | %s |" % (w, label, " | ".join(out), target))
    return lines, notes, cols


def write_metrics_csv(path, m):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["rep", "workload", "allocator", "metric", "value", "unit"])
        for r in m["raw"]:
            out.writerow(r)


def plot(rundir, workloads, cells, names, excluded=()):
    others = [a for a in names if a != BASE]
    if not others or not any((w, BASE) in cells for w in workloads):
        return "no plot: it needs glibc and at least one other allocator"
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "no plot: gnuplot is not installed (scripts/bench-deps installs it)"
    dat = os.path.join(rundir, "plot.dat")
    with open(dat, "w") as f:
        for key in ("time", "rss_med"):
            f.write("workload " + " ".join(others) + "\n")
            ratios = {a: [] for a in others}
            for w in workloads:
                base = cells.get((w, BASE), {}).get(key)
                row = []
                for a in others:
                    v = cells.get((w, a), {}).get(key)
                    r = v / base if v and base else None
                    if r and w not in excluded:
                        ratios[a].append(r)
                    row.append("%.4f" % r if r else "NaN")
                f.write("%s %s\n" % (w, " ".join(row)))
            f.write("geomean %s\n" % " ".join(
                "%.4f" % geomean(ratios[a]) if geomean(ratios[a]) else "NaN" for a in others))
            f.write("\n\n")
    png = os.path.join(rundir, "report.png")
    script = """
set terminal pngcairo size 1400,900 font ",10"
set output '{png}'
set multiplot layout 2,1 title "{title}"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set xtics rotate by -30
set yrange [0:*]
set ylabel "wall time / glibc (lower is better)"
plot for [i=2:{n}] '{dat}' index 0 using i:xtic(1) title columnheader(i), 1 with lines lc rgb "black" dt 2 notitle
set ylabel "peak RSS / glibc (lower is better)"
plot for [i=2:{n}] '{dat}' index 1 using i:xtic(1) title columnheader(i), 1 with lines lc rgb "black" dt 2 notitle
unset multiplot
""".format(png=png, dat=dat, n=len(others) + 1,
           title="median of repetitions, ratio to glibc (dashed line = glibc)")
    gp = os.path.join(rundir, "plot.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        return "no plot: gnuplot failed: " + r.stderr.strip()[-300:]
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RUNDIR")
    rundir = sys.argv[1]
    meta, allocs, variants = read_meta(rundir)
    names = [a for a, _ in allocs]
    # The main tables leave out the variants (they run a few workloads only;
    # the memory table shows them).
    main_names = [a for a in names if a not in variants]
    mem_wl = set(meta["memory_workloads"].split()) if "memory_workloads" in meta else set(DEFAULT_MEM_WL)
    rows = read_runs(rundir)
    shutil.copyfile(os.path.join(rundir, "runs.csv"), os.path.join(rundir, "report.csv"))
    workloads, cells = summarise_runs(rows, allocs)
    main_wl = [w for w in workloads if w not in mem_wl]
    excluded = [w for w in workloads if w in mem_wl]
    mem = read_metrics(rundir, rows)
    micro_runs, order = read_micro(rundir, names)
    micro = micro_medians(micro_runs)
    if micro:
        write_micro_csv(os.path.join(rundir, "report-micro.csv"), micro_runs, order, names)
    if mem and mem["raw"]:
        write_metrics_csv(os.path.join(rundir, "report-metrics.csv"), mem)
    gm_time, gm_rss = {}, {}
    if rows:
        time_lines, gm_time = table(workloads, cells, main_names, "time", "s", 3, excluded)
        rss_lines, gm_rss = table(workloads, cells, main_names, "rss_med", "MiB", 1, excluded)

    md = ["# hugeslab benchmark results", ""]
    md.append("%s on %s (%s, %s cores, %s), THP `%s`, load before the run %s." % (
        meta.get("date", "?"), meta.get("host", "?"), meta.get("kernel", "?"), meta.get("cores", "?"),
        meta.get("cpu", "?"), meta.get("thp", "?"), meta.get("load", "?")))
    md.append("Scale **%s**, %s repetitions per workload and allocator, run interleaved; "
              "hugeslab revision `%s`." % (meta.get("scale"), meta.get("reps"), meta.get("hugeslab_rev")))
    md.append("")
    md.append("| allocator | library (LD_PRELOAD) |")
    md.append("|---|---|")
    for a, path in allocs:
        md.append("| %s | `%s` |" % (a, path))
    md.append("")
    if TARGET in names:
        md.append("## hugeslab against its targets")
        md.append("")
        md.append("On this run alone: scale %s, %d workload(s)%s. A target whose allocator, workloads "
                  "or microbenchmarks this run lacks is not measured. (a)–(c) are over the workloads "
                  "that are not memory-return workloads; (e)–(j) compare hugeslab's median of a "
                  "memory-return metric with the median of the limit its runs computed (see "
                  "\"Memory given back\")." % (
                      meta.get("scale"), len(workloads),
                      ", microbenchmark medians over %s" % micro_reps(micro_runs) if micro else ""))
        md.append("")
        md += targets(main_wl, cells, gm_time, gm_rss, micro, mem)
        md.append("")
    if rows:
        md.append("## Workloads: median wall time (ratio to glibc; lower is better)")
        md.append("")
        md += time_lines
        md.append("")
        md += hardened_cost(workloads, cells, excluded)
        md.append("## Workloads: median peak RSS (ratio to glibc; lower is better)")
        md.append("")
        md += rss_lines
        md.append("")
        if excluded:
            md.append("† a memory-return workload: its wall time is mostly sleeps and fixed phases, so "
                      "it is left out of the geometric means and of targets (a)–(c); its figures are "
                      "under \"Memory given back\".")
            md.append("")
        spreads = []
        for a in names:
            s = [c["spread"] for (w, a2), c in cells.items() if a2 == a and c["spread"] is not None]
            if s:
                spreads.append("%s %.0f%%" % (a, 100 * statistics.median(s)))
        if spreads:
            md.append("Noise: (max − min) / median of the wall times over the repetitions, median over "
                      "workloads: " + ", ".join(spreads) + ". Differences smaller than this are not "
                      "evidence of anything.")
            md.append("")
        problems = []
        for (w, a), c in sorted(cells.items()):
            if c["failed"]:
                problems.append("- %s under %s: %d run(s) failed, status %s (logs in `%s/logs/`)" % (
                    w, a, len(c["failed"]), ",".join(c["failed"]), rundir))
            if c["mismatch"]:
                problems.append("- %s under %s: checksum %s differs from glibc's" % (
                    w, a, ", ".join(c["mismatch"])))
        if problems:
            md.append("## Problems")
            md.append("")
            md += problems
            md.append("")
    if mem and mem["order"]:
        lines, notes, cols = mem_table(mem, [w for w in workloads if w in mem_wl] or workloads, names)
        md.append("## Memory given back")
        md.append("")
        md.append("Median over the repetitions of each figure the memory-return workloads print "
                  "(RSS is VmRSS from /proc/self/status, read by the program itself; \"own footprint\" "
                  "is its RSS at start, before it allocates). The targets are hugeslab's: its median "
                  "against the median of the limits its runs computed from what they measured.")
        md.append("")
        md += lines
        md.append("")
        if notes:
            md.append("Under every allocator: " + "; ".join(notes) + ".")
            md.append("")
        for a in cols:
            if a in variants:
                md.append("%s: %s." % (a, variants[a]))
        hs = mem["metric"].get(("hugeheap", "access_ms", TARGET))
        nothp = mem["metric"].get(("hugeheap", "access_ms", "hugeslab-nothp"))
        if hs and nothp:
            md.append("hugeheap, TLB gain of huge pages: hugeslab-nothp's access phase takes %.2f× "
                      "hugeslab's." % (statistics.median(nothp) / statistics.median(hs)))
        md.append("")
    if micro:
        md.append("## Microbenchmarks (Google Benchmark, wall time per iteration; ratio to glibc)")
        md.append("")
        md.append("Median over %s per benchmark and allocator; min time %s s "
                  "per benchmark%s. Threaded runs report each thread's time per iteration." % (
                      micro_reps(micro_runs), meta.get("micro_min_time", "?"),
                      (", filter `%s`" % meta["micro_filter"]) if meta.get("micro_filter") else ""))
        md.append("")
        md += micro_table(micro, order, names)
        md.append("")
    note = plot(rundir, workloads, cells, main_names, excluded) if rows else "no plot: no workload runs"
    md.append("![time and RSS ratios to glibc](LATEST.png)" if note is None else "_(%s)_" % note)
    md.append("")
    md.append("Raw runs: `LATEST.csv`%s%s. Every file of this run, with the logs of failed runs "
              "and the Google Benchmark JSON: `%s`." % (
                  "; every microbenchmark result of every repetition: `LATEST-micro.csv`" if micro else "",
                  "; every memory-return metric of every run: `LATEST-metrics.csv`" if mem and mem["raw"] else "",
                  rundir))
    with open(os.path.join(rundir, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
