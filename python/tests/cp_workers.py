"""Worker processes for the context-parallel tests: each rank runs its
slice of one sequence and compares with the single-process run, which it
computes itself (tiny shapes). Results go to a JSON file per rank."""
import json
import os

import numpy as np
import torch
import torch.distributed as dist

import tfla.torch as tt
from support import problem


def cases():
    """(name, arguments) of the compared problems; the splits are per world size."""
    base = dict(b=1, nh=2, dqk=4, dhv=6)
    yield "exp-state", dict(base, seed=1, s=23, gate="exp", state=True, extreme=False, chunk_size=8)
    yield "exp-nostate", dict(base, seed=2, s=19, gate="exp", state=False, extreme=False, chunk_size=4)
    yield "sig-state", dict(base, seed=3, s=21, gate="sig", state=True, extreme=False, chunk_size=8)
    yield "exp-extreme", dict(base, seed=4, s=24, gate="exp", state=True, extreme=True, chunk_size=8)
    yield "sig-extreme", dict(base, seed=5, s=17, gate="sig", state=False, extreme=True, chunk_size=4)
    yield "exp-float32", dict(base, seed=6, s=20, gate="exp", state=True, extreme=False, chunk_size=8,
                              dtype="float32", tolerance=1e-5)


def splits(s, world):
    """Unequal slices, the last rank's a single token when world > 1."""
    if world == 1:
        return [s]
    first = [max(1, (s - 1) // (world - 1) + (1 if r == 0 else -1 if r == 1 else 0)) for r in range(world - 1)]
    first[-1] = s - 1 - sum(first[:-1])
    return first + [1]


def inputs(spec):
    x = problem(spec["seed"], b=spec["b"], nh=spec["nh"], s=spec["s"], dqk=spec["dqk"], dhv=spec["dhv"],
                state=spec["state"], gate=spec["gate"])
    if spec["extreme"]:
        rng = np.random.default_rng(spec["seed"] + 100)
        # Large |i|, f far on both sides; the noise keeps the stabilizer's
        # maxima free of exact ties (where the gradient is a convention).
        x["i"] = rng.choice([-30.0, 30.0, 12.0, -1.0], size=x["i"].shape) + 0.1 * rng.standard_normal(x["i"].shape)
        x["f"] = rng.choice([-30.0, 40.0, 25.0, 0.5], size=x["f"].shape) + 0.1 * rng.standard_normal(x["f"].shape)
    dtype = torch.float32 if spec.get("dtype") == "float32" else torch.float64
    t = {name: torch.tensor(value, dtype=dtype) for name, value in x.items()}
    rng = np.random.default_rng(spec["seed"] + 200)
    weights = {name: torch.tensor(rng.standard_normal(shape), dtype=dtype) for name, shape in (
        ("h", t["v"].shape), ("c", t["c0"].shape if "c0" in t else (spec["b"], spec["nh"], spec["dqk"], spec["dhv"])),
        ("n", (spec["b"], spec["nh"], spec["dqk"])), ("m", (spec["b"], spec["nh"], 1)))}
    return t, weights


def loss_of(h, state, weights, lo, hi, final):
    loss = (h * weights["h"][:, :, lo:hi]).sum()
    if final:
        c, n, m = state
        loss = loss + (c * weights["c"]).sum() + (n * weights["n"]).sum() + (m * weights["m"]).sum()
    return loss


def relative(a, b):
    """The largest error relative to the largest magnitude (at least 1)."""
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def run_case(spec, rank, world, group, mode="exact"):
    t, weights = inputs(spec)
    kw = dict(gate=spec["gate"], chunk_size=spec["chunk_size"], mode=mode)
    names = [n for n in ("q", "k", "v", "i", "f", "c0", "n0", "m0") if n in t]
    # One process.
    full = {n: t[n].clone().requires_grad_(True) for n in names}
    h, state = tt.mlstm(*(full[n] for n in "qkvif"), full.get("c0"), full.get("n0"), full.get("m0"), **kw)
    loss_of(h, state, weights, 0, spec["s"], True).backward()
    # This rank's slice.
    sizes = splits(spec["s"], world)
    lo = sum(sizes[:rank])
    hi = lo + sizes[rank]
    mine = {n: t[n][:, :, lo:hi].clone().requires_grad_(True) for n in "qkvif"}
    if rank == 0:
        mine.update({n: t[n].clone().requires_grad_(True) for n in ("c0", "n0", "m0") if n in t})
    results = []
    for exchange in ("all_gather", "all_gather", "chain"):
        local = {n: v.detach().clone().requires_grad_(True) for n, v in mine.items()}
        hp, sp = tt.context_parallel_chunkwise(*(local[n] for n in "qkvif"), local.get("c0"), local.get("n0"),
                                               local.get("m0"), return_last_states=True, group=group,
                                               exchange=exchange, **kw)
        loss_of(hp, sp, weights, lo, hi, rank == world - 1).backward()
        results.append((hp.detach(), [x.detach() for x in sp], {n: v.grad for n, v in local.items()}))
    # The chain exchange composes the same states in the same order: bit for bit the same.
    chain = [(results[0][0], results[2][0])] + list(zip(results[0][1], results[2][1])) + [
        (results[0][2][n], results[2][2][n]) for n in results[0][2]]
    chain_identical = all(torch.equal(a, b) for a, b in chain)
    (hp, sp, grads), (hp2, sp2, grads2) = results[:2]
    errors = {"h": relative(hp, h.detach()[:, :, lo:hi])}
    for name, a, b in zip("cnm", sp, state):
        errors[name] = relative(a, b.detach())
    for name, g in grads.items():
        reference = full[name].grad
        if name in "qkvif":
            reference = reference[:, :, lo:hi]
        errors["d" + name] = relative(g, reference)
    identical = torch.equal(hp, hp2) and all(torch.equal(a, b) for a, b in zip(sp, sp2)) and all(
        torch.equal(grads[n], grads2[n]) for n in grads)
    return dict(errors=errors, identical=identical, chain_identical=chain_identical, sizes=sizes)


def worker(rank, world, address, out_dir, use_group):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    group = None
    if use_group:
        dist.init_process_group("gloo", init_method=address, rank=rank, world_size=world)
    report = {}
    try:
        for name, spec in cases():
            report[name] = run_case(spec, rank, world, group)
        if use_group and world > 1:
            try:
                run_case(dict(next(cases())[1]), rank, world, group, mode="reference")
                report["reference-mode-refused"] = False
            except Exception as error:  # noqa: BLE001 - the refusal's type is asserted by the test
                report["reference-mode-refused"] = type(error).__name__
        if use_group:
            # No rank tears its group down while a message to or from it is
            # in flight (gloo aborts the process then).
            dist.barrier()
    finally:
        if use_group:
            dist.destroy_process_group()
        torch.set_num_threads(threads)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(report, handle)



def tiny_model():
    from transformers import xLSTMConfig, xLSTMForCausalLM
    torch.manual_seed(0)
    config = xLSTMConfig(vocab_size=97, hidden_size=128, num_hidden_layers=2, num_heads=2, chunk_size=16,
                         chunkwise_kernel="chunkwise--native_autograd", sequence_kernel="native_sequence__native",
                         step_kernel="native", mode="inference", return_last_states=True,
                         autocast_kernel_dtype="float32", inference_state_dtype="float32", eps=1e-6)
    with tt.register(replace_native=True):
        return xLSTMForCausalLM(config).float().eval()


PROMPT = [5, 17, 3, 42, 8, 60, 1, 33, 21, 9, 70, 2, 11, 44, 4, 90, 13, 27, 6, 50, 7, 81, 36]
PROMPT_SPLIT = [9, 6, 7, 1]   # unequal; the last slice one token (the step kernel's path)


def greedy(model, logits, cache, steps):
    tokens = []
    for _ in range(steps):
        token = logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(int(token))
        out = model(token, cache=cache, use_cache=True)
        logits, cache = out.logits, out.cache
    return tokens


def model_worker(rank, world, address, out_dir):
    """A prefill of PROMPT split over `world` ranks, against one process:
    the last token's logits, every layer's final state on every rank, and
    greedy tokens continued from the last rank's cache."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=world)
    try:
        model = tiny_model()
        ids = torch.tensor([PROMPT])
        with torch.no_grad():
            one = model(ids, use_cache=True)
            expected_tokens = greedy(model, one.logits, one.cache, 6)
            one = model(ids, use_cache=True)
            lo = sum(PROMPT_SPLIT[:rank])
            with tt.context_parallel():
                mine = model(ids[:, lo:lo + PROMPT_SPLIT[rank]], use_cache=True)
            state_error = max(float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
                              for layer in one.cache.rnn_state
                              for a, b in zip(mine.cache.rnn_state[layer], one.cache.rnn_state[layer]))
            logits_error = float((mine.logits[:, -1] - one.logits[:, -1]).abs().max())
            tokens = greedy(model, mine.logits, mine.cache, 6) if rank == world - 1 else None
        print(f"rank {rank}: state error {state_error:.1e}, last-token logits error {logits_error:.1e}")
        report = dict(state_error=state_error, logits_error=logits_error, tokens=tokens,
                      expected_tokens=expected_tokens)
        dist.barrier()   # as in `worker`: no teardown while a message is in flight
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(report, handle)
