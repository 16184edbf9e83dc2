#!/usr/bin/env python3
"""Bar chart of the forward in float32, with bf16 products, and PyTorch's
bf16 forward, per standard shape, from one run on the AMX host.

Reads Docs/data/bf16-amx/forward-shapes.csv (tfla-bench --csv, float32 and
bf16 rows) and Docs/data/bf16-amx/pytorch-bf16.csv (Scripts/bench/bench-pytorch.py
--dtype bfloat16). Writes Docs/plots/bf16-forward.png.
Usage: python3 Scripts/plots/plot-bf16.py   (needs matplotlib)
"""
import csv
import os

from plotting import ROOT, pyplot, save

DATA = os.path.join(ROOT, "Docs", "data", "bf16-amx")


def main():
    with open(os.path.join(DATA, "forward-shapes.csv")) as handle:
        ours = list(csv.DictReader(handle))
    with open(os.path.join(DATA, "pytorch-bf16.csv")) as handle:
        torch = {r["shape"]: float(r["median_s"]) for r in csv.DictReader(handle)}
    shapes = [r["shape"] for r in ours if "+" not in r["shape"]]
    float32 = {r["shape"]: float(r["median_s"]) for r in ours if "+" not in r["shape"]}
    bf16 = {r["shape"].split("+")[0]: float(r["median_s"]) for r in ours if "+bf16" in r["shape"]}

    fig, axis = pyplot().subplots(figsize=(8, 4))
    width = 0.27
    series = [("tfla float32", float32), ("tfla bf16 products (AMX)", bf16), ("PyTorch bf16 (mlstm-kernels native)", torch)]
    for index, (label, values) in enumerate(series):
        xs = [i + (index - 1) * width for i in range(len(shapes))]
        ys = [values.get(s, float("nan")) * 1e3 for s in shapes]
        bars = axis.bar(xs, ys, width, label=label)
        axis.bar_label(bars, fmt="%.0f", fontsize=8)
    axis.set_xticks(range(len(shapes)), shapes)
    axis.set_ylabel("forward time (ms, median)")
    axis.set_title("mLSTMexp forward, 2 threads, 16-core Xeon host with AMX")
    axis.legend(fontsize=8)
    axis.grid(True, axis="y", alpha=0.3)
    save(fig, "bf16-forward.png")


if __name__ == "__main__":
    main()
