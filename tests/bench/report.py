#!/usr/bin/env python3
"""make bench's report: the table, results.json and ratios.png.

Reads <dir>/results.tsv, written by tests/bench/run.sh:
  <system> <workload> <user bytes> <ns> <reads> <sectors read> <writes>
      <sectors written> <flushes> <dm-bow status, comma-separated, or ->
  scale <free ranges> <slab bytes> <checkpoint ns> <writes> <bytes> <ns> <status>
  restore <memory|disk> <bytes> <bow-restore ns> <dd ns>   (one per run)
  restore-scale <what> <seconds> <peak RSS KiB> <log blocks> <entries>
  changed-scale <written ranges> <ranges listed> <replies> <ns> <slab bytes>
      <bowctl changed ns> <bowctl changed --json ns>
      <bowctl changed ns, 16,000-byte replies> <its user ms> <its system ms>
  pass <workload> <system> <round> <bytes> <ns>
  latency <system> <workload> <p50 ns> <p99 ns>   (one per run, QD1)
  resume <entries> <block size> <ns> <sectors read> <status|refused>
  stall <free ranges> <checkpoint|commit> <transition ns> <reader p50 ns>
      <reader max ns> <writer p50 ns> <writer max ns>
  fua-qd1 <system> <run> <bytes> <ns> <p50 ns> <p99 ns> <reads>
      <sectors read> <writes> <sectors written> <flushes>
  view-read <region> <linear|view> <run> <bytes> <ns> <reads> <sectors read>
      <writes> <sectors written> <flushes>
"""
import json
import math
import os
import subprocess
import sys

SECTOR = 512
STATUS_FIELDS = ("state", "free", "backed_up", "entries", "log_blocks",
                 "log_commits", "writes_refused", "backups_moved")


def parse(path):
    rows, scale, restore, passes = [], [], {}, {}
    restore_scale = []
    changed = []
    extra = {"latency": [], "view_read": [], "fua_qd1": [], "stall": [],
             "resume": []}
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] == "resume":
                extra["resume"].append({
                    "entries": int(w[1]), "block_size": int(w[2]),
                    "ns": int(w[3]), "bytes_read": int(w[4]) * SECTOR,
                    "refused": w[5] == "refused",
                    "backup_check": w[5].split(",")[-1],
                    "check_ns": int(w[6]),
                    "check_bytes_read": int(w[7]) * SECTOR})
                continue
            if w[0] == "stall":
                extra["stall"].append({
                    "free_ranges": int(w[1]), "transition": w[2],
                    "transition_ns": int(w[3]),
                    "reader_p50_ns": int(w[4]), "reader_max_ns": int(w[5]),
                    "writer_p50_ns": int(w[6]), "writer_max_ns": int(w[7])})
                continue
            if w[0] == "fua-qd1":
                extra["fua_qd1"].append({
                    "system": w[1], "run": int(w[2]), "bytes": int(w[3]),
                    "ns": int(w[4]), "p50_ns": int(w[5]), "p99_ns": int(w[6]),
                    "writes": int(w[9]), "flushes": int(w[11])})
                continue
            if w[0] == "latency":
                extra["latency"].append({"system": w[1], "workload": w[2],
                                         "p50_ns": int(w[3]),
                                         "p99_ns": int(w[4])})
                continue
            if w[0] == "view-read":
                extra["view_read"].append({
                    "region": w[1], "system": w[2], "run": int(w[3]),
                    "bytes": int(w[4]), "ns": int(w[5]),
                    "reads": int(w[6]), "read_bytes": int(w[7]) * SECTOR})
                continue
            if w[0] == "changed-scale":
                changed.append({"written_ranges": int(w[1]),
                                "listed": int(w[2]), "replies": int(w[3]),
                                "ns": int(w[4]), "slab_bytes": int(w[5]),
                                "bowctl_ns": int(w[6]),
                                "bowctl_json_ns": int(w[7]),
                                "bowctl_16k_replies_ns": int(w[8]),
                                "bowctl_user_ms": int(w[9]),
                                "bowctl_system_ms": int(w[10])})
                continue
            if w[0] == "restore-scale":
                restore_scale.append({"what": w[1], "seconds": float(w[2]),
                                      "peak_rss_kib": int(w[3]),
                                      "log_blocks": int(w[4]),
                                      "entries": int(w[5])})
                continue
            if w[0] == "pass":
                passes.setdefault((w[1], int(w[3])), {})[w[2]] = int(w[5])
                continue
            if w[0] == "scale":
                ranges = int(w[1])
                scale.append({"free_ranges": ranges,
                              "slab_bytes_per_node": int(w[2]) / (2 * ranges + 3),
                              "checkpoint_ns": int(w[3]),
                              "first_overwrites": int(w[4]),
                              "ns_per_first_overwrite": int(w[6]) / int(w[4])})
                continue
            if w[0] == "restore":
                r = restore.setdefault(w[1], {"bytes": int(w[2]),
                                              "bow_restore_ns": [],
                                              "dd_ns": []})
                r["bow_restore_ns"].append(int(w[3]))
                r["dd_ns"].append(int(w[4]))
                continue
            row = {"system": w[0], "workload": w[1], "user_bytes": int(w[2]),
                   "ns": int(w[3]), "reads": int(w[4]),
                   "read_bytes": int(w[5]) * SECTOR, "writes": int(w[6]),
                   "write_bytes": int(w[7]) * SECTOR, "flushes": int(w[8])}
            if w[9] != "-":
                row["status"] = dict(zip(STATUS_FIELDS,
                                         map(int, w[9].split(","))))
            rows.append(row)
    return rows, scale, restore, passes, restore_scale, changed, extra


