#!/usr/bin/env python3
"""Plot one uadpbench run directory: latency CDF and histogram from samples.csv.

    python3 scripts/plot_run.py RESULTS_DIR        -> RESULTS_DIR/plots/*.png

Needs pandas and matplotlib (scripts/setup.sh installs them).
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir = Path(sys.argv[1])
    samples_csv = run_dir / "samples.csv"
    if not samples_csv.exists():
        print(f"{samples_csv} not found: flood runs keep no per-message samples; see summary.csv", file=sys.stderr)
        return 1
    df = pd.read_csv(samples_csv)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    written = []
    for column, label in [("rtt_ns", "round-trip time"), ("one_way_ns", "one-way latency"),
                          ("send_deviation_ns", "send deviation from deadline")]:
        if column not in df or df[column].dropna().empty:
            continue
        us = df[column].dropna().sort_values() / 1000.0
        run_id = df["run_id"].iloc[0]
        fig, (cdf, hist) = plt.subplots(1, 2, figsize=(12, 4.5))
        cdf.plot(us.values, [i / len(us) for i in range(1, len(us) + 1)])
        cdf.set_xscale("log")
        cdf.set_xlabel(f"{label} (µs, log scale)")
        cdf.set_ylabel("fraction of messages ≤ x")
        cdf.set_title(f"{run_id}: {label} CDF (n={len(us)})")
        cdf.grid(True, which="both", alpha=0.3)
        hist.hist(us.clip(upper=us.quantile(0.999)), bins=100)
        hist.set_xlabel(f"{label} (µs, clipped at p99.9 = {us.quantile(0.999):.1f} µs)")
        hist.set_ylabel("messages")
        hist.set_title(f"{run_id}: {label} histogram")
        fig.tight_layout()
        out = plots / f"{column.removesuffix('_ns')}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    if not written:
        print("no latency columns with data in samples.csv", file=sys.stderr)
        return 1
    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
