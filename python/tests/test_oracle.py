"""tfla_oracle against the tfla executable and against an independent numpy
implementation of the recurrence (so that a mislabelled array is caught)."""
import os

import numpy as np
import pytest

import tfla_oracle
from tfla_oracle import Tfla, TflaError, TflaNotFound

B, NH, S, DQK, DHV = 2, 2, 24, 8, 6


def log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def numpy_recurrent(q, k, v, i, f, c0=None, n0=None, m0=None, gate="exp", eps=1e-6):
    """Sources/TFLA/Documentation.docc/Math.md §1-2, one token at a time, float64."""
    c = np.zeros((B, NH, DQK, DHV)) if c0 is None else c0.astype(np.float64).copy()
    n = np.zeros((B, NH, DQK)) if n0 is None else n0.astype(np.float64).copy()
    m = np.zeros((B, NH)) if m0 is None else m0[..., 0].astype(np.float64).copy()
    h = np.zeros((B, NH, q.shape[2], DHV))
    for t in range(q.shape[2]):
        lf = log_sigmoid(f[:, :, t])
        li = i[:, :, t] if gate == "exp" else log_sigmoid(i[:, :, t])
        m_new = np.maximum(lf + m, li) if gate == "exp" else np.zeros_like(m)
        forget, inp = np.exp(lf + m - m_new), np.exp(li - m_new)
        kt, vt = k[:, :, t], v[:, :, t]
        c = forget[..., None, None] * c + inp[..., None, None] * kt[..., :, None] * vt[..., None, :]
        n = forget[..., None] * n + inp[..., None] * kt
        m = m_new
        qs = q[:, :, t] / np.sqrt(DQK)
        denominator = np.maximum(np.abs((qs * n).sum(-1)), np.exp(-m)) + eps
        h[:, :, t] = np.einsum("bhd,bhde->bhe", qs, c) / denominator[..., None]
    return h, c, n, m[..., None]


def problem(seed=0, dtype=np.float64, s=S):
    rng = np.random.default_rng(seed)
    x = dict(q=rng.standard_normal((B, NH, s, DQK)), k=rng.standard_normal((B, NH, s, DQK)),
             v=rng.standard_normal((B, NH, s, DHV)), i=rng.uniform(-8, 8, (B, NH, s)),
             f=rng.uniform(-3, 6, (B, NH, s)))
    return {name: a.astype(dtype) for name, a in x.items()}


def state(seed=1, gate="exp"):
    rng = np.random.default_rng(seed)
    c0, n0 = rng.standard_normal((B, NH, DQK, DHV)), rng.standard_normal((B, NH, DQK))
    m0 = rng.uniform(-1, 1, (B, NH, 1)) if gate == "exp" else None
    return dict(c0=c0, n0=n0, m0=m0)


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("gate", ["exp", "sig"])
def test_forward_matches_numpy(tfla, gate):
    x, s0 = problem(), state(gate=gate)
    out = tfla.forward(**x, **s0, gate=gate, chunk_size=8)
    h, c, n, m = numpy_recurrent(**x, **s0, gate=gate)
    assert sorted(out) == ["c", "h", "m", "n"]
    assert out["h"].dtype == np.float64 and out["h"].shape == (B, NH, S, DHV)
    for name, expected in [("h", h), ("c", c), ("n", n)]:
        assert relative(out[name], expected) <= 1e-10, name
    assert np.abs(out["m"] - m).max() <= 1e-12
    if gate == "sig":
        assert not out["m"].any()


def test_forward_float32_and_requested_dtype(tfla):
    x = problem(dtype=np.float32)
    single = tfla.forward(**x)
    double = tfla.forward(**x, dtype="float64", kernel="recurrent")
    assert single["h"].dtype == np.float32 and double["h"].dtype == np.float64
    assert 0 < relative(single["h"], double["h"]) <= 1e-4
    parallel = tfla_oracle.forward(**x, kernel="parallel", dtype="float64")
    assert sorted(parallel) == ["h"] and relative(parallel["h"], double["h"]) <= 1e-10


def test_gradients_agree_and_name_their_outputs(tfla):
    x, s0 = problem(2), state(3)
    dh = np.random.default_rng(4).standard_normal((B, NH, S, DHV))
    exact = tfla.gradients(**x, dh=dh, **s0, chunk_size=8, state_stride=2)
    assert sorted(exact) == ["dc0", "df", "di", "dk", "dm0", "dn0", "dq", "dv"]
    recurrent = tfla.gradients(**x, dh=dh, **s0, kernel="recurrent")
    for name in exact:
        assert relative(exact[name], recurrent[name]) <= 1e-9, name
    # h is linear in v: the directional derivative along dv_dir is exact.
    direction = np.random.default_rng(5).standard_normal(x["v"].shape)
    h, *_ = numpy_recurrent(**x, **s0)
    h2, *_ = numpy_recurrent(**{**x, "v": x["v"] + direction}, **s0)
    assert abs(((h2 - h) * dh).sum() - (exact["dv"] * direction).sum()) <= 1e-9 * np.abs(exact["dv"] * direction).sum()
    reference = tfla.gradients(**x, dh=dh, mode="reference", chunk_size=16)
    assert sorted(reference) == ["df", "di", "dk", "dq", "dv"]
    assert relative(reference["dq"], tfla.gradients(**x, dh=dh)["dq"]) > 1e-3  # the modes differ