def latency_table(rows, latency):
    """QD1 first overwrites: latency and the requests that explain it."""
    by = {(r["system"], r["workload"]): r for r in rows}
    lines, out = [], []
    keys = []
    for l in latency:
        if (l["system"], l["workload"]) not in keys:
            keys.append((l["system"], l["workload"]))
    if not keys:
        return lines, out
    lines += ["", "Queue depth 1, 4 KiB (median over runs of each run's "
              "percentile): completion latency, and lower-device writes "
              "and flushes per user write",
              "   workload       system   p50 ms  p99 ms  writes  flushes"]
    for system, wl in sorted(keys, key=lambda k: (k[1], k[0])):
        runs = [l for l in latency
                if l["system"] == system and l["workload"] == wl]
        row = by.get((system, wl))
        n = row["user_bytes"] / 4096 if row else 0
        entry = {"system": system, "workload": wl,
                 "p50_ns": median([l["p50_ns"] for l in runs]),
                 "p99_ns": median([l["p99_ns"] for l in runs]),
                 "runs": len(runs),
                 "writes_per_write": row["writes"] / n if n else None,
                 "flushes_per_write": row["flushes"] / n if n else None}
        out.append(entry)
        lines.append("   %-14s %-7s %7.3f %7.3f  %6.2f  %7.2f" % (
            wl, system, entry["p50_ns"] / 1e6, entry["p99_ns"] / 1e6,
            entry["writes_per_write"] or 0, entry["flushes_per_write"] or 0))
    return lines, out


def fua_table(fua):
    """QD1 first overwrites on a device with FUA (null_blk)."""
    lines, out = [], []
    systems = []
    for f in fua:
        if f["system"] not in systems:
            systems.append(f["system"])
    if not systems:
        return lines, out
    lines += ["", "Queue depth 1, 4 KiB first overwrites on a device with a "
              "cache and FUA (null_blk): throughput over dm-linear's, "
              "latency (median of the runs' percentiles), lower writes and "
              "flushes per user write",
              "   system   ratio  p50 ms  p99 ms  writes  flushes"]
    sums = {}
    for s in systems:
        runs = [f for f in fua if f["system"] == s]
        n = sum(f["bytes"] for f in runs) / 4096
        sums[s] = {"system": s, "runs": len(runs),
                   "bytes": sum(f["bytes"] for f in runs),
                   "ns": sum(f["ns"] for f in runs),
                   "p50_ns": median([f["p50_ns"] for f in runs]),
                   "p99_ns": median([f["p99_ns"] for f in runs]),
                   "writes_per_write": sum(f["writes"] for f in runs) / n,
                   "flushes_per_write": sum(f["flushes"] for f in runs) / n}
    lin = sums.get("linear")
    for s in systems:
        e = sums[s]
        e["throughput_vs_linear"] = (
            (e["bytes"] / e["ns"]) / (lin["bytes"] / lin["ns"])
            if lin else None)
        out.append(e)
        lines.append("   %-7s %6.2f %7.3f %7.3f  %6.2f  %7.2f" % (
            s, e["throughput_vs_linear"] or 0, e["p50_ns"] / 1e6,
            e["p99_ns"] / 1e6, e["writes_per_write"],
            e["flushes_per_write"]))
    return lines, out


