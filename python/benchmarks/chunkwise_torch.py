"""The chunkwise forward and forward + backward through PyTorch: tfla.torch
(the "chunkwise--tfla" kernel) against mlstm_kernels'
"chunkwise--native_autograd", at the xLSTM-7B head (B=1, NH=8, S=8192,
DQK=256, DHV=512), on float32 and on bfloat16 tensors. Prints CSV on stdout.

    python python/benchmarks/chunkwise_torch.py                      # 2 threads, 5 rounds
    python python/benchmarks/chunkwise_torch.py --threads 16 --tokens 32768
    python python/benchmarks/chunkwise_torch.py --cases forward --dtypes bfloat16

torch.set_num_threads(--threads) and tfla's threads are the same number.
bfloat16 rows give both kernels the same bfloat16 tensors: tfla at its
default precision (the forward with bf16 products, q, k, v read in place on
a CPU with AMX; the forward + backward in float32 on widened copies), the
native kernel in PyTorch's bfloat16 arithmetic.
Rounds alternate the kernels (tfla, native, tfla, ...); the CSV gives each
kernel's median over rounds and the ratio native / tfla. Columns: case,
implementation, shape, dtype, threads, median_seconds, min_seconds, rounds,
speedup (native median / tfla median, on the tfla rows).
`--implementations tfla,tfla_float32,native` adds tfla with
precision="float32" (on bfloat16 tensors: the exact float32 forward of the
widened values).
"""
import argparse
import functools
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


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


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
    parser.add_argument("--implementations", default="tfla,native",
                        help="tfla, native, and tfla_float32 (tfla with precision='float32': bfloat16 computed "
                             "in float32 on widened copies, the library's choice before bf16 products)")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help="the tensors' dtypes, each timed for every case (float32, bfloat16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    import tfla.torch as tt
    from mlstm_kernels.torch.chunkwise import registry
    kernels = {"tfla": tt.chunkwise_kernel, "native": registry["native_autograd"],
               "tfla_float32": functools.partial(tt.chunkwise_kernel, precision="float32")}
    kernels = {name: kernels[name] for name in args.implementations.split(",")}
    labels = {"tfla": "tfla.torch (chunkwise--tfla)", "native": "mlstm_kernels chunkwise--native_autograd",
              "tfla_float32": "tfla.torch (chunkwise--tfla precision=float32)"}
    shape = (1, args.heads, args.tokens, 256, 512)
    dtypes = args.dtypes.split(",")
    for dtype in dtypes:
        if dtype not in DTYPES:
            parser.error(f"--dtypes: {dtype!r} is not one of {', '.join(DTYPES)}")
    float32 = inputs(shape)
    data = {dtype: {name: value.to(DTYPES[dtype]) for name, value in float32.items()} for dtype in dtypes}

    def forward(kernel, x):
        with torch.no_grad():
            kernel(**x, chunk_size=args.chunk_size, return_last_states=True, threads=args.threads)

    def forward_backward(kernel, x):
        t = {name: value.clone().requires_grad_(True) for name, value in x.items()}
        h = kernel(**t, chunk_size=args.chunk_size, return_last_states=False, threads=args.threads)
        h.backward(torch.ones_like(h))

    cases = {"forward": forward, "forward_backward": forward_backward}
    times = {}
    for case in args.cases.split(","):
        for dtype in dtypes:
            for name, kernel in kernels.items():
                cases[case](kernel, data[dtype])  # warm-up (first-touch of buffers, thread start)
            for _ in range(args.rounds):
                for name, kernel in kernels.items():
                    start = time.perf_counter()
                    cases[case](kernel, data[dtype])
                    times.setdefault((case, dtype, name), []).append(time.perf_counter() - start)

    print("case,implementation,shape,dtype,threads,median_seconds,min_seconds,rounds,speedup")
    for case in args.cases.split(","):
        for dtype in dtypes:
            native = statistics.median(times[(case, dtype, "native")]) if "native" in kernels else None
            for name in kernels:
                values = times[(case, dtype, name)]
                median = statistics.median(values)
                speedup = f"{native / median:.3g}" if name.startswith("tfla") and native else ""
                print(f"chunkwise_{case},{labels[name]},{' '.join(map(str, shape))},{dtype},{args.threads},"
                      f"{median:.4g},{min(values):.4g},{len(values)},{speedup}", flush=True)


if __name__ == "__main__":
    main()
