"""The generation step of one layer through PyTorch, as a model calls it:
mlstm_kernels' wrapper (`wrap_chunkwise__arbitrary_sequence_length_with_padding`,
S = 1) around tfla's step kernel (a new state, or step_inplace: the given
state advanced in place) and around mlstm_kernels' native step, then the
state copied into a cache as transformers' xLSTM does. xLSTM-7B layer
(B=1, NH=8, DQK=256, DHV=512, float32). Prints CSV on stdout.

    python python/benchmarks/step_torch.py
    python python/benchmarks/step_torch.py --threads 16 --batch 8

Rounds alternate the kernels; each round times --calls steps (a torch
matrix-vector product of the model's size runs between steps, as the
projections do in a model) and keeps their median; the CSV gives the median
over rounds. Columns: case, implementation, shape, threads, median_ms,
min_round_ms, rounds, speedup (native / this).
"""
import argparse
import statistics
import time
from functools import partial

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import tfla.torch as tt
    from mlstm_kernels.torch.kernel_wrappers import wrap_chunkwise__arbitrary_sequence_length_with_padding as wrap
    from mlstm_kernels.torch.recurrent import registry_step
    B, NH, DQK, DHV = args.batch, 8, 256, 512
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(B, NH, 1, DQK, generator=g) / 16, torch.randn(B, NH, 1, DQK, generator=g)
    v = torch.randn(B, NH, 1, DHV, generator=g)
    i, f = torch.randn(B, NH, 1, generator=g), 3 + torch.randn(B, NH, 1, generator=g)
    weight, x = torch.randn(4096, 4096, generator=g) / 64, torch.randn(1, 4096, generator=g)
    kernels = {"tfla (new state)": tt.step_kernel, "tfla (step_inplace)": tt.step_kernel_inplace,
               "mlstm_kernels native": registry_step["native"]}
    caches = {name: [torch.zeros(B, NH, DQK, DHV), torch.zeros(B, NH, DQK), torch.zeros(B, NH, 1)]
              for name in kernels}

    def one(name):
        cache = caches[name]
        h, state = wrap(q=q, k=k, v=v, i=i, f=f, c_initial=cache[0], n_initial=cache[1], m_initial=cache[2],
                        mlstm_chunkwise_kernel=None, mlstm_sequence_kernel=None,
                        mlstm_step_kernel=partial(kernels[name], dtype_state=torch.float32), chunk_size=64,
                        eps=1e-6, return_last_states=True, dtype_state=torch.float32)
        for target, value in zip(cache, state):
            target.copy_(value)  # as transformers' xLSTMModel keeps its cache

    times = {}
    with torch.no_grad():
        for name in kernels:
            for _ in range(20):
                one(name)
        for _ in range(args.rounds):
            for name in kernels:
                samples = []
                for _ in range(args.calls):
                    x @ weight.T
                    start = time.perf_counter()
                    one(name)
                    samples.append(time.perf_counter() - start)
                times.setdefault(name, []).append(statistics.median(samples))
        a, b = caches["tfla (new state)"], caches["tfla (step_inplace)"]
        assert all(torch.equal(s, t) for s, t in zip(a, b)), "the two tfla steps disagree"
    native = statistics.median(times["mlstm_kernels native"])
    print("case,implementation,shape,threads,median_ms,min_round_ms,rounds,speedup")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"step_layer,{name},{B} {NH} 1 {DQK} {DHV},{args.threads},{median * 1e3:.4g},{min(values) * 1e3:.4g},"
              f"{len(values)},{native / median:.3g}", flush=True)


if __name__ == "__main__":
    main()
