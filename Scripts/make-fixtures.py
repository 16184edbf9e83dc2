#!/usr/bin/env python3
"""Writes the cross-check fixtures: inputs and outputs of the authors' mLSTM
kernels (mlstm-kernels 2.0.6, CPU PyTorch, float64) as .npy files under
Tests/TFLATests/Fixtures/reference/<case>/, one case.json per case.

Run by hand from the repository root (the tests only read the committed files):
    pip install torch==2.13.0 mlstm-kernels==2.0.6 einops numpy
    python3 Scripts/make-fixtures.py

Layout of a sequence case:
    q.npy k.npy (B,NH,S,DQK)  v.npy (B,NH,S,DHV)  i.npy f.npy (B,NH,S)  [c0 n0 m0]
    <kernel>/h.npy (B,NH,S,DHV)  [<kernel>/c.npy n.npy m.npy]  case.json
    dh.npy [dc.npy dn.npy dm.npy]: upstream gradients (random), and per
    gradient kernel <kernel>-grad-<mode>/dq dk dv di df [dc0 dn0 dm0].npy:
      chunkwise-grad-exact      autograd through chunkwise--native_autograd
      chunkwise-grad-reference  chunkwise--native_custbw
      parallel-grad-exact       autograd through the parallel native kernel
      parallel-grad-reference   parallel--native_stablef_custbw / native_siging custbw
and of a step case (step-<name>/):
    q.npy k.npy (B,NH,DQK)  v.npy (B,NH,DHV)  i.npy f.npy (B,NH,1)  c0 n0 m0
    step/h.npy (B,NH,DHV)  step/c.npy n.npy m.npy  case.json

Every case draws from its own seed, so adding, removing or reordering cases
leaves the others byte-identical. The script ends with a table of the
differences between the kernels of each case, and between each kernel and an
independent float64 transcription of the recurrence in Sources/TFLA/Documentation.docc/Math.md.
"""
import json
import os
import shutil
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from mlstm_kernels.torch.chunkwise.native import mlstm_chunkwise__native_autograd, mlstm_chunkwise__native_custbw
from mlstm_kernels.torch.parallel.native_siging import (mlstm_siging_parallel__native_autograd,
                                                        mlstm_siging_parallel__native_custbw)
from mlstm_kernels.torch.parallel.native_stablef import (mlstm_parallel__native_stablef_autograd,
                                                         mlstm_parallel__native_stablef_custbw)
from mlstm_kernels.torch.recurrent import mlstm_recurrent_sequence__native_fw, mlstm_recurrent_step__native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TFLATests", "Fixtures", "reference")
DEFAULT_EPS = 1e-6

# One thread: multithreaded BLAS may sum in a different order from run to run,
# and regenerating unchanged cases should not churn the committed bytes.
torch.set_num_threads(1)


# ----------------------------------------------------------------------------
# Inputs

@dataclass
class Inputs:
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    i: np.ndarray
    f: np.ndarray
    c0: np.ndarray | None = None
    n0: np.ndarray | None = None
    m0: np.ndarray | None = None

    def arrays(self):
        names = ["q", "k", "v", "i", "f", "c0", "n0", "m0"]
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def torch(self, name):
        value = getattr(self, name)
        return None if value is None else torch.from_numpy(value)


def gates(rng, shape, kind):
    """(ĩ, f̃) pre-activations.

    realistic: what a trained xLSTM produces (forget gate mostly open).
    extreme: the whole range the kernels must survive — ĩ up to ±30 drives
    the max state m far from 0 (so eps·exp(m) and the exp(−m) branch of the
    denominator both matter), f̃ = −20 forgets almost everything in one step,
    f̃ = +30 saturates logsigmoid to ~−1e-13.
    """
    if kind == "realistic":
        return rng.normal(0.0, 1.0, shape), rng.normal(3.0, 1.0, shape)
    if kind == "extreme":
        i = rng.uniform(-30.0, 30.0, shape)
        f = rng.uniform(-20.0, 30.0, shape)
        # Pin a few of the endpoints so every run hits them exactly.
        flat_i, flat_f = i.reshape(-1), f.reshape(-1)
        flat_i[:4] = [30.0, -30.0, 30.0, -30.0]
        flat_f[:4] = [30.0, -20.0, -20.0, 30.0]
        return i, f
    raise ValueError(kind)


