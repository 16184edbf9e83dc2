#!/usr/bin/env python3
"""The 7B-head bfloat16-in-and-out forward on the 16-core host, round by
round (run 10): the 0.7.0 walk against 0.7.1's at 16 and 2 threads, with
PyTorch's bf16 forward of the same run, and the float32 forward at 16
threads with 64- and 128-column items.

Reads the tfla-bench output in Docs/data/bf16-end-to-end/run10/ (the median
column of each round) and the PyTorch CSVs beside it. Writes
Docs/plots/bf16-rounds.png.
Usage: python3 Scripts/plots/plot-bf16-rounds.py   (needs matplotlib)
"""
import os

from plotting import ROOT, pyplot, save, tfla_bench_medians, torch_median_ms

DATA = os.path.join(ROOT, "Docs", "data", "bf16-end-to-end", "run10")


def medians(name):
    return tfla_bench_medians(os.path.join(DATA, name))


def torch_median(name):
    return torch_median_ms(os.path.join(DATA, name))


def main():
    fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 1.4, 1.6]})
    panels = [
        (axes[0], "bfloat16 in and out, 16 threads", [("0.7.0", "bf16_t16_base.txt", "#999999"),
                                                      ("0.7.1", "bf16_t16_unshared.txt", "#55a868")],
         torch_median("torch_bf16_t16.csv")),
        (axes[1], "bfloat16 in and out, 2 threads", [("0.7.0", "bf16_t2_base.txt", "#999999"),
                                                     ("0.7.1", "bf16_t2_new.txt", "#55a868")],
         torch_median("torch_bf16_t2.csv")),
        (axes[2], "float32, 16 threads", [("64-column items", "f32_t16_w64.txt", "#999999"),
                                          ("128-column items", "f32_t16_planned.txt", "#4c72b0")], None),
    ]
    for axis, title, series, torch in panels:
        width = 0.8 / len(series)
        for index, (label, name, color) in enumerate(series):
            values = medians(name)
            positions = [r + index * width for r in range(len(values))]
            axis.bar(positions, values, width, label=label, color=color)
        rounds = len(medians(series[0][1]))
        axis.set_xticks([r + 0.4 - width / 2 for r in range(rounds)])
        axis.set_xticklabels([str(r + 1) for r in range(rounds)], fontsize=8)
        axis.set_xlabel("round")
        axis.set_ylabel("ms (median of 7 calls)")
        title_text = title if torch is None else f"{title}\n(PyTorch bf16: {torch:.0f} ms)"
        axis.set_title(title_text, fontsize=9)
        axis.legend(fontsize=8)
    fig.suptitle("7B head (1, 8, 8192, 256, 512) forward, 16-core AMX host, alternating rounds (run 10)", fontsize=10)
    save(fig, "bf16-rounds.png")


if __name__ == "__main__":
    main()
