"""Peak memory growth of one chunkwise forward (with the final state) at the
xLSTM-7B head (B=1, NH=8, S=8192, DQK=256, DHV=512, float32): tfla.torch
against mlstm_kernels' chunkwise--native_autograd, each in a fresh
subprocess. Prints CSV on stdout.

    python python/benchmarks/peak_memory.py
    python python/benchmarks/peak_memory.py --tokens 32768 --threads 16

In the subprocess: imports, inputs and a small warm-up call first; then the
peak resident set is reset (`echo 5 > /proc/self/clear_refs`, Linux) and one
call runs. growth = VmHWM after the call - VmRSS before it; also as a
multiple of the size of h (B*NH*S*DHV*4 bytes). ru_maxrss (which cannot be
reset) is reported as a cross-check of the whole process's peak.
Columns: implementation, shape, threads, growth_bytes, h_bytes,
growth_over_h, process_peak_bytes.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

from _process import status


def child(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    B, NH, S, DQK, DHV = 1, args.heads, args.tokens, 256, 512
    if args.implementation == "tfla":
        import tfla.torch as tt
        kernel = tt.chunkwise_kernel
    else:
        from mlstm_kernels.torch.chunkwise import registry
        kernel = registry["native_autograd"]
    rng = np.random.default_rng(0)

    def make(s):
        arrays = dict(q=rng.standard_normal((B, NH, s, DQK)) / np.sqrt(DQK), k=rng.standard_normal((B, NH, s, DQK)),
                      v=rng.standard_normal((B, NH, s, DHV)), i=rng.standard_normal((B, NH, s)),
                      f=3 + rng.standard_normal((B, NH, s)))
        return {name: torch.from_numpy(value.astype(np.float32)) for name, value in arrays.items()}

    with torch.no_grad():
        kernel(**make(128), chunk_size=64, return_last_states=True)
        x = make(S)
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        before = status("VmRSS")
        h, state = kernel(**x, chunk_size=64, return_last_states=True)
        peak = status("VmHWM")
    h_bytes = B * NH * S * DHV * 4
    print(json.dumps(dict(growth=peak - before, h=h_bytes, process_peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                          shape=[B, NH, S, DQK, DHV])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="fresh subprocesses per implementation")
    parser.add_argument("--implementation", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.implementation:
        child(args)
        return
    labels = {"tfla": "tfla.torch (chunkwise--tfla)", "native": "mlstm_kernels chunkwise--native_autograd"}
    print("implementation,shape,threads,growth_bytes,h_bytes,growth_over_h,process_peak_bytes")
    for _ in range(args.repeats):
        for name in labels:
            command = [sys.executable, __file__, "--implementation", name, "--tokens", str(args.tokens),
                       "--heads", str(args.heads), "--threads", str(args.threads)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=dict(os.environ))
            r = json.loads(output.stdout.strip().splitlines()[-1])
            print(f"{labels[name]},{' '.join(map(str, r['shape']))},{args.threads},{r['growth']},{r['h']},"
                  f"{r['growth'] / r['h']:.3g},{r['process_peak']}", flush=True)


if __name__ == "__main__":
    main()