def sequence_inputs(seed, B, NH, S, DQK, DHV, gate_kind):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, NH, S, DQK))
    k = rng.normal(size=(B, NH, S, DQK))
    v = rng.normal(size=(B, NH, S, DHV))
    i, f = gates(rng, (B, NH, S), gate_kind)
    return Inputs(q, k, v, i, f), rng


def random_state(rng, B, NH, DQK, DHV, m_low, m_high):
    """An arbitrary state: C, n and m drawn independently. Any state is a valid
    starting point of the recurrence, so nothing ties n to C or m to either."""
    c0 = rng.normal(size=(B, NH, DQK, DHV))
    n0 = rng.normal(size=(B, NH, DQK))
    m0 = rng.uniform(m_low, m_high, size=(B, NH, 1))
    return c0, n0, m0


def warmed_state(rng, B, NH, DQK, DHV, prefix, gate_kind):
    """A state the model could actually be in: the final state of the
    reference recurrence after `prefix` random tokens from a zero state."""
    x = Inputs(rng.normal(size=(B, NH, prefix, DQK)), rng.normal(size=(B, NH, prefix, DQK)),
               rng.normal(size=(B, NH, prefix, DHV)), *gates(rng, (B, NH, prefix), gate_kind))
    out = run_recurrent(x, eps=DEFAULT_EPS)
    return out["c"], out["n"], out["m"]


# ----------------------------------------------------------------------------
# Kernel families. Each takes Inputs and returns {name: float64 ndarray}.
# Gradient fixtures can be added as sibling functions (run_chunkwise_grad …)
# that return dq, dk, … under another kernel directory name.

def to_numpy(t):
    assert t.dtype == torch.float64, t.dtype
    return np.ascontiguousarray(t.detach().numpy())


def states(h, last):
    c, n, m = last
    return {"h": to_numpy(h), "c": to_numpy(c), "n": to_numpy(n), "m": to_numpy(m)}


def run_recurrent(x, eps):
    # dtype_state defaults to float32 even for float64 inputs; without this the
    # states (and so h) would be rounded to single precision every step.
    h, last = mlstm_recurrent_sequence__native_fw(
        q=x.torch("q"), k=x.torch("k"), v=x.torch("v"), i=x.torch("i"), f=x.torch("f"),
        c_initial=x.torch("c0"), n_initial=x.torch("n0"), m_initial=x.torch("m0"),
        return_last_states=True, eps=eps, dtype_state=torch.float64)
    return states(h, last)


def run_chunkwise(x, eps, chunk_size):
    h, last = mlstm_chunkwise__native_autograd(
        q=x.torch("q"), k=x.torch("k"), v=x.torch("v"), i=x.torch("i"), f=x.torch("f"),
        c_initial=x.torch("c0"), n_initial=x.torch("n0"), m_initial=x.torch("m0"),
        return_last_states=True, eps=eps, chunk_size=chunk_size)
    return states(h, last)


def run_parallel(x, eps, gate, normalize):
    assert x.c0 is None, "the parallel kernels take no initial state"
    args = dict(q=x.torch("q"), k=x.torch("k"), v=x.torch("v"), i=x.torch("i"), f=x.torch("f"), eps=eps)
    if gate == "exp":
        h = mlstm_parallel__native_stablef_autograd(**args)
    else:
        h = mlstm_siging_parallel__native_autograd(**args, stable_fgate=True, normalize=normalize)
    return {"h": to_numpy(h)}


def leaves(x):
    """The inputs as float64 tensors that record gradients."""
    return {n: torch.from_numpy(a.copy()).requires_grad_(True) for n, a in x.arrays().items()}


def collect(t, upstream_state=False):
    out = {"d" + n: to_numpy(t[n].grad) for n in ["q", "k", "v", "i", "f"]}
    if upstream_state:
        out.update({"d" + n: to_numpy(t[n].grad) if t[n].grad is not None else np.zeros(t[n].shape)
                    for n in ["c0", "n0", "m0"] if n in t})
    return out


def grad_chunkwise(x, eps, chunk_size, upstream, custom):
    t = leaves(x)
    kernel = mlstm_chunkwise__native_custbw if custom else mlstm_chunkwise__native_autograd
    h, (c, n, m) = kernel(q=t["q"], k=t["k"], v=t["v"], i=t["i"], f=t["f"], c_initial=t.get("c0"),
                          n_initial=t.get("n0"), m_initial=t.get("m0"), return_last_states=True,
                          eps=eps, chunk_size=chunk_size)
    loss = (h * torch.from_numpy(upstream["dh"])).sum() + (c * torch.from_numpy(upstream["dc"])).sum() \
        + (n * torch.from_numpy(upstream["dn"])).sum() + (m * torch.from_numpy(upstream["dm"]).reshape(m.shape)).sum()
    loss.backward()
    return collect(t, upstream_state=True)


