#!/usr/bin/env python3
"""bench/report.py RUNDIR: summarise one bench/run into report.md, .csv, .png.

RUNDIR holds what bench/run wrote: meta.txt (key=value lines), runs.csv (one
row per workload run: rep, workload, allocator, wall_s, maxrss_kib, status,
checksum) and micro.ALLOCATOR.json (Google Benchmark JSON). Writes, in RUNDIR:

  report.md   median wall time and peak RSS per workload and allocator, the
              ratio to glibc, a geometric-mean row, the microbenchmarks, and
              any failed run or checksum that differs from glibc's;
  report.csv  every raw run (a copy of runs.csv);
  report.png  grouped bars of the time and RSS ratios to glibc (gnuplot;
              skipped with a note when gnuplot is missing).
Standard library only.
"""
import csv
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

BASE = "glibc"
TIME_UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def read_meta(rundir):
    meta, allocs = {}, []
    with open(os.path.join(rundir, "meta.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key.startswith("allocator."):
                allocs.append((key[len("allocator."):], value))
            else:
                meta[key] = value
    return meta, allocs


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


def table(workloads, cells, names, key, unit, digits):
    """Markdown table of one measure (key 'time' or 'rss_med')."""
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
            if r is not None:
                ratios[a].append(r)
            cell = ("%." + str(digits) + "f %s") % (v, unit) + fmt_ratio(r)
            if c["failed"]:
                cell += " **%d failed**" % len(c["failed"])
            if c["mismatch"]:
                cell += " **checksum differs**"
            out.append(cell)
        lines.append("| %s | %s |" % (w, " | ".join(out)))
    gm = []
    for a in names:
        if a == BASE:
            gm.append("1.00×" if any((w, BASE) in cells for w in workloads) else "–")
        else:
            g = geomean(ratios[a])
            gm.append("–" if g is None else "**%.2f×**" % g)
    lines.append("| **geometric mean of ratios** | %s |" % " | ".join(gm))
    return lines, {a: geomean(ratios[a]) for a in names if a != BASE}


def read_micro(rundir, names):
    """{allocator: {benchmark: ns per iteration}}, benchmark order."""
    results, order = {}, []
    for a in names:
        path = os.path.join(rundir, "micro.%s.json" % a)
        if not os.path.exists(path):
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print("report: cannot read %s: %s" % (path, e), file=sys.stderr)
            continue
        res = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            name = b["name"].replace("/real_time", "")
            res[name] = b["real_time"] * TIME_UNITS.get(b.get("time_unit", "ns"), 1.0)
            if name not in order:
                order.append(name)
        results[a] = res
    return results, order


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


def plot(rundir, workloads, cells, names):
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
                    if r:
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
    meta, allocs = read_meta(rundir)
    names = [a for a, _ in allocs]
    rows = read_runs(rundir)
    shutil.copyfile(os.path.join(rundir, "runs.csv"), os.path.join(rundir, "report.csv"))
    workloads, cells = summarise_runs(rows, allocs)
    micro, order = read_micro(rundir, names)

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
    if rows:
        md.append("## Workloads: median wall time (ratio to glibc; lower is better)")
        md.append("")
        lines, gm_time = table(workloads, cells, names, "time", "s", 3)
        md += lines
        md.append("")
        md.append("## Workloads: median peak RSS (ratio to glibc; lower is better)")
        md.append("")
        lines, gm_rss = table(workloads, cells, names, "rss_med", "MiB", 1)
        md += lines
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
    if micro:
        md.append("## Microbenchmarks (Google Benchmark, wall time per iteration; ratio to glibc)")
        md.append("")
        md.append("Min time %s s per benchmark%s. Threaded runs report each thread's time per "
                  "iteration." % (meta.get("micro_min_time", "?"),
                                  (", filter `%s`" % meta["micro_filter"]) if meta.get("micro_filter") else ""))
        md.append("")
        md += micro_table(micro, order, names)
        md.append("")
    note = plot(rundir, workloads, cells, names) if rows else "no plot: no workload runs"
    md.append("![time and RSS ratios to glibc](LATEST.png)" if note is None else "_(%s)_" % note)
    md.append("")
    md.append("Raw runs: `LATEST.csv`. Every file of this run, with the logs of failed runs "
              "and the Google Benchmark JSON: `%s`." % rundir)
    with open(os.path.join(rundir, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