def view_table(view_read):
    """The checkpoint view's sequential reads against dm-linear's."""
    lines, out = [], []
    regions = []
    for v in view_read:
        if v["region"] not in regions:
            regions.append(v["region"])
    if not regions:
        return lines, out
    lines += ["", "The checkpoint view, read in order 1 MiB at a time, "
              "against dm-linear (summed runs): throughput ratio, lower "
              "reads per MiB (view, linear), ratio run by run"]
    for region in regions:
        sums = {}
        for s in ("linear", "view"):
            vs = [v for v in view_read
                  if v["region"] == region and v["system"] == s]
            sums[s] = {k: sum(v[k] for v in vs)
                       for k in ("bytes", "ns", "reads")}
            sums[s]["runs"] = sorted(vs, key=lambda v: v["run"])
        lin, view = sums["linear"], sums["view"]
        ratio = (view["bytes"] / view["ns"]) / (lin["bytes"] / lin["ns"])
        runs = [(v["bytes"] / v["ns"]) / (l["bytes"] / l["ns"])
                for v, l in zip(view["runs"], lin["runs"])]
        mib = view["bytes"] / (1 << 20)
        out.append({"region": region, "bytes": view["bytes"],
                    "throughput_vs_linear": ratio,
                    "per_run": runs,
                    "view_reads_per_mib": view["reads"] / mib,
                    "linear_reads_per_mib": lin["reads"] / mib})
        lines.append("   %-12s %4.0f MiB %5.2f  %7.2f %5.2f  [%s]" % (
            region, mib, ratio, view["reads"] / mib, lin["reads"] / mib,
            ", ".join("%.2f" % r for r in runs)))
    return lines, out


