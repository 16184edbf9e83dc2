"""The chunkwise forward and forward + backward through PyTorch: tfla.torch
(the "chunkwise--tfla" kernel) against mlstm_kernels'
"chunkwise--native_autograd", at the xLSTM-7B head (B=1, NH=8, S=8192,
DQK=256, DHV=512, float32). Prints CSV on stdout.

    python python/benchmarks/chunkwise_torch.py                      # 2 threads, 5 rounds
    python python/benchmarks/chunkwise_torch.py --threads 16 --tokens 32768

torch.set_num_threads(--threads) and tfla's threads are the same number.
Rounds alternate the kernels (tfla, native, tfla, ...); the CSV gives each
kernel's median over rounds and the ratio native / tfla. Columns: case,
implementation, shape, dtype, threads, median_seconds, min_seconds, rounds,
speedup (native median / tfla median, on the tfla rows).
"""
import argparse
import statistics
import time

import numpy as np
import torch


def inputs(shape, seed=0):
    B, NH, S, DQK, DHV = shape
    rng = np.random.default_rng(seed)
    arrays = dict(q=rng.standard_normal((B, NH, S, DQK)) / np.sqrt(DQK), k=rng.standard_normal((B, NH, S, DQK)),
                  v=rng.standard_normal((B, NH, S, DHV)), i=rng.standard_normal((B, NH, S)),
                  f=3 + rng.standard_normal((B, NH, S)))
    return {name: torch.from_numpy(value.astype(np.float32)) for name, value in arrays.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--cases", default="forward,forward_backward")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True) first (subnormals as zero in PyTorch's kernels)")
    parser.add_argument("--implementations", default="tfla,native")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    import tfla.torch as tt
    from mlstm_kernels.torch.chunkwise import registry
    kernels = {"tfla": tt.chunkwise_kernel, "native": registry["native_autograd"]}
    kernels = {name: kernels[name] for name in args.implementations.split(",")}
    labels = {"tfla": "tfla.torch (chunkwise--tfla)", "native": "mlstm_kernels chunkwise--native_autograd"}
    shape = (1, args.heads, args.tokens, 256, 512)
    x = inputs(shape)

    def forward(kernel):
        with torch.no_grad():
            kernel(**x, chunk_size=args.chunk_size, return_last_states=True, threads=args.threads)

    def forward_backward(kernel):
        t = {name: value.clone().requires_grad_(True) for name, value in x.items()}
        h = kernel(**t, chunk_size=args.chunk_size, return_last_states=False, threads=args.threads)
        h.backward(torch.ones_like(h))

    cases = {"forward": forward, "forward_backward": forward_backward}
    times = {}
    for case in args.cases.split(","):
        for name, kernel in kernels.items():
            cases[case](kernel)  # warm-up (first-touch of buffers, thread start)
        for _ in range(args.rounds):
            for name, kernel in kernels.items():
                start = time.perf_counter()
                cases[case](kernel)
                times.setdefault((case, name), []).append(time.perf_counter() - start)

    print("case,implementation,shape,dtype,threads,median_seconds,min_seconds,rounds,speedup")
    for case in args.cases.split(","):
        native = statistics.median(times[(case, "native")]) if "native" in kernels else None
        for name in kernels:
            values = times[(case, name)]
            median = statistics.median(values)
            speedup = f"{native / median:.3g}" if name == "tfla" and native else ""
            print(f"chunkwise_{case},{labels[name]},{' '.join(map(str, shape))},float32,{args.threads},"
                  f"{median:.4g},{min(values):.4g},{len(values)},{speedup}", flush=True)


if __name__ == "__main__":
    main()
