"""tfla.torch: autograd (gradcheck in float64), float32 against numpy,
bfloat16, the inference path and the step."""
import numpy as np
import pytest

from support import needs_library, needs_module, problem

pytestmark = [needs_library, needs_module("torch")]

if True:  # imported after the skip marks are known
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
    import tfla
    import tfla.torch as tt


def tensors(x, dtype=torch.float64, grad=False):
    return {name: torch.tensor(value, dtype=dtype, requires_grad=grad) for name, value in x.items()}


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("gate", ["exp", "sig"])
def test_gradcheck_float64_with_states(gate):
    x = tensors(problem(1, b=1, nh=2, s=11, dqk=3, dhv=4, state=True, gate=gate), grad=True)
    if gate == "sig":
        x["m0"] = x["m0"].detach()  # zeros for the sigmoid gate: not an input

    def function(q, k, v, i, f, c0, n0, m0):
        h, (c, n, m) = tt.mlstm(q, k, v, i, f, c0, n0, m0, gate=gate, chunk_size=4, state_stride=2)
        return (h, c, n, m) if gate == "exp" else (h, c, n)

    inputs = tuple(x[name] for name in ("q", "k", "v", "i", "f", "c0", "n0", "m0"))
    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_reference_mode_matches_numpy_reference_gradients():
    x = problem(2, s=40, state=True)
    t = tensors(x, grad=True)
    h, (c, n, m) = tt.mlstm(*(t[name] for name in ("q", "k", "v", "i", "f", "c0", "n0", "m0")),
                            mode="reference", chunk_size=16)
    dh = np.random.default_rng(3).standard_normal(h.shape)
    (h * torch.tensor(dh)).sum().backward()
    ref = tfla.gradients(**x, dh=dh, mode="reference", chunk_size=16)
    for name in ("q", "k", "v", "i", "f", "c0"):
        assert rel(t[name].grad.numpy(), ref["d" + name]) < 1e-9, name


def test_float32_matches_numpy_and_gradients_flow():
    x = problem(4, b=2, nh=2, s=64, dqk=16, dhv=16, state=True, dtype=np.float32)
    t = tensors(x, torch.float32, grad=True)
    h, (c, n, m) = tt.mlstm(*(t[name] for name in ("q", "k", "v", "i", "f", "c0", "n0", "m0")), chunk_size=32)
    training = tfla.training_forward(**x, chunk_size=32)[0]
    assert np.array_equal(h.detach().numpy(), training.h)
    assert np.array_equal(c.detach().numpy(), training.c)
    (h.sum() + c.sum()).backward()
    dh = np.ones(h.shape, np.float32)
    dc = np.ones(c.shape, np.float32)
    ref = tfla.forward_backward(**x, dh=dh, dc=dc, chunk_size=32)
    for name in ("q", "k", "v", "i", "f", "c0", "n0", "m0"):
        assert t[name].grad is not None and t[name].grad.dtype == torch.float32
        assert np.array_equal(t[name].grad.numpy(), ref["d" + name]), name


def test_inference_path_keeps_no_graph_and_equals_forward():
    x = problem(5, s=50, dtype=np.float32)
    t = tensors(x, torch.float32, grad=True)
    with torch.no_grad():
        h, (c, n, m) = tt.mlstm(*(t[name] for name in "qkvif"))
    assert h.grad_fn is None and not h.requires_grad
    assert np.array_equal(h.numpy(), tfla.forward(**x).h)
    assert m.shape == (1, 2, 1)


def test_bfloat16():
    x = problem(6, b=1, nh=2, s=64, dqk=16, dhv=16)
    t = {k: v.to(torch.bfloat16) for k, v in tensors(x).items()}
    with torch.no_grad():
        h, (c, n, m) = tt.mlstm(*(t[name] for name in "qkvif"))
    assert h.dtype == torch.bfloat16 and c.dtype == torch.float32
    reference = tfla.forward(**{k: v.to(torch.float64).numpy() for k, v in t.items()}, kernel="recurrent")
    assert rel(h.to(torch.float64).numpy(), reference.h) < 2e-2
    # With grad: float32 arithmetic, gradients in bfloat16.
    g = {k: v.detach().clone().requires_grad_(True) for k, v in t.items()}
    h2, _ = tt.mlstm(*(g[name] for name in "qkvif"))
    assert h2.dtype == torch.bfloat16
    h2.float().sum().backward()
    assert g["q"].grad.dtype == torch.bfloat16 and torch.isfinite(g["q"].grad.float()).all()
    assert rel(h2.detach().to(torch.float64).numpy(), reference.h) < 2e-2


def test_non_contiguous_inputs_are_copied_and_other_devices_refused():
    x = tensors(problem(7, s=20), torch.float32)
    strided = {k: torch.stack([v, -v], dim=-1)[..., 0] for k, v in x.items()}
    assert not strided["q"].is_contiguous()
    with torch.no_grad():
        assert torch.equal(tt.mlstm(**{k: strided[k] for k in "qkvif"})[0],
                           tt.mlstm(**{k: x[k] for k in "qkvif"})[0])
    with pytest.raises(ValueError, match="CPU"):
        tt.mlstm(*(x[k].to("meta") for k in "qkvif"))
    with pytest.raises(tfla.ShapeError):
        tt.mlstm(x["q"], x["k"][:, :, :5], x["v"], x["i"], x["f"])


def test_step_matches_numpy_step():
    x = problem(8, s=1, state=True, dtype=np.float32)
    t = tensors(x, torch.float32)
    one = {k: t[k][:, :, 0] for k in "qkv"}
    with torch.no_grad():
        h, (c, n, m) = tt.step(one["q"], one["k"], one["v"], t["i"], t["f"], t["c0"], t["n0"], t["m0"])
    ref = tfla.step(*(x[k][:, :, 0] for k in "qkvif"), x["c0"], x["n0"], x["m0"])
    assert np.array_equal(h.numpy(), ref.h) and np.array_equal(c.numpy(), ref.c)
    assert torch.equal(t["c0"], torch.tensor(x["c0"]))  # the state argument is not modified


def test_step_inplace_advances_the_given_state():
    x = problem(9, s=1, state=True, dtype=np.float32)
    t = tensors(x, torch.float32)
    one = {k: t[k][:, :, 0] for k in "qkv"}
    c0, n0, m0 = t["c0"].clone(), t["n0"].clone(), t["m0"].clone().reshape(*t["m0"].shape[:2], 1)
    with torch.no_grad():
        h, (c, n, m) = tt.step(one["q"], one["k"], one["v"], t["i"], t["f"], t["c0"], t["n0"], t["m0"])
        h2, (c2, n2, m2) = tt.step(one["q"], one["k"], one["v"], t["i"], t["f"], c0, n0, m0, inplace=True)
    assert c2 is c0 and n2 is n0 and m2 is m0  # advanced in place, returned themselves
    assert torch.equal(h, h2) and torch.equal(c, c2) and torch.equal(n, n2) and torch.equal(m.reshape(m2.shape), m2)
