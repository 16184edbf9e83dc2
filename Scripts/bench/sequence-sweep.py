#!/usr/bin/env python3
"""Time against sequence length at the xLSTM-7B head shape: tfla and the
PyTorch-native chunkwise baseline, measured in one run.

Usage: python3 Scripts/bench/sequence-sweep.py [--threads 2] [--repeats 3] [--backward]
Forward: both gates against the native forward (S = 1024 ... 32768).
--backward: forward + backward (exp gate, exact mode) against autograd
through the native chunkwise kernel (best of L = 128/256/512), S = 1024 ... 8192.
Needs: a release build (make build), the packages of Scripts/bench/bench-pytorch.py,
and matplotlib. Writes Docs/data/sequence-sweep[-backward].csv and
Docs/plots/sequence-sweep[-backward].png.
"""
import argparse
import csv
import io
import os
import subprocess
import sys

from release_build import ROOT, release_bin_path
LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768]
LENGTHS_BACKWARD = [1024, 2048, 4096, 8192]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backward", action="store_true", help="forward + backward instead of the forward")
    args = parser.parse_args()
    bin_path = release_bin_path()
    suffix = "-backward" if args.backward else ""
    rows = []
    for s in LENGTHS_BACKWARD if args.backward else LENGTHS:
        out = os.path.join(ROOT, "Docs", "data", f".sweep-{s}.csv")
        extra = ["--backward", "--gate", "exp"] if args.backward else []
        subprocess.run([os.path.join(bin_path, "tfla-bench"), "--shapes", "xlstm-7b-head", "--sequence", str(s),
                        "--threads", str(args.threads), "--repeats", str(args.repeats), "--csv", out, *extra],
                       check=True, cwd=ROOT, stdout=sys.stderr)
        with open(out) as handle:
            for row in csv.DictReader(handle):
                median = row["total_median_s"] if args.backward else row["median_s"]
                rows.append({"S": s, "kernel": f"tfla {row['gate']}", "median_s": float(median)})
        os.remove(out)
        extra = ["--backward", "--chunk-sizes", "128,256,512"] if args.backward else []
        torch_out = subprocess.run([sys.executable, "Scripts/bench/bench-pytorch.py", "--shapes", "xlstm-7b-head",
                                    "--sequence", str(s), "--threads", str(args.threads), "--repeats", str(args.repeats),
                                    *extra],
                                   check=True, capture_output=True, text=True, cwd=ROOT).stdout
        for row in csv.DictReader(io.StringIO(torch_out)):
            rows.append({"S": s, "kernel": f"pytorch native (L={row['best_chunk']})", "median_s": float(row["median_s"])})
        print(f"S={s}: " + ", ".join(f"{r['kernel']} {r['median_s'] * 1e3:.0f} ms" for r in rows if r["S"] == s), file=sys.stderr)
    target = os.path.join(ROOT, "Docs", "data", f"sequence-sweep{suffix}.csv")
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["S", "kernel", "median_s"])
        writer.writeheader()
        writer.writerows(rows)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axis = plt.subplots(figsize=(6.5, 4.2))
    groups = {}
    for row in rows:
        label = ("pytorch native, autograd (best L)" if args.backward else "pytorch native (best L)") \
            if row["kernel"].startswith("pytorch") else row["kernel"] + (" (forward + backward)" if args.backward else "")
        groups.setdefault(label, []).append((row["S"], row["median_s"] * 1e3))
    for label, points in groups.items():
        xs, ys = zip(*sorted(points))
        axis.plot(xs, ys, marker="o", label=label)
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("sequence length S")
    what = "forward + backward" if args.backward else "forward"
    axis.set_ylabel(f"{what} time (ms, median)")
    axis.set_title(f"mLSTM {what}, B=1 NH=8 DQK=256 DHV=512, float32, {args.threads} threads", fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "Docs", "plots", f"sequence-sweep{suffix}.png"), dpi=110)
    print(f"wrote {os.path.relpath(target, ROOT)} and Docs/plots/sequence-sweep{suffix}.png")


if __name__ == "__main__":
    main()
