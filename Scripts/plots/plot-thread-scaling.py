#!/usr/bin/env python3
"""Speed-up against threads per shape, from the CSVs of
`tfla-bench --threads-sweep` on a many-core host (and, where present, the
simulator's prediction at 16 workers from `tfla-bench --simulate`).

Usage: python3 Scripts/plots/plot-thread-scaling.py [DATA_DIR ...]
Reads DATA_DIR/sweep-*.csv (default Docs/data/many-cores),
DATA_DIR/simulated-*.csv and the PyTorch-native baseline DATA_DIR/torch-*.csv
(`Scripts/bench/bench-pytorch.py --threads N` on the same host); writes
Docs/plots/thread-scaling.png. With several folders (older runs first), a
series or prediction of a later folder replaces the one of the same work and
shape from an earlier folder.
Needs matplotlib.
"""
import csv
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
folders = sys.argv[1:] or [os.path.join(ROOT, "Docs", "data", "many-cores")]

series = {}
baselines = {}
predicted = {}
for data in folders:
    run_series, run_baselines = {}, {}
    for path in sorted(glob.glob(os.path.join(data, "sweep-*.csv"))):
        with open(path) as f:
            for row in csv.DictReader(f):
                label = f"{row['work']} {row['shape']}"
                if row["work"] == "step":
                    label = f"step B={row['B']}, NH={row['NH']}"
                run_series.setdefault(label, []).append((int(row["threads"]), float(row["speedup"])))
    # The PyTorch-native baseline (mlstm-kernels' chunkwise forward), same host.
    for path in sorted(glob.glob(os.path.join(data, "torch-*.csv"))):
        with open(path) as f:
            for row in csv.DictReader(f):
                run_baselines.setdefault(f"{row['work']} {row['shape']}", []).append((int(row["threads"]), float(row["speedup"])))
    for path in sorted(glob.glob(os.path.join(data, "simulated-*.csv"))):
        with open(path) as f:
            for row in csv.DictReader(f):
                predicted[f"{row['work']} {row['shape']}"] = (int(row["workers"]), float(row["predicted_speedup"]))
    series.update(run_series)
    baselines.update(run_baselines)

fig, ax = plt.subplots(figsize=(7.5, 5))
top = 1
for index, (label, points) in enumerate(sorted(series.items())):
    points.sort()
    threads = [p[0] for p in points]
    top = max(top, max(threads))
    line, = ax.plot(threads, [p[1] for p in points], marker="o", label=label)
    if label in predicted:
        workers, speedup = predicted[label]
        ax.plot([workers], [speedup], marker="x", markersize=10, color=line.get_color(), linestyle="none")
for label, points in sorted(baselines.items()):
    points.sort()
    ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", linestyle="--", label=label)
ax.plot([1, top], [1, top], color="grey", linestyle=":", label="linear")
ax.set_xscale("log", base=2)
ax.set_yscale("log", base=2)
ax.set_xlabel("threads (decomposition planned for the same count)")
ax.set_ylabel("speed-up over 1 thread (medians)")
ax.set_title("tfla on a 16-core host (float32, exp gate); × = simulator's prediction")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
out = os.path.join(ROOT, "Docs", "plots", "thread-scaling.png")
fig.tight_layout()
fig.savefig(out, dpi=120)
print("wrote", out)