def test_finite_difference_of_the_forget_gate(tfla):
    x = problem(6)
    dh = np.random.default_rng(7).standard_normal((B, NH, S, DHV))
    g = tfla.gradients(**x, dh=dh)
    direction = np.random.default_rng(8).standard_normal(x["f"].shape)
    delta = 1e-5
    plus, _, _, _ = numpy_recurrent(**{**x, "f": x["f"] + delta * direction})
    minus, _, _, _ = numpy_recurrent(**{**x, "f": x["f"] - delta * direction})
    numeric = ((plus - minus) * dh).sum() / (2 * delta)
    assert abs(numeric - (g["df"] * direction).sum()) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("gate", ["exp", "sig"])
def test_step_tokens_equal_forward(tfla, gate):
    x, s0 = problem(9), state(10, gate=gate)
    run = tfla.forward(**x, **s0, gate=gate)
    for kernel in ["fused", "reference"]:
        steps = tfla.step(**x, **s0, gate=gate, kernel=kernel)
        for name in ["h", "c", "n", "m"]:
            assert np.abs(steps[name] - run[name]).max() <= 1e-10 * max(1.0, np.abs(run[name]).max()), (kernel, name)


def test_one_step_and_timing(tfla):
    x, s0 = problem(11, s=1), state(12)
    token = {name: (a[:, :, 0] if name in "qkv" else a[:, :, :1]) for name, a in x.items()}
    out = tfla.step(**token, **s0, threads=1, repeat=2)
    assert out["h"].shape == (B, NH, DHV)
    assert out.kernel_seconds is not None and out.kernel_seconds > 0
    h, c, *_ = numpy_recurrent(**x, **s0)
    assert relative(out["h"], h[:, :, 0]) <= 1e-10 and relative(out["c"], c) <= 1e-10
    assert tfla.forward(**x).kernel_seconds is None


def test_compare(tfla):
    a = np.arange(6.0).reshape(2, 3)
    b = a.copy()
    b[1, 1] += 0.5
    same = tfla.compare(a, a)
    assert same and same.max_abs_error == 0 and same.count == 6
    differ = tfla.compare(a, b)
    assert not differ and differ.violations == 1 and differ.worst_index == (1, 1)
    assert differ.max_abs_error == pytest.approx(0.5)
    assert tfla.compare(a, b, rtol=0.2)
    with pytest.raises(AssertionError, match=r"1 of 6 elements"):
        tfla.assert_close(a, b, name="h")
    with pytest.raises(TflaError, match="shape"):
        tfla.compare(a, a.T)


def test_compare_nan(tfla):
    a = np.array([1.0, np.nan, 3.0])
    strict = tfla.compare(a, a)
    assert not strict and strict.violations == 1 and np.isnan(strict.max_abs_error) and strict.worst_index == (1,)
    assert tfla.compare(a, a, equal_nan=True)
    tfla.assert_close(a, a, equal_nan=True)


def test_errors_carry_tflas_message(tfla):
    x = problem()
    with pytest.raises(TflaError) as caught:
        tfla.forward(**{**x, "f": x["f"][:, :, 1:]})
    assert caught.value.message == "f: expected shape [2, 2, 24], got [2, 2, 23]"
    assert caught.value.returncode == 2 and "tfla: error:" in caught.value.stderr
    with pytest.raises(TflaError, match="m0 = nonzero"):
        tfla.forward(**x, **{**state(gate="sig"), "m0": np.ones((B, NH, 1))}, gate="sig")
    with pytest.raises(TflaError, match="m0 missing"):
        tfla.forward(**x, **state(gate="sig"))  # c0, n0 without m0: the exponential gate needs it
    with pytest.raises(TflaError, match="--no-normalize"):
        tfla.forward(**x, normalize=False)


def test_finding_the_executable(tfla, monkeypatch, tmp_path):
    assert Tfla(tfla.binary).binary == tfla.binary
    monkeypatch.setenv("TFLA_BIN", str(tmp_path / "missing"))
    with pytest.raises(TflaNotFound, match="missing"):
        Tfla()
    monkeypatch.delenv("TFLA_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        tfla_oracle.forward(**problem())
    monkeypatch.setenv("PATH", os.path.dirname(tfla.binary))
    assert Tfla().binary == os.path.join(os.path.dirname(tfla.binary), "tfla")
