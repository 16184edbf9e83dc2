"""Checking a kernel against `tfla` from a Python test suite.

The pattern: generate inputs with numpy, save them as .npy, let `tfla run`
compute the float64 reference, and compare your kernel's output with it.
Here the "kernel under test" is the authors' PyTorch-native chunkwise mLSTM
(mlstm-kernels 2.0.6); replace `kernel_under_test` with your own.

Run (from the repository root, after `make build`):
    pip install pytest numpy torch==2.13.0 mlstm-kernels==2.0.6 einops
    PATH="$(swift build -c release --show-bin-path):$PATH" pytest Examples/python-oracle
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
chunkwise = pytest.importorskip("mlstm_kernels.torch.chunkwise.native")

TFLA = shutil.which("tfla")


def kernel_under_test(q, k, v, i, f, chunk_size):
    """The kernel being tested: returns h as a numpy array."""
    as_torch = [torch.from_numpy(a) for a in (q, k, v, i, f)]
    h = chunkwise.mlstm_chunkwise__native_autograd(*as_torch, chunk_size=chunk_size)
    return h.detach().numpy()


def tfla_run(inputs, directory, *flags):
    """Writes inputs to directory/in, runs `tfla run`, returns its outputs."""
    src, out = os.path.join(directory, "in"), os.path.join(directory, "out")
    os.makedirs(src, exist_ok=True)
    for name, array in inputs.items():
        np.save(os.path.join(src, f"{name}.npy"), array)
    subprocess.run([TFLA, "run", "--in", src, "--out", out, *flags], check=True)
    return {name[:-4]: np.load(os.path.join(out, name)) for name in os.listdir(out)}


@pytest.mark.skipif(TFLA is None, reason="tfla is not on PATH")
@pytest.mark.parametrize("gates", ["realistic", "extreme"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9), (np.float32, 1e-3)])
def test_chunkwise_matches_reference(tmp_path, gates, dtype, rtol):
    rng = np.random.default_rng(0)
    b, nh, s, dqk, dhv = 2, 3, 128, 32, 48
    inputs = {
        "q": rng.standard_normal((b, nh, s, dqk)),
        "k": rng.standard_normal((b, nh, s, dqk)),
        "v": rng.standard_normal((b, nh, s, dhv)),
        "i": rng.standard_normal((b, nh, s)) if gates == "realistic" else rng.uniform(-30, 30, (b, nh, s)),
        "f": 3 + rng.standard_normal((b, nh, s)) if gates == "realistic" else rng.uniform(-20, 30, (b, nh, s)),
    }
    inputs = {name: a.astype(dtype) for name, a in inputs.items()}
    # The reference in float64 from the same (rounded) inputs.
    reference = tfla_run(inputs, str(tmp_path), "--kernel", "recurrent", "--dtype", "float64")["h"]
    actual = kernel_under_test(*(inputs[n] for n in "qkvif"), chunk_size=32)
    error = np.abs(actual - reference).max() / np.abs(reference).max()
    assert error <= rtol, f"relative error {error:.3g}"


@pytest.mark.skipif(TFLA is None, reason="tfla is not on PATH")
def test_recurrent_gradients_match_autograd(tmp_path):
    """`tfla grad` (exact mode) against PyTorch autograd through the authors'
    recurrent kernel, float64, extreme gates and an initial state."""
    from mlstm_kernels.torch.recurrent import mlstm_recurrent_sequence__native_fw

    rng = np.random.default_rng(1)
    b, nh, s, dqk, dhv = 1, 2, 12, 4, 5
    arrays = {
        "q": rng.standard_normal((b, nh, s, dqk)), "k": rng.standard_normal((b, nh, s, dqk)),
        "v": rng.standard_normal((b, nh, s, dhv)),
        "i": rng.uniform(-30, 30, (b, nh, s)), "f": rng.uniform(-20, 30, (b, nh, s)),
        "c0": rng.standard_normal((b, nh, dqk, dhv)), "n0": rng.standard_normal((b, nh, dqk)),
        "m0": rng.uniform(-2, 2, (b, nh, 1)), "dh": rng.standard_normal((b, nh, s, dhv)),
    }
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name, array in arrays.items():
        np.save(src / f"{name}.npy", array)
    subprocess.run([TFLA, "grad", "--kernel", "recurrent", "--mode", "exact", "--in", str(src), "--out", str(out)], check=True)
    leaves = {k: torch.tensor(a, requires_grad=True) for k, a in arrays.items() if k != "dh"}
    h, _ = mlstm_recurrent_sequence__native_fw(
        leaves["q"], leaves["k"], leaves["v"], leaves["i"], leaves["f"], leaves["c0"], leaves["n0"], leaves["m0"],
        return_last_states=True, eps=1e-6, dtype_state=torch.float64)
    (h * torch.from_numpy(arrays["dh"])).sum().backward()
    for name, ours in [("q", "dq"), ("k", "dk"), ("v", "dv"), ("i", "di"), ("f", "df"), ("c0", "dc0"), ("n0", "dn0"), ("m0", "dm0")]:
        expected = leaves[name].grad.numpy()
        actual = np.load(out / f"{ours}.npy")
        assert np.abs(actual - expected).max() <= 1e-9 * max(np.abs(expected).max(), 1e-30), ours


@pytest.mark.skipif(TFLA is None, reason="tfla is not on PATH")
@pytest.mark.parametrize("mode,kernel_name", [("reference", "mlstm_chunkwise__native_custbw"),
                                              ("exact", "mlstm_chunkwise__native_autograd")])
def test_chunkwise_gradients_float32(tmp_path, mode, kernel_name):
    """A float32 kernel's gradients against the float64 oracle: the authors'
    custom backward against `tfla grad --mode reference` (the convention it
    implements: denominator and m held constant), and autograd through
    their forward against `--mode exact`."""
    rng = np.random.default_rng(2)
    b, nh, s, dqk, dhv = 1, 2, 128, 16, 32
    arrays = {
        "q": rng.standard_normal((b, nh, s, dqk)), "k": rng.standard_normal((b, nh, s, dqk)),
        "v": rng.standard_normal((b, nh, s, dhv)),
        "i": rng.standard_normal((b, nh, s)), "f": 3.0 + rng.standard_normal((b, nh, s)),
        "dh": rng.standard_normal((b, nh, s, dhv)),
    }
    arrays = {name: a.astype(np.float32) for name, a in arrays.items()}
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name, array in arrays.items():
        np.save(src / f"{name}.npy", array)
    subprocess.run([TFLA, "grad", "--mode", mode, "--dtype", "float64", "--in", str(src), "--out", str(out)], check=True)
    leaves = {k: torch.tensor(a, requires_grad=True) for k, a in arrays.items() if k != "dh"}
    h = getattr(chunkwise, kernel_name)(*(leaves[n] for n in "qkvif"), chunk_size=32)
    (h * torch.from_numpy(arrays["dh"])).sum().backward()
    for name in "qkvif":
        expected = np.load(out / f"d{name}.npy")
        actual = leaves[name].grad.double().numpy()
        error = np.abs(actual - expected).max() / np.abs(expected).max()
        assert error <= 1e-3, f"d{name}: relative error {error:.3g}"
