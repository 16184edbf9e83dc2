#!/usr/bin/env python3
"""Times the authors' PyTorch-native chunkwise mLSTM on the CPU.

The baseline that Scripts/bench/compare-pytorch.py and
Scripts/bench/sequence-sweep.py run next to tfla-bench: mlstm-kernels 2.0.6,
float32 unless --dtype says otherwise, no autograd, the same shapes and
thread count as the Swift benchmark, and the best of several chunk sizes
(the reference package needs S % chunk == 0).

Usage: python3 Scripts/bench/bench-pytorch.py [--threads 2] [--repeats 3] [--shapes all]
       [--chunk-sizes 64,128,256] [--sequence S] [--step | --backward] [--dtype bfloat16] [--accuracy]

With --step: the authors' native generation step (mlstm_recurrent_step__native)
instead of the chunkwise forward.

With --backward: forward + backward, PyTorch autograd through
mlstm_chunkwise__native_autograd (loss = sum(h * dh)), each chunk size in a
fresh process so that its peak resident memory can be reported.

With --dtype bfloat16: the forward on bfloat16 inputs (PyTorch's bf16
matrix products, oneDNN on the CPU). With --accuracy: instead of timing, the
h error of the forward in --dtype (realistic gates, as the Swift tests draw
them) against the float64 forward of the float32 inputs ("total") and of the
inputs rounded to --dtype ("own"), as max |error| / max |h|.

Needs: pip install torch==2.13.0 mlstm-kernels==2.0.6 einops numpy
Prints CSV: shape,B,NH,S,DQK,DHV,best_chunk,median_s,min_s[,peak_rss_mb]
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from mlstm_kernels.torch.chunkwise.native.fw import mlstm_chunkwise_fw

SHAPES = {
    "xlstm-7b-head": (1, 8, 8192, 256, 512),
    "paper-head": (1, 16, 16384, 128, 256),
    "batched": (8, 4, 2048, 128, 128),
    # The many-core shapes of tfla-bench --threads-sweep.
    "one-head-64k": (1, 1, 65536, 256, 512),
    "batch-8x8": (8, 8, 2048, 256, 512),
}


def draw_inputs(shape, seed=0, generator=None):
    """q, k, v standard normal, i ~ N(0, 1), f ~ N(3, 1) (realistic gates), float32."""
    b, nh, s, dqk, dhv = shape
    gen = generator or torch.Generator().manual_seed(seed)
    return [torch.randn(b, nh, s, dqk, generator=gen), torch.randn(b, nh, s, dqk, generator=gen),
            torch.randn(b, nh, s, dhv, generator=gen), torch.randn(b, nh, s, generator=gen),
            3.0 + torch.randn(b, nh, s, generator=gen)]


def time_forward(shape, chunk, repeats, dtype=torch.float32):
    q, k, v, i, f = (t.to(dtype) for t in draw_inputs(shape, seed=0))
    with torch.no_grad():
        mlstm_chunkwise_fw(q, k, v, i, f, chunk_size=chunk, return_last_states=True)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            mlstm_chunkwise_fw(q, k, v, i, f, chunk_size=chunk, return_last_states=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def time_forward_backward(shape, chunk, repeats):
    """Median and minimum seconds of forward + backward, and the peak RSS (MB)."""
    from mlstm_kernels.torch.chunkwise.native import mlstm_chunkwise__native_autograd

    gen = torch.Generator().manual_seed(0)
    leaves = draw_inputs(shape, generator=gen)
    b, nh, s, _, dhv = shape
    dh = torch.randn(b, nh, s, dhv, generator=gen)
    times = []
    for repeat in range(repeats + 1):
        q, k, v, i, f = (t.clone().requires_grad_(True) for t in leaves)
        start = time.perf_counter()
        h = mlstm_chunkwise__native_autograd(q, k, v, i, f, chunk_size=chunk)
        (h * dh).sum().backward()
        if repeat > 0:  # the first run is a warm-up
            times.append(time.perf_counter() - start)
        del h, q, k, v, i, f
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return statistics.median(times), min(times), peak_mb


def accuracy(shape, chunk, dtype):
    """h error of the forward in `dtype` against float64: (total, own)."""
    inputs = draw_inputs(shape, seed=7)
    with torch.no_grad():
        def forward(tensors):
            return mlstm_chunkwise_fw(*tensors, chunk_size=chunk, return_last_states=False)[0]
        truth = forward([t.double() for t in inputs])
        rounded = forward([t.to(dtype).double() for t in inputs])
        h = forward([t.to(dtype) for t in inputs]).double()
    scale = truth.abs().max()
    return ((h - truth).abs().max() / scale).item(), ((h - rounded).abs().max() / rounded.abs().max()).item()


def time_step(threads, steps):
    """Median seconds per native recurrent step at the 7B head (B=1, NH=8)."""
    from mlstm_kernels.torch.recurrent import mlstm_recurrent_step__native

    b, nh, dqk, dhv = 1, 8, 256, 512
    gen = torch.Generator().manual_seed(0)
    c = torch.zeros(b, nh, dqk, dhv)
    n = torch.zeros(b, nh, dqk)
    m = torch.zeros(b, nh, 1)
    q, k = torch.randn(b, nh, dqk, generator=gen), torch.randn(b, nh, dqk, generator=gen)
    v = torch.randn(b, nh, dhv, generator=gen)
    i, f = torch.randn(b, nh, 1, generator=gen), 3 + torch.randn(b, nh, 1, generator=gen)
    times = []
    with torch.no_grad():
        for step in range(steps + 10):
            start = time.perf_counter()
            _, (c, n, m) = mlstm_recurrent_step__native(q, k, v, i, f, c, n, m)
            if step >= 10:
                times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", default="all")
    parser.add_argument("--chunk-sizes", default="64,128,256")
    parser.add_argument("--sequence", type=int, default=None, help="override S for every shape")
    parser.add_argument("--step", action="store_true", help="time the native generation step instead")
    parser.add_argument("--backward", action="store_true", help="time forward + backward (autograd) instead")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="the forward's input dtype (timing and --accuracy)")
    parser.add_argument("--accuracy", action="store_true",
                        help="print the forward's h error in --dtype against float64 instead of timing")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one backward run, JSON out
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        shape, chunk = json.loads(args.one)
        print(json.dumps(time_forward_backward(tuple(shape), chunk, args.repeats)))
        return
    if args.step:
        median, fastest = time_step(args.threads, 1000)
        print(f"native step (B=1, NH=8, DQK=256, DHV=512, float32): median {median * 1e6:.1f} us, min {fastest * 1e6:.1f} us")
        return
    names = list(SHAPES)[:3] if args.shapes == "all" else args.shapes.split(",")  # "all": the standard three
    dtype = getattr(torch, args.dtype)
    if args.accuracy:
        print("shape,B,NH,S,DQK,DHV,chunk,dtype,total_error,own_error")
        for name in names:
            b, nh, s, dqk, dhv = SHAPES[name]
            s = args.sequence or s
            chunk = int(args.chunk_sizes.split(",")[0])
            total, own = accuracy((b, nh, s, dqk, dhv), chunk, dtype)
            print(f"{name},{b},{nh},{s},{dqk},{dhv},{chunk},{args.dtype},{total:.3e},{own:.3e}", flush=True)
        return
    if args.backward:
        print("shape,B,NH,S,DQK,DHV,best_chunk,median_s,min_s,peak_rss_mb")
        for name in names:
            b, nh, s, dqk, dhv = SHAPES[name]
            s = args.sequence or s
            best = None
            for chunk in (int(c) for c in args.chunk_sizes.split(",")):
                if s % chunk:
                    continue
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--repeats",
                                      str(args.repeats), "--one", json.dumps([[b, nh, s, dqk, dhv], chunk])],
                                     check=True, capture_output=True, text=True).stdout
                median, fastest, peak = json.loads(out)
                print(f"# {name} chunk {chunk}: median {median:.4f} s, peak RSS {peak:.0f} MB", file=sys.stderr)
                if best is None or median < best[1]:
                    best = (chunk, median, fastest, peak)
            print(f"{name},{b},{nh},{s},{dqk},{dhv},{best[0]},{best[1]:.6f},{best[2]:.6f},{best[3]:.0f}", flush=True)
        return
    print("shape,B,NH,S,DQK,DHV,best_chunk,median_s,min_s")
    for name in names:
        b, nh, s, dqk, dhv = SHAPES[name]
        if args.sequence:
            s = args.sequence
        best = None
        for chunk in (int(c) for c in args.chunk_sizes.split(",")):
            if s % chunk:
                continue
            median, fastest = time_forward((b, nh, s, dqk, dhv), chunk, args.repeats, dtype)
            print(f"# {name} chunk {chunk}: median {median:.4f} s", file=sys.stderr)
            if best is None or median < best[1]:
                best = (chunk, median, fastest)
        print(f"{name},{b},{nh},{s},{dqk},{dhv},{best[0]},{best[1]:.6f},{best[2]:.6f}", flush=True)


if __name__ == "__main__":
    main()
