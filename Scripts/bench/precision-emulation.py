#!/usr/bin/env python3
"""What agreement to expect between a float32, TF32 or bfloat16 mLSTM kernel
and the tfla float64 oracle: the kernels' arithmetic emulated on the CPU with
numpy, measured against tfla.

- Forward: the chunkwise algorithm (exponential gate, chunk sizes 64-512),
  as GPU kernels compute it: every matrix product's operands rounded to the
  kernel's product precision and accumulated in float32.
- Backward: the parallel form in the reference package's custom-backward
  convention (denominator and m held constant), products rounded the same way.

Precisions: float32 (products in float32), tf32 (operands rounded to 10
mantissa bits), bf16 (q, k, v stored in bfloat16 and operands rounded to 7
mantissa bits). The reference is tfla in float64 on the same (rounded) inputs.
In float64 without rounding both emulations are first checked against tfla
(≤ 1e-10), so the measurements are of rounding only.

Usage: python3 Scripts/bench/precision-emulation.py [--seeds 3]
Needs: numpy and a release build of tfla (make build).
Writes Docs/data/precision-emulation.csv and prints a table.
"""
import argparse
import csv
import os
import sys

import numpy as np

from release_build import ROOT, release_bin_path

sys.path.insert(0, os.path.join(ROOT, "python"))
from tfla_oracle import Tfla  # noqa: E402

MANTISSA = {"float32": None, "tf32": 10, "bf16": 7}


def round_mantissa(x, bits):
    """Rounds float32 values to `bits` explicit mantissa bits (nearest even)."""
    x = np.asarray(x, dtype=np.float32)
    if bits is None:
        return x
    drop = np.uint32(23 - bits)
    u = x.view(np.uint32)
    bias = ((u >> drop) & np.uint32(1)) + np.uint32((1 << (23 - bits - 1)) - 1)
    return ((u + bias) & ~np.uint32((1 << (23 - bits)) - 1)).view(np.float32)


def log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def products(dtype, bits):
    """Matrix product with both operands rounded, accumulated in `dtype`."""
    if dtype == np.float64:
        return np.matmul
    return lambda a, b: np.matmul(round_mantissa(a, bits), round_mantissa(b, bits))


def chunkwise_forward(x, chunk, dtype, bits, eps=1e-6):
    """Sources/TFLA/Documentation.docc/Math.md §1 chunk by chunk, zero initial state: h, c, n."""
    q, k, v, i, f = (x[name].astype(dtype) for name in "qkvif")
    mm = products(dtype, bits)
    b, nh, s, dqk = q.shape
    q = q * dtype(1 / np.sqrt(dqk))
    lf = log_sigmoid(f)
    c = np.zeros((b, nh, dqk, v.shape[-1]), dtype)
    n, m = np.zeros((b, nh, dqk, 1), dtype), np.zeros((b, nh), dtype)
    h = np.empty(v.shape, dtype)
    causal = np.tril(np.ones((chunk, chunk), bool))
    for start in range(0, s, chunk):
        part = slice(start, start + chunk)
        qc, kc, vc, ic = q[:, :, part], k[:, :, part], v[:, :, part], i[:, :, part]
        cum = np.cumsum(lf[:, :, part], axis=-1)
        log_d = np.where(causal, cum[..., :, None] - cum[..., None, :] + ic[..., None, :], -np.inf)
        inter = cum + m[..., None]
        mt = np.maximum(log_d.max(-1), inter)
        scores = mm(qc, kc.swapaxes(-1, -2)) * np.exp(log_d - mt[..., None])
        weight = np.exp(inter - mt)[..., None]
        numerator = mm(scores, vc) + weight * mm(qc, c)
        dot = scores.sum(-1, keepdims=True) + weight * mm(qc, n)
        h[:, :, part] = numerator / (np.maximum(np.abs(dot), np.exp(-mt)[..., None]) + dtype(eps))
        total = cum[..., -1]
        a = total[..., None] - cum + ic
        m_new = np.maximum(total + m, a.max(-1))
        decay = np.exp(total + m - m_new)[..., None, None]
        weighted_k = kc * np.exp(a - m_new[..., None])[..., None]
        c = decay * c + mm(weighted_k.swapaxes(-1, -2), vc)
        n = decay * n + weighted_k.sum(-2)[..., None]
        m = m_new
    return {"h": h, "c": c, "n": n[..., 0]}