def grad_parallel(x, eps, gate, normalize, upstream, custom):
    t = leaves(x)
    args = dict(q=t["q"], k=t["k"], v=t["v"], i=t["i"], f=t["f"], eps=eps)
    if gate == "exp":
        kernel = mlstm_parallel__native_stablef_custbw if custom else mlstm_parallel__native_stablef_autograd
        h = kernel(**args)
    else:
        kernel = mlstm_siging_parallel__native_custbw if custom else mlstm_siging_parallel__native_autograd
        h = kernel(**args, stable_fgate=True, normalize=normalize)
    (h * torch.from_numpy(upstream["dh"])).sum().backward()
    return collect(t)


def run_step(x, eps):
    h, last = mlstm_recurrent_step__native(
        q=x.torch("q"), k=x.torch("k"), v=x.torch("v"), i=x.torch("i"), f=x.torch("f"),
        c=x.torch("c0"), n=x.torch("n0"), m=x.torch("m0"), eps=eps, dtype_state=torch.float64)
    return states(h, last)


# ----------------------------------------------------------------------------
# Independent check: Sources/TFLA/Documentation.docc/Math.md's recurrence, written out in numpy. Not
# written to the fixtures; it only shows whether the package follows the
# contract, including for the sigmoid gate, which has no second CPU kernel.

def logsigmoid(x):
    return -np.logaddexp(0.0, -x)


def math_md_recurrent(x, gate, normalize, eps):
    B, NH, S, DQK = x.q.shape
    DHV = x.v.shape[-1]
    C = np.zeros((B, NH, DQK, DHV)) if x.c0 is None else x.c0.copy()
    n = np.zeros((B, NH, DQK)) if x.n0 is None else x.n0.copy()
    m = np.zeros((B, NH)) if x.m0 is None else x.m0[..., 0].copy()
    h = np.zeros((B, NH, S, DHV))
    for t in range(S):
        lf = logsigmoid(x.f[:, :, t])
        if gate == "exp":
            m_new = np.maximum(lf + m, x.i[:, :, t])
            fa, ia = np.exp(lf + m - m_new), np.exp(x.i[:, :, t] - m_new)
            m = m_new
        else:
            fa, ia = np.exp(lf), np.exp(logsigmoid(x.i[:, :, t]))
        kt, vt = x.k[:, :, t], x.v[:, :, t]
        C = fa[..., None, None] * C + ia[..., None, None] * kt[..., :, None] * vt[..., None, :]
        n = fa[..., None] * n + ia[..., None] * kt
        qs = x.q[:, :, t] * DQK ** -0.5
        num = np.einsum("bhd,bhdv->bhv", qs, C)
        if gate == "sig" and not normalize:
            h[:, :, t] = num
            continue
        floor = np.exp(-m) if gate == "exp" else 1.0
        h[:, :, t] = num / (np.maximum(np.abs(np.einsum("bhd,bhd->bh", qs, n)), floor) + eps)[..., None]
    return {"h": h, "c": C, "n": n, "m": m[..., None]}


# ----------------------------------------------------------------------------
# Cases

