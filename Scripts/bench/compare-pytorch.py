#!/usr/bin/env python3
"""Runs the Swift benchmark and the PyTorch-native baseline in one go and
prints their ratio per shape (same machine, same threads, same run).

Usage: python3 Scripts/bench/compare-pytorch.py [--threads 2] [--repeats 5] [--shapes all] [--backward]
Needs a release build of tfla-bench (make bench builds it) and the packages
listed in Scripts/bench/bench-pytorch.py. Writes Docs/data/forward-vs-pytorch.csv,
or with --backward (forward + backward against autograd through the
authors' native chunkwise kernel, best of chunk sizes 128-512)
Docs/data/backward-vs-pytorch.csv.
"""
import argparse
import csv
import io
import os
import subprocess
import sys

from release_build import ROOT, release_bin_path


def run(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout


def write_rows(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {os.path.relpath(path, ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default="all")
    parser.add_argument("--output", default=None)
    parser.add_argument("--backward", action="store_true", help="forward + backward instead of the forward")
    parser.add_argument("--chunk-size", type=int, default=128, help="with --backward: the Swift chunk size")
    parser.add_argument("--pytorch-chunk-sizes", default="128,256,512",
                        help="with --backward: the baseline's chunk sizes (64 is 2-5x slower than 256 there)")
    args = parser.parse_args()
    if args.backward:
        return backward(args)
    args.output = args.output or os.path.join(ROOT, "Docs", "data", "forward-vs-pytorch.csv")
    bin_path = release_bin_path()
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    swift_csv = os.path.join(os.path.dirname(args.output), "forward-swift.csv")
    run([os.path.join(bin_path, "tfla-bench"), "--threads", str(args.threads), "--repeats", str(args.repeats),
         "--shapes", args.shapes, "--csv", swift_csv])
    torch_out = run([sys.executable, "Scripts/bench/bench-pytorch.py", "--threads", str(args.threads),
                     "--repeats", str(max(2, args.repeats // 2)), "--shapes", args.shapes])
    baseline = {row["shape"]: row for row in csv.DictReader(io.StringIO(torch_out))}
    rows = []
    print(f"{'shape':15} {'gate':4} {'tfla (ms)':>10} {'pytorch (ms)':>13} {'speed-up':>9} {'floor-eff':>9}")
    with open(swift_csv) as handle:
        for row in csv.DictReader(handle):
            base = baseline.get(row["shape"])
            if base is None:
                continue
            ratio = float(base["median_s"]) / float(row["median_s"])
            print(f"{row['shape']:15} {row['gate']:4} {float(row['median_s']) * 1e3:10.1f} "
                  f"{float(base['median_s']) * 1e3:13.1f} {ratio:8.2f}x {float(row['floor_efficiency']):9.3f}")
            rows.append({**row, "pytorch_chunk": base["best_chunk"], "pytorch_median_s": base["median_s"],
                         "speedup": f"{ratio:.3f}"})
    write_rows(rows, args.output)


def backward(args):
    output = args.output or os.path.join(ROOT, "Docs", "data", "backward-vs-pytorch.csv")
    os.makedirs(os.path.dirname(output), exist_ok=True)
    swift_csv = os.path.join(os.path.dirname(output), "backward-swift.csv")
    run([os.path.join(release_bin_path(), "tfla-bench"), "--backward", "--gate", "exp", "--threads", str(args.threads),
         "--repeats", str(args.repeats), "--shapes", args.shapes, "--chunk-sizes", str(args.chunk_size), "--csv", swift_csv])
    torch_out = run([sys.executable, "Scripts/bench/bench-pytorch.py", "--backward", "--threads", str(args.threads),
                     "--repeats", str(max(2, args.repeats // 2)), "--shapes", args.shapes,
                     "--chunk-sizes", args.pytorch_chunk_sizes])
    baseline = {row["shape"]: row for row in csv.DictReader(io.StringIO(torch_out))}
    rows = []
    print(f"{'shape':15} {'tfla fwd+bwd (ms)':>18} {'peak RSS (MB)':>14} {'pytorch (ms)':>13} {'peak RSS (MB)':>14} {'speed-up':>9}")
    with open(swift_csv) as handle:
        for row in csv.DictReader(handle):
            base = baseline.get(row["shape"])
            if base is None:
                continue
            ratio = float(base["median_s"]) / float(row["total_median_s"])
            print(f"{row['shape']:15} {float(row['total_median_s']) * 1e3:18.1f} {int(row['peak_rss_bytes']) / 1e6:14.0f} "
                  f"{float(base['median_s']) * 1e3:13.1f} {float(base['peak_rss_mb']):14.0f} {ratio:8.2f}x")
            rows.append({**row, "pytorch_chunk": base["best_chunk"], "pytorch_median_s": base["median_s"],
                         "pytorch_peak_rss_mb": base["peak_rss_mb"], "speedup": f"{ratio:.3f}"})
    write_rows(rows, output)


if __name__ == "__main__":
    main()