def parallel_reference_backward(x, dh, dtype, bits, eps=1e-6):
    """The parallel form's gradients, denominator and m held constant."""
    q, k, v, i, f = (x[name].astype(dtype) for name in "qkvif")
    dh = dh.astype(dtype)
    mm = products(dtype, bits)
    s, scale = q.shape[2], dtype(1 / np.sqrt(q.shape[3]))
    cum = np.cumsum(log_sigmoid(f), axis=-1)
    log_d = np.where(np.tril(np.ones((s, s), bool)), cum[..., :, None] - cum[..., None, :] + i[..., None, :], -np.inf)
    mt = log_d.max(-1, keepdims=True)
    decay = np.exp(log_d - mt)
    scores = mm(q, k.swapaxes(-1, -2)) * scale * decay
    denominator = np.maximum(np.abs(scores.sum(-1, keepdims=True)), np.exp(-mt)) + dtype(eps)
    dhn = dh / denominator
    dv = mm(scores.swapaxes(-1, -2), dhn)
    d_scores = mm(dhn, v.swapaxes(-1, -2))
    ds = d_scores * decay * scale
    dq, dk = mm(ds, k), mm(ds.swapaxes(-1, -2), q)
    d_log = d_scores * scores
    di = d_log.sum(-2)
    d_cum = d_log.sum(-1) - di
    df = np.flip(np.cumsum(np.flip(d_cum, -1), -1), -1) / (1 + np.exp(f))
    return {"dq": dq, "dk": dk, "dv": dv, "di": di, "df": df}


def problem(seed, shape, gates):
    b, nh, s, dqk, dhv = shape
    rng = np.random.default_rng(seed)
    x = {"q": rng.standard_normal((b, nh, s, dqk)), "k": rng.standard_normal((b, nh, s, dqk)),
         "v": rng.standard_normal((b, nh, s, dhv))}
    if gates == "realistic":
        x["i"], x["f"] = rng.standard_normal((b, nh, s)), 3 + rng.standard_normal((b, nh, s))
    else:
        x["i"], x["f"] = rng.uniform(-10, 10, (b, nh, s)), rng.uniform(-5, 8, (b, nh, s))
    return x, rng.standard_normal((b, nh, s, dhv))


def stored(x, precision):
    """The inputs as the kernel holds them: q, k, v in bfloat16 for bf16."""
    if precision != "bf16":
        return {name: a.astype(np.float32) for name, a in x.items()}
    return {name: (round_mantissa(a, 7) if name in "qkv" else a.astype(np.float32)) for name, a in x.items()}


def relative(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    tfla = Tfla(os.environ.get("TFLA_BIN") or os.path.join(release_bin_path(), "tfla"))
    forward_shape, backward_shape = (1, 4, 1024, 128, 128), (1, 4, 512, 128, 128)

    # The emulations are the oracle's functions before any rounding.
    x, dh = problem(0, (1, 2, 256, 32, 32), "extreme")
    reference = tfla.forward(**x, kernel="chunkwise")
    check = chunkwise_forward(x, 64, np.float64, None)
    grads = tfla.gradients(**x, dh=dh, kernel="parallel", mode="reference")
    check.update(parallel_reference_backward(x, dh, np.float64, None))
    worst = max(relative(check[name], {**reference, **grads}[name]) for name in check)
    assert worst <= 1e-10, f"emulation differs from tfla by {worst:.3g}"
    print(f"emulation in float64 agrees with tfla: {worst:.1e}")

    rows = []
    for gates in ("realistic", "extreme"):
        for precision, bits in MANTISSA.items():
            for seed in range(args.seeds):
                x, dh = problem(seed, forward_shape, gates)
                held = stored(x, precision)
                reference = tfla.forward(**held, dtype="float64")
                for chunk in (64, 128, 256, 512):
                    out = chunkwise_forward(held, chunk, np.float32, bits)
                    for name in ("h", "c", "n"):
                        rows.append(dict(gates=gates, precision=precision, part="forward", chunk=chunk, seed=seed,
                                         array=name, error=relative(out[name], reference[name])))
                x, dh = problem(seed, backward_shape, gates)
                held = stored(x, precision)
                expected = tfla.gradients(**held, dh=dh, kernel="parallel", mode="reference", dtype="float64")
                out = parallel_reference_backward(held, dh.astype(np.float32), np.float32, bits)
                for name in out:
                    rows.append(dict(gates=gates, precision=precision, part="backward", chunk="", seed=seed,
                                     array=name, error=relative(out[name], expected[name])))
    path = os.path.join(ROOT, "Docs", "data", "precision-emulation.csv")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # The largest error over seeds (and chunk sizes for the forward).
    print(f"{'gates':10} {'precision':9} " + " ".join(f"{a:>8}" for a in ["h", "c", "n", "dq", "dk", "dv", "di", "df"]))
    for gates in ("realistic", "extreme"):
        for precision in MANTISSA:
            worst = [max(r["error"] for r in rows if r["gates"] == gates and r["precision"] == precision and r["array"] == a)
                     for a in ["h", "c", "n", "dq", "dk", "dv", "di", "df"]]
            print(f"{gates:10} {precision:9} " + " ".join(f"{e:8.1e}" for e in worst))
    print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