@dataclass
class Case:
    name: str
    inputs: Inputs
    gate: str = "exp"
    normalize: bool = True
    eps: float = DEFAULT_EPS
    chunk_size: int | None = None  # None: no chunkwise fixture (reference needs S % L == 0)
    note: str = ""
    outputs: dict = field(default_factory=dict)
    upstream: dict = field(default_factory=dict)

    def gradient_kernels(self):
        names = []
        if self.gate == "exp" and self.chunk_size is not None:
            names += ["chunkwise-grad-exact", "chunkwise-grad-reference"]
        if self.inputs.c0 is None:
            names += ["parallel-grad-exact", "parallel-grad-reference"]
        return names

    def kernels(self):
        if self.gate == "sig":
            return {"parallel": {}}  # the only CPU kernel for sigmoid gates in 2.0.6
        found = {"recurrent": {}}
        if self.chunk_size is not None:
            found["chunkwise"] = {"chunk_size": self.chunk_size}
        if self.inputs.c0 is None:
            found["parallel"] = {}
        return found

    def run(self):
        x = self.inputs
        for kernel, params in self.kernels().items():
            if kernel == "recurrent":
                self.outputs[kernel] = run_recurrent(x, self.eps)
            elif kernel == "chunkwise":
                self.outputs[kernel] = run_chunkwise(x, self.eps, params["chunk_size"])
            elif kernel == "parallel":
                self.outputs[kernel] = run_parallel(x, self.eps, self.gate, self.normalize)
        # Upstream gradients from their own seed, so forward-only cases keep
        # their bytes when gradient kernels are added or removed.
        B, NH, S, DQK = x.q.shape
        DHV = x.v.shape[-1]
        rng = np.random.default_rng(10_000 + int(np.abs(x.q).sum() * 1000) % 10_000)
        self.upstream = {"dh": rng.normal(size=(B, NH, S, DHV)), "dc": rng.normal(size=(B, NH, DQK, DHV)),
                         "dn": rng.normal(size=(B, NH, DQK)), "dm": rng.normal(size=(B, NH, 1))}
        if not any(n.startswith("chunkwise") for n in self.gradient_kernels()):
            self.upstream = {"dh": self.upstream["dh"]}
        for name in self.gradient_kernels():
            custom = name.endswith("reference")
            if name.startswith("chunkwise"):
                self.outputs[name] = grad_chunkwise(x, self.eps, self.chunk_size, self.upstream, custom)
            else:
                self.outputs[name] = grad_parallel(x, self.eps, self.gate, self.normalize, self.upstream, custom)
        return self

    def description(self):
        B, NH, S, DQK = self.inputs.q.shape
        return {
            "gate": self.gate, "normalize": self.normalize, "eps": self.eps,
            "kernels": self.kernels(), "has_initial_state": self.inputs.c0 is not None,
            "gradient_kernels": self.gradient_kernels(),
            "shape": {"B": B, "NH": NH, "S": S, "DQK": DQK, "DHV": self.inputs.v.shape[-1]},
            "note": self.note,
        }

    def check(self):
        return math_md_recurrent(self.inputs, self.gate, self.normalize, self.eps)


@dataclass
class StepCase(Case):
    def kernels(self):
        return {"step": {}}

    def gradient_kernels(self):
        return []

    def run(self):
        self.outputs["step"] = run_step(self.inputs, self.eps)
        return self

    def description(self):
        B, NH, DQK = self.inputs.q.shape
        return {
            "gate": self.gate, "normalize": self.normalize, "eps": self.eps,
            "kernels": self.kernels(), "has_initial_state": True,
            "shape": {"B": B, "NH": NH, "DQK": DQK, "DHV": self.inputs.v.shape[-1]},
            "note": self.note,
        }

    def check(self):
        # A step is a sequence of length one.
        x = self.inputs
        seq = Inputs(x.q[:, :, None], x.k[:, :, None], x.v[:, :, None], x.i, x.f, x.c0, x.n0, x.m0)
        out = math_md_recurrent(seq, self.gate, self.normalize, self.eps)
        out["h"] = out["h"][:, :, 0]
        return out


def case_exp_basic():
    x, _ = sequence_inputs(101, B=1, NH=1, S=32, DQK=16, DHV=16, gate_kind="realistic")
    return Case("exp-basic", x, chunk_size=8,
                note="smallest ordinary case: one sequence, one head, square head, 4 chunks")


def case_exp_dqk8_dhv12_s24():
    x, _ = sequence_inputs(102, B=2, NH=3, S=24, DQK=8, DHV=12, gate_kind="realistic")
    return Case("exp-dqk8-dhv12-s24", x, chunk_size=8,
                note="DQK < DHV, S not a power of two, B and NH > 1")


def case_exp_dqk16_dhv8_s48():
    x, _ = sequence_inputs(103, B=1, NH=2, S=48, DQK=16, DHV=8, gate_kind="realistic")
    return Case("exp-dqk16-dhv8-s48", x, chunk_size=16,
                note="DQK > DHV, S = 3 chunks of 16")


def case_exp_s1():
    x, _ = sequence_inputs(104, B=2, NH=2, S=1, DQK=8, DHV=12, gate_kind="realistic")
    return Case("exp-s1", x, chunk_size=1, note="a single token (chunkwise with chunk size 1)")


def case_exp_s23_no_chunkwise():
    x, _ = sequence_inputs(105, B=2, NH=1, S=23, DQK=8, DHV=8, gate_kind="realistic")
    return Case("exp-s23", x, chunk_size=None,
                note="prime S: the reference chunkwise kernel needs S % L == 0, so only recurrent and parallel; "
                     "a chunked implementation checked against it must handle a short last chunk")


