#!/usr/bin/env python3
"""The least any probe on the same hooks could add to a round trip, from an `overhead` run.

    python3 bench/scripts/probe_floor.py OVERHEAD_DIR [OVERHEAD_DIR ...]

For every probe run under OVERHEAD_DIR/runs/ it takes the hook hits per benchmark message
(probe_cost.csv run counts over the calibration window, by mechanism) and what a hit of an
empty program costs on that host (meta.json probes.dispatch, measured before the run
attached), and prints per directory:

  * floor (empty programs): classic hits x classic hit + BTF hits x BTF hit;
  * floor + one clock read per hit (CLOCK_NS, default 46 ns: what BPF statistics count for an
    empty run here, a clock read's share);
  * the added RTT p50 of the probes and, if the directory has a bpftrace arm, of bpftrace
    (overhead.csv), and the floors as fractions of bpftrace's.

Medians over the directory's probe runs. docs/performance.md, "What any probe on these hooks
costs at least", explains the figures.
"""

import csv
import json
import os
import statistics
import sys

CLOCK_NS = float(os.environ.get("CLOCK_NS", "46"))
CLASSIC = {"tracepoint"}
BTF = {"tp_btf", "raw_tp"}


def run_floor(run_dir):
    """(classic hits, BTF hits, classic hit ns, BTF hit ns) per message of one probe run."""
    with open(os.path.join(run_dir, "meta.json")) as f:
        meta = json.load(f)
    probes = meta.get("probes") or {}
    host = (probes.get("dispatch") or {}).get("this_host") or {}
    messages = (probes.get("stats") or {}).get("off_at_packet")
    if not host.get("measured") or not messages:
        return None
    cost = host["cost"]
    classic = btf = 0.0
    with open(os.path.join(run_dir, "probe_cost.csv")) as f:
        for row in csv.DictReader(f):
            runs = int(row["run_count"] or 0)
            if row["mechanism"] in CLASSIC:
                classic += runs / messages
            elif row["mechanism"] in BTF:
                btf += runs / messages
    return classic, btf, cost["tracepoint"]["median_ns"], cost["btf_tracepoint"]["median_ns"]


def added(overhead_dir):
    """{arm: added RTT p50 ns} from overhead.csv."""
    out = {}
    with open(os.path.join(overhead_dir, "overhead.csv")) as f:
        for row in csv.DictReader(f):
            if row["metric"] == "rtt" and row["statistic"] == "p50":
                out[row["arm"]] = float(row["delta"])
    return out


def main(dirs):
    if not dirs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for d in dirs:
        runs_dir = os.path.join(d, "runs")
        floors = [
            f
            for r in sorted(os.listdir(runs_dir))
            if (f := run_floor(os.path.join(runs_dir, r))) is not None
        ]
        if not floors:
            print(f"{d}: no probe run with a dispatch calibration (UADPBENCH_PROBE_STATS=off?)")
            continue
        c, b, ch, bh = (statistics.median(x) for x in zip(*floors))
        empty = c * ch + b * bh
        clock = empty + (c + b) * CLOCK_NS
        arms = added(d)
        print(f"{d}: {len(floors)} probe runs")
        print(f"  hook hits per message: {c:.1f} classic x {ch:.0f} ns, {b:.1f} BTF x {bh:.0f} ns")
        print(f"  floor, empty programs: {empty / 1000:.2f} us; + one clock read per hit: {clock / 1000:.2f} us")
        if "probes" in arms:
            print(f"  probes added: {arms['probes'] / 1000:+.2f} us ({arms['probes'] / clock:.2f} x the floor)")
        if "bpftrace" in arms:
            bt = arms["bpftrace"]
            ratio = f"{arms['probes'] / bt:.2f}" if "probes" in arms else "-"
            print(f"  bpftrace added: {bt / 1000:+.2f} us; probes / bpftrace {ratio}; floor / bpftrace {empty / bt:.2f} (empty), {clock / bt:.2f} (+ clock)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
