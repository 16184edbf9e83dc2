#!/usr/bin/env python3
"""Chunk-size sweep at the xLSTM-7B head shape: time and memory of the
chunkwise forward for chunk sizes 64…4096, in inference mode (running state
only) and training mode (every chunk state kept) — the CPU counterpart of the
TFLA paper's chunk-size figure.

A third row, "inference-bf16", runs the inference forward with bf16 products
(ChunkwiseOptions.precision = .bf16Products, the fastest product path of the
CPU it runs on). `--modes inference-bf16` re-runs only that row and keeps the
others from the existing CSV.

Usage: python3 Scripts/bench/chunk-size-sweep.py [--threads 2] [--repeats 3] [--modes inference,training,inference-bf16]
Needs: a release build of tfla-bench (make bench), pip install matplotlib.
Writes Docs/data/chunk-size-sweep.csv and Docs/plots/chunk-size-sweep.png.
"""
import argparse
import csv
import os
import subprocess
import sys

from release_build import ROOT, release_bin_path
CHUNKS = [64, 128, 256, 512, 1024, 2048, 4096]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="inference,training,inference-bf16",
                        help="rows to measure; the CSV's other rows are kept")
    args = parser.parse_args()
    modes = args.modes.split(",")
    bin_path = release_bin_path()
    data_dir = os.path.join(ROOT, "Docs", "data")
    os.makedirs(data_dir, exist_ok=True)
    target = os.path.join(data_dir, "chunk-size-sweep.csv")
    rows = []
    if os.path.exists(target):
        with open(target) as handle:
            rows = [r for r in csv.DictReader(handle) if r["mode"] not in modes]
    for mode in modes:
        out = os.path.join(data_dir, f"chunk-size-sweep-{mode}.csv")
        bf16 = mode.endswith("-bf16")
        cmd = [os.path.join(bin_path, "tfla-bench"), "--shapes", "xlstm-7b-head", "--gate", "exp",
               "--mode", mode.removesuffix("-bf16"), "--threads", str(args.threads), "--repeats", str(args.repeats),
               "--chunk-sizes", ",".join(map(str, CHUNKS)), "--csv", out] + (["--precision", "bf16"] if bf16 else [])
        print("+ " + " ".join(cmd[1:]), file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=sys.stderr)
        with open(out) as handle:
            measured = list(csv.DictReader(handle))
        for row in measured:
            row["mode"] = mode
        rows += measured
        os.remove(out)
    order = {"inference": 0, "training": 1, "inference-bf16": 2}
    rows.sort(key=lambda r: (order.get(r["mode"], 3), int(r["chunk"])))
    # Chunk-state memory: the states kept besides the running one (training
    # mode keeps C, n, m before every chunk).
    for row in rows:
        b, nh, s, dqk, dhv = (int(row[k]) for k in ("B", "NH", "S", "DQK", "DHV"))
        chunks = -(-s // int(row["chunk"]))
        kept = chunks if row["mode"] == "training" else 0
        row["chunk_state_bytes"] = kept * b * nh * (dqk * dhv + dqk + 1) * 4
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, marker in (("inference", "o"), ("training", "s"), ("inference-bf16", "^")):
        sel = [r for r in rows if r["mode"] == mode]
        if not sel:
            continue
        xs = [int(r["chunk"]) for r in sel]
        left.plot(xs, [float(r["median_s"]) * 1e3 for r in sel], marker=marker, label=mode)
        if mode != "inference-bf16":  # allocates what the float32 inference forward does
            right.plot(xs, [int(r["bytes_allocated"]) / 2**20 for r in sel], marker=marker, label=f"{mode}: allocated")
        if mode == "training":
                right.plot(xs, [int(r["chunk_state_bytes"]) / 2**20 for r in sel], marker="x", linestyle="--",
                       label="training: chunk states")
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("chunk size L")
        axis.grid(True, alpha=0.3)
        axis.legend()
    left.set_ylabel("forward time (ms, median)")
    right.set_ylabel("memory (MiB)")
    fig.suptitle(f"mLSTMexp forward, B=1 NH=8 S=8192 DQK=256 DHV=512, {args.threads} threads "
                 "(float32; inference-bf16: bf16 products)")
    fig.tight_layout()
    plots = os.path.join(ROOT, "Docs", "plots")
    os.makedirs(plots, exist_ok=True)
    fig.savefig(os.path.join(plots, "chunk-size-sweep.png"), dpi=110)
    print(f"wrote {os.path.relpath(target, ROOT)} and Docs/plots/chunk-size-sweep.png")


if __name__ == "__main__":
    main()