def case_exp_extreme():
    x, _ = sequence_inputs(106, B=2, NH=2, S=48, DQK=16, DHV=16, gate_kind="extreme")
    return Case("exp-extreme-gates", x, chunk_size=16,
                note="i ~ U(-30, 30), f ~ U(-20, 30), endpoints pinned")


def case_exp_eps_large():
    x, _ = sequence_inputs(107, B=2, NH=2, S=32, DQK=8, DHV=8, gate_kind="realistic")
    return Case("exp-eps-1e-2", x, eps=1e-2, chunk_size=8,
                note="eps = 1e-2 so the eps term is visible; parallel differs from recurrent here "
                     "because it has no m0 path (its m differs, and eps enters as eps*exp(m))")


def case_exp_initial_state():
    x, rng = sequence_inputs(108, B=2, NH=2, S=32, DQK=8, DHV=12, gate_kind="realistic")
    x.c0, x.n0, x.m0 = random_state(rng, 2, 2, 8, 12, m_low=-3.0, m_high=3.0)
    return Case("exp-initial-state", x, chunk_size=8,
                note="arbitrary initial state (C, n ~ N(0,1), m ~ U(-3,3), independent); no parallel kernel")


def case_exp_extreme_initial_state():
    x, rng = sequence_inputs(109, B=2, NH=2, S=32, DQK=16, DHV=8, gate_kind="extreme")
    x.c0, x.n0, x.m0 = warmed_state(rng, 2, 2, 16, 8, prefix=16, gate_kind="extreme")
    return Case("exp-extreme-initial-state", x, chunk_size=16,
                note="extreme gates from a state reached by 16 extreme-gate tokens (m0 large); no parallel kernel")


def case_sig(name, seed, normalize, gate_kind, S=24, note=""):
    x, _ = sequence_inputs(seed, B=2, NH=2, S=S, DQK=8, DHV=12, gate_kind=gate_kind)
    return Case(name, x, gate="sig", normalize=normalize, note=note)


def case_sig_normalized():
    return case_sig("sig-normalized", 201, True, "realistic", note="sigmoid input gate, normalized")


def case_sig_unnormalized():
    return case_sig("sig-unnormalized", 202, False, "realistic", note="sigmoid input gate, no normalizer")


def case_sig_extreme():
    return case_sig("sig-extreme-gates", 203, True, "extreme", S=32,
                    note="sigmoid input gate, normalized, i ~ U(-30, 30), f ~ U(-20, 30)")


def case_sig_extreme_unnormalized():
    return case_sig("sig-extreme-gates-unnormalized", 204, False, "extreme", S=32,
                    note="sigmoid input gate, no normalizer, extreme gates")


def step_inputs(seed, B, NH, DQK, DHV, gate_kind, prefix):
    rng = np.random.default_rng(seed)
    i, f = gates(rng, (B, NH, 1), gate_kind)
    x = Inputs(rng.normal(size=(B, NH, DQK)), rng.normal(size=(B, NH, DQK)), rng.normal(size=(B, NH, DHV)), i, f)
    x.c0, x.n0, x.m0 = warmed_state(rng, B, NH, DQK, DHV, prefix, gate_kind)
    return x


def case_step_basic():
    return StepCase("step-basic", step_inputs(301, B=2, NH=2, DQK=16, DHV=16, gate_kind="realistic", prefix=8),
                    note="one token after a state reached by 8 realistic tokens")


def case_step_extreme():
    return StepCase("step-extreme-gates", step_inputs(302, B=2, NH=2, DQK=8, DHV=8, gate_kind="extreme", prefix=8),
                    note="extreme gates (endpoints pinned) after a state reached by 8 extreme-gate tokens")


def case_step_dqk8_dhv12():
    return StepCase("step-dqk8-dhv12", step_inputs(303, B=1, NH=3, DQK=8, DHV=12, gate_kind="realistic", prefix=4),
                    note="DQK != DHV")


def case_step_from_zero():
    rng = np.random.default_rng(304)
    B, NH, DQK, DHV = 2, 1, 8, 8
    i, f = gates(rng, (B, NH, 1), "realistic")
    x = Inputs(rng.normal(size=(B, NH, DQK)), rng.normal(size=(B, NH, DQK)), rng.normal(size=(B, NH, DHV)), i, f,
               np.zeros((B, NH, DQK, DHV)), np.zeros((B, NH, DQK)), np.zeros((B, NH, 1)))
    return StepCase("step-from-zero", x, note="first token: zero state, m0 = 0 (the package's default)")