def median(values):
    return sorted(values)[len(values) // 2]


def request_bytes(workload):
    """The size of the user's requests in a raw workload (see guest.sh)."""
    for suffix, size in (("-16k", 16384), ("-64k", 65536)):
        if workload.endswith(suffix):
            return size
    return 1 << 20 if "1m" in workload else 4096


def user_requests(row):
    return max(1, row["user_bytes"] // request_bytes(row["workload"]))


def lower_requests(row):
    return row["reads"] + row["writes"] + row["flushes"]


def is_read(workload):
    return workload.startswith("r-")


def amplification(row):
    """Lower bytes moved in the workload's direction per user byte."""
    moved = row["read_bytes"] if is_read(row["workload"]) else row["write_bytes"]
    return moved / row["user_bytes"]


def add_deltas(rows):
    """dm-bow's status is cumulative: per-workload entries and commits."""
    last = {}
    for row in rows:
        st = row.get("status")
        if not st:
            continue
        prev = last.get(row["system"], dict.fromkeys(STATUS_FIELDS, 0))
        if row["workload"].startswith("fs-"):
            prev = dict.fromkeys(STATUS_FIELDS, 0)
        row["entries"] = st["entries"] - prev["entries"]
        row["log_commits"] = st["log_commits"] - prev["log_commits"]
        row["backups_moved"] = st["backups_moved"] - prev["backups_moved"]
        last[row["system"]] = st


SUMMED = ("user_bytes", "ns", "reads", "read_bytes", "writes",
          "write_bytes", "flushes", "entries", "log_commits", "backups_moved")


def per_run_ratios(rows):
    """Throughput of each run over its partner's in the same round:
    {(system, workload, partner): [ratio per run]}.  A round is one run of
    a workload on every system in turn; partners are dm-linear, and
    dm-snapshot for dm-bow's first overwrites in state 1."""
    ns = {}
    for row in rows:
        ns.setdefault((row["system"], row["workload"]), []).append(row["ns"])
    out = {}
    for (system, wl), runs in ns.items():
        if system in ("linear", "bow1-lowest"):
            continue
        partners = ["linear"]
        if system == "bow1" and wl.startswith("w-"):
            partners.append("snap")
        for p in partners:
            if (p, wl) in ns and len(ns[(p, wl)]) == len(runs):
                out[(system, wl, p)] = [a / b for a, b in
                                        zip(ns[(p, wl)], runs)]
    return out


def pass_through(passes):
    """Per (workload, system): throughput over dm-linear's in the same
    round, as the geometric mean over the rounds with a 95% interval."""
    ratios = {}
    for (wl, _), ns in passes.items():
        for system, t in ns.items():
            if system != "linear" and "linear" in ns:
                ratios.setdefault((wl, system), []).append(
                    math.log(ns["linear"] / t))
    out = {}
    for key, logs in ratios.items():
        n = len(logs)
        mean = sum(logs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1)) \
            if n > 1 else 0.0
        half = 1.96 * sd / math.sqrt(n)
        out[key] = {"rounds": n, "geomean": math.exp(mean),
                    "low": math.exp(mean - half),
                    "high": math.exp(mean + half)}
    return out


def aggregate(rows):
    """The runs of a workload on a system, summed (runs are interleaved)."""
    out = {}
    for row in rows:
        key = (row["system"], row["workload"])
        if key not in out:
            out[key] = dict(row, runs=1)
            continue
        agg = out[key]
        agg["runs"] += 1
        for f in SUMMED:
            if f in row:
                agg[f] += row[f]
    return list(out.values())


def main():
    out = sys.argv[1]
    rows, scale, restore, passes, restore_scale, changed, extra = parse(
        os.path.join(out, "results.tsv"))
    passed = pass_through(passes)
    add_deltas(rows)
    spread = per_run_ratios(rows)
    rows = aggregate(rows)
    systems, workloads = [], []
    for r in rows:
        if r["system"] not in systems:
            systems.append(r["system"])
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    by = {(r["system"], r["workload"]): r for r in rows}
    for r in rows:
        base = by.get(("linear", r["workload"]))
        r["amplification"] = amplification(r)
        r["throughput_vs_linear"] = base["ns"] / r["ns"] if base else None

    lines = ["Throughput / dm-linear's (same run), then lower-device bytes "
             "per user byte (reads for r-*, writes otherwise).",
             "lowest: dm-bow state 1 with the naive lowest-first free-space "
             "policy (file-system workload only).", ""]
    names = ["lowest" if s == "bow1-lowest" else s for s in systems]
    head = "%-14s" % "workload" + "".join("%8s" % s for s in names)
    lines += [head + "  |" + "".join("%8s" % s for s in names)]
    for wl in workloads:
        cells = [by.get((s, wl)) for s in systems]
        tput = "".join("%8.2f" % c["throughput_vs_linear"] if c else "%8s" % "-"
                       for c in cells)
        amp = "".join("%8.3f" % c["amplification"] if c else "%8s" % "-"
                      for c in cells)
        lines.append("%-14s%s  |%s" % (wl, tput, amp))
    lines += ["", "dm-bow state 1: log entries, log commits, log commits per "
              "entry, lower writes and flushes per user write request"]
    for wl in workloads:
        r = by.get(("bow1", wl))
        if not r or "entries" not in r:
            continue
        reqs = user_requests(r)
        per = r["log_commits"] / r["entries"] if r["entries"] else 0
        lines.append("%-14s%8d%8d%9.4f%9.2f%9.2f" % (
            wl, r["entries"], r["log_commits"], per, r["writes"] / reqs,
            r["flushes"] / reqs))
    lines += ["", "First overwrites: lower-device requests (reads, writes, "
              "flushes) per user write request, dm-bow state 1 and "
              "dm-snapshot; their ratio bounds dm-bow's lead where every "
              "request costs the same"]
    for wl in workloads:
        bow, snap = by.get(("bow1", wl)), by.get(("snap", wl))
        if not wl.startswith("w-") or not bow or not snap:
            continue
        reqs = user_requests(bow)
        total = [lower_requests(r) / reqs for r in (bow, snap)]
        lines.append("%-14s%8.2f%8.2f%8.2f" % (wl, total[0], total[1],
                                              total[1] / total[0]))
    lines += ["", "Microseconds per lower-device request (elapsed time over "
              "reads + writes + flushes), first overwrites; for dm-linear "
              "the user's own requests, by their size"]
    lines += ["%-16s" % "workload" + "".join("%8s" % s for s in names
                                             if s != "lowest")]
    for wl in workloads:
        if not wl.startswith("w-"):
            continue
        cells = [by.get((s, wl)) for s in systems if s != "bow1-lowest"]
        lines.append("%-16s" % wl + "".join(
            "%8.1f" % (c["ns"] / 1e3 / lower_requests(c)) if c and
            lower_requests(c) else "%8s" % "-" for c in cells))
    keys = sorted({(s, p) for s, _, p in spread},
                  key=lambda k: (k[1] != "linear", systems.index(k[0])))
    if spread:
        lines += ["", "The same throughput ratios run by run: median "
                  "[lowest, highest] over the interleaved runs"]
        lines += ["%-16s" % "workload" + "".join(
            "%20s" % ("%s/%s" % (s, "snap" if p == "snap" else "lin"))
            for s, p in keys)]
    for wl in workloads if spread else []:
        cells = []
        for s, p in keys:
            v = spread.get((s, wl, p))
            cells.append("%20s" % ("%.2f [%.2f, %.2f]" % (
                median(v), min(v), max(v)) if v else "-"))
        lines.append("%-16s" % wl + "".join(cells))
    if passed:
        lines += ["", "Pass-through paths, paired rounds of 4 MiB at queue "
                  "depth 32 on partitions of one disk: throughput over "
                  "dm-linear's, geometric mean [95% interval] (writes: into "
                  "space free at the checkpoint, then rewrites; linear2, a "
                  "second dm-linear, shows the test bed's resolution)"]
        for (wl, system), p in sorted(passed.items()):
            lines.append("  %-18s %-7s %4d rounds  %.3f [%.3f, %.3f]" % (
                wl, system, p["rounds"], p["geomean"], p["low"],
                p["high"]))
    moved = {s: by[(s, "fs-untar-rm")]["backups_moved"]
             for s in ("bow1", "bow1-lowest") if (s, "fs-untar-rm") in by}
    if len(moved) == 2:
        lines += ["", "Backups moved on fs-untar-rm: %d (highest free space "
                  "first) vs %d (naive lowest first)" %
                  (moved["bow1"], moved["bow1-lowest"])]
    if scale:
        lines += ["", "Scale: free ranges, slab bytes per range-map node, time to "
                  "enter the checkpoint, time per first overwrite (QD1)"]
        for sc in scale:
            lines.append("%9d %8.1f B %9.2f ms %9.3f ms" % (
                sc["free_ranges"], sc["slab_bytes_per_node"],
                sc["checkpoint_ns"] / 1e6, sc["ns_per_first_overwrite"] / 1e6))
    if changed:
        lines += ["", "The changed query, reply after reply: written ranges, "
                  "lines, replies; through dmsetup: time, per range, slab "
                  "taken; bowctl changed: time, per range (user, system), "
                  "with --json, with 16,000-byte replies"]
        for c in changed:
            lines.append("%9d %9d %6d %9.2f s %7.2f us %8d B | %7.3f s "
                          "%6.2f us (%.2f, %.2f s) %7.3f s %7.3f s" % (
                c["written_ranges"], c["listed"], c["replies"], c["ns"] / 1e9,
                c["ns"] / 1e3 / c["listed"], c["slab_bytes"],
                c["bowctl_ns"] / 1e9, c["bowctl_ns"] / 1e3 / c["listed"],
                c["bowctl_user_ms"] / 1e3, c["bowctl_system_ms"] / 1e3,
                c["bowctl_json_ns"] / 1e9, c["bowctl_16k_replies_ns"] / 1e9))
    if restore:
        lines += ["", "bow-restore against dd copying as many bytes (bs=4096) "
                  "on the same image, median of %d runs each" %
                  len(next(iter(restore.values()))["dd_ns"])]
    for where, r in restore.items():
        r["bow_restore_median_ns"] = median(r["bow_restore_ns"])
        r["dd_median_ns"] = median(r["dd_ns"])
        r["ratio_to_dd"] = r["dd_median_ns"] / r["bow_restore_median_ns"]
        lines.append("  %-7s %d bytes: bow-restore %.3f s, dd %.3f s: %.2f of a "
                     "plain copy's throughput" %
                     (where, r["bytes"], r["bow_restore_median_ns"] / 1e9,
                      r["dd_median_ns"] / 1e9, r["ratio_to_dd"]))
    if restore_scale:
        lines += ["", "bow-restore at scale (peak resident set: mapped "
                  "device pages included)"]
    for r in restore_scale:
        lines.append("  %-22s %8d entries %6d log blocks: %6.2f s, %7.1f MiB" %
                     (r["what"], r["entries"], r["log_blocks"], r["seconds"],
                      r["peak_rss_kib"] / 1024))
    more, qd1_latency = latency_table(rows, extra["latency"])
    lines += more
    more, qd1_fua = fua_table(extra["fua_qd1"])
    lines += more
    if extra["resume"]:
        lines += ["", "Resuming a checkpoint: entries, block size, "
                  "backed-up bytes; the constructor's time and bytes read; "
                  "the backup check's after it, and its verdict"]
        for r in extra["resume"]:
            lines.append("   %8d %5d B %9.1f MiB | %8.2f s %9.1f MiB | %s" % (
                r["entries"], r["block_size"],
                r["entries"] * r["block_size"] / (1 << 20), r["ns"] / 1e9,
                r["bytes_read"] / (1 << 20),
                "refused" if r["refused"] else
                "%8.2f s %9.1f MiB %s" % (
                    r["check_ns"] / 1e9, r["check_bytes_read"] / (1 << 20),
                    r["backup_check"])))
    if extra["stall"]:
        lines += ["", "Transitions under a reader and a writer (QD1, 4 KiB): "
                  "free ranges, transition, its time; each one's median and "
                  "longest request (ms)"]
        for st in extra["stall"]:
            lines.append("   %9d %-10s %8.1f ms | reader %6.2f %8.1f | "
                         "writer %6.2f %8.1f" % (
                st["free_ranges"], st["transition"],
                st["transition_ns"] / 1e6, st["reader_p50_ns"] / 1e6,
                st["reader_max_ns"] / 1e6, st["writer_p50_ns"] / 1e6,
                st["writer_max_ns"] / 1e6))
    more, view_read = view_table(extra["view_read"])
    lines += more
    print("\n".join(lines))

    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"rows": rows, "scale": scale, "restore": restore,
                   "qd1_latency": qd1_latency, "qd1_fua": qd1_fua,
                   "transition_stalls": extra["stall"],
                   "resume": extra["resume"],
                   "view_read": view_read,
                   "restore_scale": restore_scale, "changed_scale": changed,
                   "pass_through": [dict(p, workload=wl, system=system)
                                    for (wl, system), p in passed.items()],
                   "per_run_ratios": [
                       {"system": s, "workload": wl, "against": p,
                        "ratios": v} for (s, wl, p), v in spread.items()]},
                  f, indent=1)

    # The chart: throughput ratio to dm-linear per workload and system.
    plotted = [s for s in systems if s != "linear" and s != "bow1-lowest"]
    dat = os.path.join(out, "ratios.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join(plotted) + "\n")
        for wl in workloads:
            if wl.startswith("fs-") and ("linear", wl) not in by:
                continue
            f.write(wl + " " + " ".join(
                "%.3f" % by[(s, wl)]["throughput_vs_linear"]
                if (s, wl) in by else "NaN" for s in plotted) + "\n")
    script = """set terminal pngcairo size 1200,500
set output '%s'
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set key outside right
set ylabel 'throughput / dm-linear'
set xtics rotate by -40
set yrange [0:*]
set grid y
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader
""" % (os.path.join(out, "ratios.png"), len(plotted) + 1, dat)
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("# no chart: gnuplot: %s" % e, file=sys.stderr)


if __name__ == "__main__":
    main()
