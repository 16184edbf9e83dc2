#!/usr/bin/env python3
"""Bar chart of the 7B-head forward on the 16-core host at 2 and 16 threads:
float32, bf16 products on float32 tensors, bfloat16 tensors in and out
(the packed chunk walk), and PyTorch's bf16 forward at 16 threads.

Reads Docs/data/bf16-end-to-end/run4/forward_t{2,16}_r1.csv (tfla-bench --csv
--precision both --storage float32,bf16) and torch_bf16_t16.csv
(Scripts/bench/bench-pytorch.py --dtype bfloat16). Writes
Docs/plots/bf16-end-to-end.png.
Usage: python3 Scripts/plots/plot-bf16-end-to-end.py   (needs matplotlib)
"""
import csv
import os

from plotting import ROOT, pyplot, save, torch_median_ms

DATA = os.path.join(ROOT, "Docs", "data", "bf16-end-to-end", "run4")
KINDS = [("xlstm-7b-head+into", "float32"), ("xlstm-7b-head+bf16-amx+into", "bf16 products"),
         ("xlstm-7b-head+bf16-amx+into+bf16io", "bfloat16 in and out")]


def main():
    times = {}
    for threads in (2, 16):
        with open(os.path.join(DATA, f"forward_t{threads}_r1.csv")) as handle:
            for row in csv.DictReader(handle):
                times[(row["shape"], threads)] = float(row["median_s"]) * 1e3
    torch16 = torch_median_ms(os.path.join(DATA, "torch_bf16_t16.csv"))

    fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.6))
    for axis, threads in zip(axes, (2, 16)):
        labels = [label for _, label in KINDS]
        values = [times[(name, threads)] for name, _ in KINDS]
        if threads == 16:
            labels.append("PyTorch bf16")
            values.append(torch16)
        bars = axis.bar(range(len(values)), values, color=["#777777", "#4c72b0", "#55a868", "#c44e52"][:len(values)])
        for bar, value in zip(bars, values):
            axis.text(bar.get_x() + bar.get_width() / 2, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(values)))
        axis.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        axis.set_title(f"{threads} threads")
        axis.set_ylabel("ms (median)")
    fig.suptitle("7B head (1, 8, 8192, 256, 512) forward, 16-core AMX host")
    save(fig, "bf16-end-to-end.png")


if __name__ == "__main__":
    main()
