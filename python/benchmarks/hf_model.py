"""transformers' xLSTMForCausalLM end to end, on the native kernels and on
tfla (`tfla.torch.register(replace_native=True)` before the model is built):
prefill time and peak memory, per-token decode time, the time inside the
mLSTM backends (the kernels and their wrappers), and whether both give the
same logits and greedy tokens. Every configuration runs in a fresh
subprocess; random weights (seeded), float32. Prints CSV on stdout.

    python python/benchmarks/hf_model.py                                # both models, 8192 tokens
    python python/benchmarks/hf_model.py --models 7b --tokens 8192,32768 --timeout 1800
    python python/benchmarks/hf_model.py --threads 16 --rounds 3

Models: "7b" is 2 blocks shaped like xLSTM-7B (hidden_size 4096, 8 heads,
qk_dim_factor 0.5, v_dim_factor 1: DQK 256, DHV 512 per head, ffn_proj_factor
2.667); "small" is hidden_size 512, 4 heads, 4 blocks (DQK 64, DHV 128).
The vocabulary is --vocab (default 2048, so that the logits stay small
beside the blocks; xLSTM-7B has 50304). chunk_size 64, autocast and state in
float32.

Columns: model, tokens, implementation, threads, prefill_seconds,
prefill_backend_seconds (inside the mLSTM backends), prefill_growth_bytes
(VmHWM during prefill - VmRSS before it), decode_ms_per_token,
decode_backend_ms_per_layer (one layer's mLSTM backend per token),
logits_max_abs_diff, same_tokens (against the native run of the same
round), speedup / memory_saved_bytes (tfla rows: native / tfla prefill
time, native - tfla growth). Rounds alternate the implementations.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _process import status

MODELS = {"7b": dict(hidden_size=4096, num_heads=8, num_hidden_layers=2),
          "small": dict(hidden_size=512, num_heads=4, num_hidden_layers=4)}


def child(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    if args.implementation.startswith("tfla"):
        import tfla.torch as tt
        tt.register(replace_native=True, step_inplace=args.implementation == "tfla_inplace")
    from transformers import xLSTMConfig, xLSTMForCausalLM
    torch.manual_seed(0)
    config = xLSTMConfig(vocab_size=args.vocab, **MODELS[args.model], qk_dim_factor=0.5, v_dim_factor=1.0,
                         chunk_size=64, chunkwise_kernel="chunkwise--native_autograd",
                         sequence_kernel="native_sequence__native", step_kernel="native", mode="inference",
                         return_last_states=True, autocast_kernel_dtype="float32",
                         inference_state_dtype="float32", eps=1e-6)
    model = xLSTMForCausalLM(config).float().eval()
    backends = [block.mlstm_layer.mlstm_backend for block in model.backbone.blocks]
    kernel_name = backends[0].chunkwise_kernel_fn.__module__
    backend_time = [0.0]
    starts = {}

    def before(module, inputs):
        starts[id(module)] = time.perf_counter()

    def after(module, inputs, output):
        backend_time[0] += time.perf_counter() - starts.pop(id(module))

    for backend in backends:
        backend.register_forward_pre_hook(before)
        backend.register_forward_hook(after)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, args.vocab, (1, args.tokens), generator=generator)
    result = dict(kernel_module=kernel_name)
    with torch.no_grad():
        model(ids[:, :128])  # warm-up: first calls, thread start, libraries
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        rss = status("VmRSS")
        backend_time[0] = 0.0
        start = time.perf_counter()
        out = model(ids, use_cache=False)
        result["prefill_seconds"] = time.perf_counter() - start
        result["prefill_growth_bytes"] = status("VmHWM") - rss
        result["prefill_backend_seconds"] = backend_time[0]
        logits = out.logits[0, -args.keep_logits:].float().numpy()
        del out
        # Decode: a short prompt, then greedy tokens one at a time.
        prompt = ids[:, :args.prompt]
        out = model(prompt, use_cache=True)
        cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
        tokens, times, backend = [int(token)], [], []
        for _ in range(args.decode):
            backend_time[0] = 0.0
            start = time.perf_counter()
            out = model(token, cache=cache, use_cache=True)
            times.append(time.perf_counter() - start)
            backend.append(backend_time[0] / len(backends))
            cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(token))
    result["decode_ms_per_token"] = statistics.median(times) * 1e3
    result["decode_backend_ms_per_layer"] = statistics.median(backend) * 1e3
    result["tokens"] = tokens
    np.save(args.logits_file, logits)
    print(json.dumps(result))


def run_child(args, model, tokens, implementation, logits_file):
    command = [sys.executable, __file__, "--child", "--implementation", implementation, "--models", model,
               "--tokens", str(tokens), "--threads", str(args.threads), "--vocab", str(args.vocab),
               "--decode", str(args.decode), "--prompt", str(args.prompt), "--keep-logits", str(args.keep_logits),
               "--logits-file", logits_file]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        print(f"# {model} {tokens} {implementation}: over the time limit of {args.timeout} s", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"# {model} {tokens} {implementation}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="7b,small")
    parser.add_argument("--tokens", default="8192", help="prefill lengths, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="native/tfla pairs per configuration")
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--decode", type=int, default=16, help="greedy tokens timed one by one")
    parser.add_argument("--prompt", type=int, default=32, help="prompt length before decoding")
    parser.add_argument("--keep-logits", type=int, default=256, help="last positions whose logits are compared")
    parser.add_argument("--implementations", default="native,tfla,tfla_inplace",
                        help="native; tfla (register(replace_native=True)); tfla_inplace (and step_inplace=True)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--implementation", help=argparse.SUPPRESS)
    parser.add_argument("--logits-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.model, args.tokens = args.models, int(args.tokens)
        child(args)
        return

    import numpy as np
    print("model,tokens,implementation,threads,prefill_seconds,prefill_backend_seconds,prefill_growth_bytes,"
          "decode_ms_per_token,decode_backend_ms_per_layer,logits_max_abs_diff,same_tokens,speedup,"
          "memory_saved_bytes", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        for model in args.models.split(","):
            for tokens in map(int, args.tokens.split(",")):
                for round_ in range(args.rounds):
                    results, logits = {}, {}
                    for implementation in args.implementations.split(","):
                        path = os.path.join(directory, f"{implementation}.npy")
                        results[implementation] = run_child(args, model, tokens, implementation, path)
                        if results[implementation] is not None:
                            logits[implementation] = np.load(path)
                    native = results.get("native")
                    for implementation, r in results.items():
                        if r is None:
                            continue
                        diff = same = speedup = saved = ""
                        if implementation != "native" and native is not None:
                            diff = f"{float(np.abs(logits[implementation] - logits['native']).max()):.3g}"
                            same = str(r["tokens"] == native["tokens"])
                            speedup = f"{native['prefill_seconds'] / r['prefill_seconds']:.3g}"
                            saved = str(native["prefill_growth_bytes"] - r["prefill_growth_bytes"])
                        print(f"{model},{tokens},{implementation},{args.threads},{r['prefill_seconds']:.4g},"
                              f"{r['prefill_backend_seconds']:.4g},{r['prefill_growth_bytes']},"
                              f"{r['decode_ms_per_token']:.4g},{r['decode_backend_ms_per_layer']:.4g},{diff},{same},"
                              f"{speedup},{saved}", flush=True)
                        print(f"# {model} {tokens} {implementation}: kernel module {r['kernel_module']}",
                              file=sys.stderr)


if __name__ == "__main__":
    main()
