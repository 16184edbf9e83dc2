#!/usr/bin/env python3
"""0.7.1 against 0.7.2 (C between chunks only in its two packed terms) on
the 16-core host: the 7B-head bfloat16-in-and-out forward at 16 threads,
invocation by invocation, in runs 12-17 (each invocation the median of 7
calls; runs 13-15 and 17 ran 0.7.2 first in each pair, run 12 0.7.1
first, run 16 in ABBA rounds).

Reads the tfla-bench output in Docs/data/bf16-end-to-end/run12..run17/.
Writes Docs/plots/bf16-packed-state.png.
Usage: python3 Scripts/plots/plot-bf16-packed-state.py   (needs matplotlib)
"""
import os
import statistics

from plotting import ROOT, pyplot, save, tfla_bench_medians

DATA = os.path.join(ROOT, "Docs", "data", "bf16-end-to-end")
RUNS = [12, 13, 14, 15, 16, 17]


def medians(run, name):
    return tfla_bench_medians(os.path.join(DATA, f"run{run}", name))


def main():
    fig, axes = pyplot().subplots(1, len(RUNS), figsize=(15, 3.6), sharey=True)
    for axis, run in zip(axes, RUNS):
        for label, name, color, offset in [("0.7.1", "bf16_t16_base.txt", "#999999", -0.2),
                                           ("0.7.2", "bf16_t16_new.txt", "#c44e52", 0.2)]:
            values = medians(run, name)
            axis.bar([i + offset for i in range(len(values))], values, 0.4, color=color,
                     label=f"{label} (median {statistics.median(values) + 1e-9:.1f})")
        axis.set_title(f"run {run}", fontsize=9)
        axis.set_xlabel("invocation", fontsize=8)
        axis.set_xticks(range(len(medians(run, "bf16_t16_base.txt"))))
        axis.set_xticklabels([str(i + 1) for i in range(len(medians(run, "bf16_t16_base.txt")))], fontsize=7)
        axis.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("ms (median of 7 calls)")
    fig.suptitle("7B head, bfloat16 in and out, 16 threads, 16-core AMX host: 0.7.1 against 0.7.2", fontsize=10)
    save(fig, "bf16-packed-state.png")


if __name__ == "__main__":
    main()
