"""Per-call overhead of the in-process API against the `tfla` command, and
the chunkwise forward / forward+backward through tfla.torch against
mlstm_kernels' chunkwise--native_autograd. Prints CSV on stdout.

    python python/benchmarks/overhead.py                       # all
    python python/benchmarks/overhead.py --tokens 2048 --threads 2 --skip-cli

Columns: case, implementation, shape (B NH S DQK DHV), dtype, threads,
median seconds per call, calls timed.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np


def median_seconds(function, repeats, warmup=1):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(case, implementation, shape, dtype, threads, seconds, repeats):
    print(f"{case},{implementation},{' '.join(map(str, shape))},{dtype},{threads},{seconds:.6g},{repeats}",
          flush=True)


def inputs(shape, dtype, seed=0):
    B, NH, S, DQK, DHV = shape
    rng = np.random.default_rng(seed)
    return dict(q=(rng.standard_normal((B, NH, S, DQK)) / np.sqrt(DQK)).astype(dtype),
                k=rng.standard_normal((B, NH, S, DQK)).astype(dtype),
                v=rng.standard_normal((B, NH, S, DHV)).astype(dtype),
                i=rng.standard_normal((B, NH, S)).astype(dtype),
                f=(3 + rng.standard_normal((B, NH, S))).astype(dtype))


def overhead(args):
    import tfla
    shape = (1, 1, 64, 16, 16)
    x = inputs(shape, np.float64)
    repeats = args.repeats_small
    row("forward_call", "tfla (in process)", shape, "float64", 1,
        median_seconds(lambda: tfla.forward(**x, threads=1), repeats, warmup=10), repeats)
    if not args.skip_cli:
        from tfla import cli
        try:
            command = cli.Tfla()
        except cli.TflaNotFound as error:
            print(f"# skipped the command: {error}", file=sys.stderr)
            return
        n = max(5, repeats // 50)
        row("forward_call", "tfla run (command, .npy files)", shape, "float64", 1,
            median_seconds(lambda: command.forward(**x, threads=1), n), n)
        kernel = command.forward(**x, threads=1, repeat=20).kernel_seconds
        row("forward_kernel", "tfla run --repeat (kernel only)", shape, "float64", 1, kernel, 20)


def torch_chunkwise(args):
    import torch
    import tfla.torch as tt
    torch.set_num_threads(args.threads)
    try:
        from mlstm_kernels.torch.chunkwise import registry
        native = registry["native_autograd"]
    except ImportError as error:
        print(f"# native kernels unavailable: {error}", file=sys.stderr)
        native = None
    shape = (1, 8, args.tokens, 256, 512)
    x = {k: torch.from_numpy(v) for k, v in inputs(shape, np.float32).items()}
    kernels = [("tfla.torch (chunkwise--tfla)", tt.chunkwise_kernel)]
    if native is not None:
        kernels.append(("mlstm_kernels chunkwise--native_autograd", native))
    for name, kernel in kernels:
        def forward():
            with torch.no_grad():
                kernel(**x, chunk_size=64, return_last_states=True)

        def forward_backward():
            t = {k: v.clone().requires_grad_(True) for k, v in x.items()}
            h = kernel(**t, chunk_size=64, return_last_states=False)
            h.backward(torch.ones_like(h))

        row("chunkwise_forward", name, shape, "float32", args.threads,
            median_seconds(forward, args.repeats), args.repeats)
        row("chunkwise_forward_backward", name, shape, "float32", args.threads,
            median_seconds(forward_backward, args.repeats), args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=8192, help="S of the 7B-head shape (default 8192)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per chunkwise case")
    parser.add_argument("--repeats-small", type=int, default=2000, help="timed calls for the overhead case")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    print("case,implementation,shape,dtype,threads,median_seconds,calls")
    overhead(args)
    if not args.skip_torch:
        torch_chunkwise(args)


if __name__ == "__main__":
    main()
