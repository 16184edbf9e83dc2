"""Checking kernels against `tfla` from a Python test suite, with the tfla package's `tfla.cli`.

The pattern: make inputs with numpy, let tfla compute the float64 reference
from the same (rounded) inputs, and compare the kernel's output with it,
relative to the reference's largest magnitude (Docs/oracle.md).

- `test_numpy_step_kernel` needs only numpy: a float32 step kernel written
  in numpy, standing in for a GPU step kernel, checked over many tokens.
- The other tests check the authors' PyTorch kernels (mlstm-kernels) and are
  skipped when torch or mlstm-kernels is missing.

Run (from the repository root, after `make build`):
    pip install ./python pytest                     # numpy-only part
    pip install torch==2.13.0 mlstm-kernels==2.0.6 einops   # optional
    TFLA_BIN="$(swift build -c release --show-bin-path)/tfla" pytest python/examples/oracle-suite
"""
import numpy as np
import pytest


def relative_to_max(actual, reference):
    return float(np.abs(actual - reference).max() / np.abs(reference).max())


def random_problem(seed, b, nh, s, dqk, dhv, gates="realistic", dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = {"q": rng.standard_normal((b, nh, s, dqk)), "k": rng.standard_normal((b, nh, s, dqk)),
         "v": rng.standard_normal((b, nh, s, dhv))}
    if gates == "realistic":
        x["i"], x["f"] = rng.standard_normal((b, nh, s)), 3 + rng.standard_normal((b, nh, s))
    else:
        x["i"], x["f"] = rng.uniform(-30, 30, (b, nh, s)), rng.uniform(-20, 30, (b, nh, s))
    return {name: a.astype(dtype) for name, a in x.items()}


# A kernel under test that needs only numpy.

def numpy_step_kernel(q, k, v, i, f, c, n, m, eps=1e-6):
    """One float32 mLSTMexp generation step, (B,NH,·) arrays: returns h, c, n, m."""
    logsig_f = np.minimum(f, 0) - np.log1p(np.exp(-np.abs(f)))
    m_new = np.maximum(logsig_f + m, i)
    forget, inp = np.exp(logsig_f + m - m_new), np.exp(i - m_new)
    c = forget[..., None] * c + inp[..., None] * k[..., :, None] * v[..., None, :]
    n = forget * n + inp * k
    qs = q / np.float32(np.sqrt(q.shape[-1]))
    denominator = np.maximum(np.abs((qs * n).sum(-1, keepdims=True)), np.exp(-m_new)) + np.float32(eps)
    return np.einsum("bhd,bhde->bhe", qs, c) / denominator, c, n, m_new


def test_numpy_step_kernel(tfla):
    """S float32 steps of the kernel under test against `tfla step --tokens`
    in float64 from the same state: h over all tokens and the final state."""
    b, nh, s, dqk, dhv = 1, 4, 64, 32, 48
    x = random_problem(0, b, nh, s, dqk, dhv, dtype=np.float32)
    rng = np.random.default_rng(1)
    state = {"c0": rng.standard_normal((b, nh, dqk, dhv)).astype(np.float32),
             "n0": rng.standard_normal((b, nh, dqk)).astype(np.float32),
             "m0": rng.uniform(-1, 1, (b, nh, 1)).astype(np.float32)}
    reference = tfla.step(**x, **state, dtype="float64")          # S steps: q is (B,NH,S,DQK)
    c, n, m = state["c0"], state["n0"], state["m0"]
    hs = []
    for t in range(s):
        h, c, n, m = numpy_step_kernel(x["q"][:, :, t], x["k"][:, :, t], x["v"][:, :, t],
                                       x["i"][:, :, t, None], x["f"][:, :, t, None], c, n, m)
        hs.append(h)
    h = np.stack(hs, axis=2)
    assert h.dtype == np.float32
    assert relative_to_max(h, reference["h"]) <= 1e-5
    assert relative_to_max(c, reference["c"]) <= 1e-5
    assert np.abs(m - reference["m"]).max() <= 1e-5


# The authors' PyTorch kernels (optional).

def torch_modules():
    torch = pytest.importorskip("torch")
    chunkwise = pytest.importorskip("mlstm_kernels.torch.chunkwise.native")
    return torch, chunkwise


@pytest.mark.parametrize("gates", ["realistic", "extreme"])
@pytest.mark.parametrize("dtype,tolerance", [(np.float64, 1e-9), (np.float32, 1e-3)])
def test_chunkwise_matches_reference(tfla, gates, dtype, tolerance):
    torch, chunkwise = torch_modules()
    x = random_problem(0, 2, 3, 128, 32, 48, gates=gates, dtype=dtype)
    reference = tfla.forward(**x, kernel="recurrent", dtype="float64")["h"]
    h = chunkwise.mlstm_chunkwise__native_autograd(*(torch.from_numpy(x[n]) for n in "qkvif"), chunk_size=32)
    assert relative_to_max(h.detach().numpy(), reference) <= tolerance


def test_recurrent_gradients_match_autograd(tfla):
    """`tfla grad` (exact mode) against PyTorch autograd through the authors'
    recurrent kernel, float64, extreme gates and an initial state."""
    torch, _ = torch_modules()
    from mlstm_kernels.torch.recurrent import mlstm_recurrent_sequence__native_fw

    b, nh, s, dqk, dhv = 1, 2, 12, 4, 5
    x = random_problem(1, b, nh, s, dqk, dhv, gates="extreme")
    rng = np.random.default_rng(2)
    state = {"c0": rng.standard_normal((b, nh, dqk, dhv)), "n0": rng.standard_normal((b, nh, dqk)),
             "m0": rng.uniform(-2, 2, (b, nh, 1))}
    dh = rng.standard_normal((b, nh, s, dhv))
    ours = tfla.gradients(**x, dh=dh, **state, kernel="recurrent", mode="exact")
    leaves = {name: torch.tensor(a, requires_grad=True) for name, a in {**x, **state}.items()}
    h, _ = mlstm_recurrent_sequence__native_fw(
        *(leaves[n] for n in ["q", "k", "v", "i", "f", "c0", "n0", "m0"]),
        return_last_states=True, eps=1e-6, dtype_state=torch.float64)
    (h * torch.from_numpy(dh)).sum().backward()
    for name in ["q", "k", "v", "i", "f", "c0", "n0", "m0"]:
        expected = leaves[name].grad.numpy()
        assert np.abs(ours["d" + name] - expected).max() <= 1e-9 * max(np.abs(expected).max(), 1e-30), name


@pytest.mark.parametrize("mode,kernel_name", [("reference", "mlstm_chunkwise__native_custbw"),
                                              ("exact", "mlstm_chunkwise__native_autograd")])
def test_chunkwise_gradients_float32(tfla, mode, kernel_name):
    """A float32 kernel's gradients against the float64 oracle: the authors'
    custom backward against mode="reference" (the convention it implements:
    denominator and m held constant), autograd through their forward against
    mode="exact"."""
    torch, chunkwise = torch_modules()
    b, nh, s, dqk, dhv = 1, 2, 128, 16, 32
    x = random_problem(2, b, nh, s, dqk, dhv, dtype=np.float32)
    dh = np.random.default_rng(3).standard_normal((b, nh, s, dhv)).astype(np.float32)
    expected = tfla.gradients(**x, dh=dh, mode=mode, dtype="float64")
    leaves = {name: torch.tensor(x[name], requires_grad=True) for name in "qkvif"}
    h = getattr(chunkwise, kernel_name)(*(leaves[n] for n in "qkvif"), chunk_size=32)
    (h * torch.from_numpy(dh)).sum().backward()
    for name in "qkvif":
        error = relative_to_max(leaves[name].grad.double().numpy(), expected["d" + name])
        assert error <= 1e-3, f"d{name}: relative error {error:.3g}"