CASES = [
    case_exp_basic, case_exp_dqk8_dhv12_s24, case_exp_dqk16_dhv8_s48, case_exp_s1, case_exp_s23_no_chunkwise,
    case_exp_extreme, case_exp_eps_large, case_exp_initial_state, case_exp_extreme_initial_state,
    case_sig_normalized, case_sig_unnormalized, case_sig_extreme, case_sig_extreme_unnormalized,
    case_step_basic, case_step_extreme, case_step_dqk8_dhv12, case_step_from_zero,
]


# ----------------------------------------------------------------------------
# Writing and reporting

def save(directory, name, array):
    array = np.ascontiguousarray(array, dtype=np.float64)
    np.save(os.path.join(directory, name + ".npy"), array, allow_pickle=False)


def write(case):
    directory = os.path.join(OUT, case.name)
    os.makedirs(directory)
    for name, array in list(case.inputs.arrays().items()) + list(case.upstream.items()):
        save(directory, name, array)
    for kernel, outputs in case.outputs.items():
        os.makedirs(os.path.join(directory, kernel))
        for name, array in outputs.items():
            save(os.path.join(directory, kernel), name, array)
    with open(os.path.join(directory, "case.json"), "w") as handle:
        json.dump(case.description(), handle, indent=2)
        handle.write("\n")


def difference(a, b):
    """(max |a−b|, max |a−b| / max |b|, max |a−b| / |b|). The middle one is the
    tests' measure, which neither hides nor inflates errors at near-zero
    elements; the last is the element-wise worst case, for reference."""
    if a.size == 0:
        return 0.0, 0.0, 0.0
    diff = np.abs(a - b)
    largest, scale = float(diff.max()), float(np.abs(b).max())
    with np.errstate(divide="ignore", invalid="ignore"):
        elementwise = float(np.where(diff == 0, 0.0, diff / np.abs(b)).max())
    return largest, largest / scale if scale > 0 else largest, elementwise


def comparisons(case):
    """One row per pair of kernels of the case, and per kernel against the
    math.md transcription: h as (abs, rel, element-wise rel), then the rel
    error of each final state tensor both sides have (None where absent)."""
    results = {k: v for k, v in case.outputs.items() if "grad" not in k}
    results["math.md"] = case.check()
    names = list(results)
    rows = []
    for index, first in enumerate(names):
        for second in names[index + 1:]:
            a, b = results[first], results[second]
            h = difference(a["h"], b["h"])
            state = [difference(a[t], b[t])[1] if t in a and t in b else None for t in ["c", "n", "m"]]
            rows.append((case.name, f"{first} vs {second}", *h, *state))
    return rows


def print_table(rows):
    def cell(value):
        return f"{value:10.2e}" if value is not None else f"{'-':>10}"
    print(f"{'case':31} {'pair':24} {'h abs':>10} {'h rel':>10} {'h elem rel':>10} "
          f"{'c rel':>10} {'n rel':>10} {'m rel':>10}")
    for name, pair, *values in rows:
        print(f"{name:31} {pair:24} " + " ".join(cell(v) for v in values))


def gradient_comparisons(case):
    """Relative error between the exact and reference-compatible gradients of
    each kernel family: how far apart the two conventions are."""
    rows = []
    for family in ["chunkwise", "parallel"]:
        exact, reference = case.outputs.get(family + "-grad-exact"), case.outputs.get(family + "-grad-reference")
        if exact is None or reference is None:
            continue
        rows.append((case.name, family, *[difference(reference[n], exact[n])[1] for n in ["dq", "dk", "dv", "di", "df"]]))
    return rows


def print_gradient_table(rows):
    print()
    print("reference-compatible vs exact gradients (max |a-b| / max |b|):")
    print(f"{'case':31} {'family':10} " + " ".join(f"{n:>10}" for n in ["dq", "dk", "dv", "di", "df"]))
    for name, family, *values in rows:
        print(f"{name:31} {family:10} " + " ".join(f"{v:10.2e}" for v in values))


def main():
    # The directory is entirely generated: start clean so removed cases do not linger.
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    rows, gradient_rows = [], []
    for make in CASES:
        case = make().run()
        write(case)
        rows.extend(comparisons(case))
        gradient_rows.extend(gradient_comparisons(case))
    print_table(rows)
    print_gradient_table(gradient_rows)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {len(CASES)} cases, {size / 1024:.0f} KiB, to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
