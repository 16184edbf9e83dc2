"""transformers' xLSTMForCausalLM prefill and decode timed in one process,
the mLSTM backends of every block swapped between mlstm_kernels' native
kernels and tfla's (`register(replace_native=True, step_inplace=True)`)
from one round to the next, so that both see the same machine load. The
models and configuration are hf_model.py's (random weights, float32).
Memory is hf_model.py's job (a fresh process per configuration). Prints CSV.

    python python/benchmarks/hf_alternate.py --model 7b --tokens 8192 --rounds 3
    python python/benchmarks/hf_alternate.py --model small --threads 16

Columns: model, tokens, implementation, threads, rounds, prefill_median_s,
prefill_backend_median_s, rest_median_s (prefill minus backend),
decode_ms_per_token, decode_backend_ms_per_layer, prefill_speedup,
prefill_speedups_per_round (native / tfla of each round, ";"-separated).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_model import MODELS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="7b", choices=sorted(MODELS))
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--decode", type=int, default=16)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    import tfla.torch as tt
    from transformers import xLSTMConfig, xLSTMForCausalLM
    torch.manual_seed(0)
    config = xLSTMConfig(vocab_size=args.vocab, **MODELS[args.model], qk_dim_factor=0.5, v_dim_factor=1.0,
                         chunk_size=64, chunkwise_kernel="chunkwise--native_autograd",
                         sequence_kernel="native_sequence__native", step_kernel="native", mode="inference",
                         return_last_states=True, autocast_kernel_dtype="float32",
                         inference_state_dtype="float32", eps=1e-6)
    model = xLSTMForCausalLM(config).float().eval()
    layers = [block.mlstm_layer for block in model.backbone.blocks]
    backends = {"native": [layer.mlstm_backend for layer in layers]}
    with tt.register(replace_native=True, step_inplace=True):
        backends["tfla"] = [type(layer.mlstm_backend)(layer.mlstm_backend.config) for layer in layers]
    assert backends["tfla"][0].step_kernel_fn is tt.step_kernel_inplace
    clock = {"total": 0.0, "start": 0.0}

    def before(module, inputs):
        clock["start"] = time.perf_counter()

    def after(module, inputs, output):
        clock["total"] += time.perf_counter() - clock["start"]

    for group in backends.values():
        for backend in group:
            backend.register_forward_pre_hook(before)
            backend.register_forward_hook(after)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, args.vocab, (1, args.tokens), generator=generator)
    results = {name: dict(prefill=[], backend=[], decode=[], decode_backend=[]) for name in backends}
    tokens = {}
    with torch.no_grad():
        for round_ in range(args.rounds + 1):  # round 0 warms up (short prefill) and is not kept
            for name, group in backends.items():
                for layer, backend in zip(layers, group):
                    layer.mlstm_backend = backend
                clock["total"] = 0.0
                start = time.perf_counter()
                model(ids if round_ else ids[:, :256], use_cache=False)
                seconds, backend_seconds = time.perf_counter() - start, clock["total"]
                out = model(ids[:, :32], use_cache=True)
                cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
                generated, times, kernel = [int(token)], [], []
                for _ in range(args.decode):
                    clock["total"] = 0.0
                    begin = time.perf_counter()
                    out = model(token, cache=cache, use_cache=True)
                    times.append(time.perf_counter() - begin)
                    kernel.append(clock["total"] / len(layers))
                    cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
                    generated.append(int(token))
                tokens[name] = generated
                if round_:
                    r = results[name]
                    r["prefill"].append(seconds)
                    r["backend"].append(backend_seconds)
                    r["decode"].append(statistics.median(times))
                    r["decode_backend"].append(statistics.median(kernel))
                print(f"# round {round_} {name}: prefill {seconds:.2f} s, decode {statistics.median(times) * 1e3:.1f} "
                      f"ms/token", file=sys.stderr, flush=True)
            assert tokens["native"] == tokens["tfla"], "the greedy tokens differ"
    print("model,tokens,implementation,threads,rounds,prefill_median_s,prefill_backend_median_s,rest_median_s,"
          "decode_ms_per_token,decode_backend_ms_per_layer,prefill_speedup,prefill_speedups_per_round")
    native = results["native"]
    for name, r in results.items():
        ratios = [a / b for a, b in zip(native["prefill"], r["prefill"])]
        rest = [a - b for a, b in zip(r["prefill"], r["backend"])]
        print(f"{args.model},{args.tokens},{name},{args.threads},{args.rounds},{statistics.median(r['prefill']):.4g},"
              f"{statistics.median(r['backend']):.4g},{statistics.median(rest):.4g},"
              f"{statistics.median(r['decode']) * 1e3:.4g},{statistics.median(r['decode_backend']) * 1e3:.4g},"
              f"{statistics.median(native['prefill']) / statistics.median(r['prefill']):.3g},"
              f"{';'.join(f'{x:.3g}' for x in ratios)}", flush=True)


if __name__ == "__main__":
    main()
