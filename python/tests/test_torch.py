"""tfla.torch: autograd (gradcheck in float64), float32 against numpy,
bfloat16 (bf16 products by default for inference, float32 on request and in
training), the inference path and the step."""
import numpy as np
import pytest

from support import bf16_products_on_amx, needs_library, needs_module, problem

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


def bf16_problem(seed, s=160, state=True):
    """bfloat16 q, k, v, i, f (and a float32 initial state), and the same
    values widened to float32."""
    x = problem(seed, b=1, nh=2, s=s, dqk=64, dhv=64, state=state, dtype=np.float32)
    t = {name: torch.tensor(value) for name, value in x.items()}
    b16 = {name: (t[name].to(torch.bfloat16) if name in "qkvif" else t[name]) for name in t}
    wide = {name: value.float() for name, value in b16.items()}
    return b16, wide


def test_bfloat16_inference_default_is_bf16_products_and_float32_on_request():
    b16, wide = bf16_problem(10)
    with torch.no_grad():
        h, (c, n, m) = tt.mlstm(**b16)                              # default: bf16 products
        h_exact, (c_exact, n_exact, m_exact) = tt.mlstm(**b16, precision="float32")
        h32, (c32, n32, m32) = tt.mlstm(**wide)                     # float32 on the widened values
    assert h.dtype == h_exact.dtype == torch.bfloat16 and c.dtype == torch.float32
    # precision="float32": the float32 forward, h rounded to bfloat16; the state its float32 state.
    assert torch.equal(h_exact, h32.to(torch.bfloat16))
    assert torch.equal(c_exact, c32) and torch.equal(n_exact, n32) and torch.equal(m_exact, m32)
    # The default: within a bfloat16 tolerance of the float32 result.
    scale = float(h32.abs().max())
    assert float((h.float() - h32).abs().max()) <= 1e-2 * scale
    assert float((c - c32).abs().max()) <= 1e-2 * float(c32.abs().max())
    amx = bf16_products_on_amx()
    if amx:  # bfloat16 products, not the float32 result in disguise
        assert not torch.equal(h, h_exact)
        assert int((h != h_exact).sum()) * 20 >= h.numel()
    elif amx is False:  # without AMX the library computes in float32
        assert torch.equal(h, h_exact) and torch.equal(c, c_exact)


@needs_module("ml_dtypes")
def test_bfloat16_inference_equals_the_numpy_api():
    import ml_dtypes
    b16, _ = bf16_problem(14)
    with torch.no_grad():
        h, (c, n, m) = tt.mlstm(**b16)
    # The same bits for the same arrays (both default to the cores' parallelism).
    arrays = {name: (value.view(torch.int16).numpy().view(ml_dtypes.bfloat16) if value.dtype == torch.bfloat16
                     else value.numpy()) for name, value in b16.items()}
    out = tfla.forward(**arrays)
    assert np.array_equal(out.h.view(np.int16), h.view(torch.int16).numpy()) and np.array_equal(out.c, c.numpy())


def test_bfloat16_explicit_bf16_products_and_training_stays_float32():
    b16, wide = bf16_problem(11, s=100, state=False)
    with torch.no_grad():
        h, _ = tt.mlstm(**b16)
        h_bf16, _ = tt.mlstm(**b16, precision="bf16")
    assert torch.equal(h, h_bf16)
    with pytest.raises(tfla.InvalidArgumentError, match="precision"):
        with torch.no_grad():
            tt.mlstm(**b16, precision="half")
    # With grad: the training forward in float32 on the widened values (h rounded); bf16 products refused.
    g = {name: value.detach().clone().requires_grad_(True) for name, value in b16.items()}
    w = {name: value.detach().clone().requires_grad_(True) for name, value in wide.items()}
    h_train, _ = tt.mlstm(**g)
    h_train32, _ = tt.mlstm(**w)
    assert torch.equal(h_train.detach(), h_train32.detach().to(torch.bfloat16))
    h_train.float().sum().backward()
    h_train32.sum().backward()
    assert torch.equal(g["q"].grad, w["q"].grad.to(torch.bfloat16))
    with pytest.raises(tfla.UnsupportedError, match="inference"):
        tt.mlstm(**g, precision="bf16")


def test_bfloat16_chunkwise_kernel_default_and_padding():
    b16, wide = bf16_problem(12, s=150)
    state = dict(c_initial=b16["c0"], n_initial=b16["n0"], m_initial=b16["m0"])
    with torch.no_grad():
        h, (c, n, m) = tt.mlstm(**b16, chunk_size=64)
        h_exact, (c_exact, _, _) = tt.mlstm(**b16, chunk_size=64, precision="float32")
        h_kernel, (c_kernel, _, _) = tt.chunkwise_kernel(*(b16[name] for name in "qkvif"), **state, chunk_size=64,
                                                         return_last_states=True)
        h_float32, _ = tt.chunkwise_kernel(*(b16[name] for name in "qkvif"), **state, chunk_size=64,
                                           return_last_states=True, precision="float32")
        # mlstm_kernels' padding to a multiple of the chunk size: dropped, the rest as above.
        pad = 10
        padded = [torch.cat([b16[name], torch.zeros(1, 2, pad, b16[name].shape[3], dtype=torch.bfloat16)], dim=2)
                  for name in "qkv"]
        padded += [torch.cat([b16["i"], torch.full((1, 2, pad), -25.0, dtype=torch.bfloat16)], dim=2),
                   torch.cat([b16["f"], torch.full((1, 2, pad), 25.0, dtype=torch.bfloat16)], dim=2)]
        h_padded, (c_padded, _, _) = tt.chunkwise_kernel(*padded, **state, chunk_size=64, return_last_states=True)
    assert torch.equal(h_kernel, h) and torch.equal(c_kernel, c)
    assert torch.equal(h_float32, h_exact)
    assert torch.equal(h_padded[:, :, :150], h) and torch.equal(c_padded, c)
    assert not h_padded[:, :, 150:].any()


def test_bfloat16_step_is_the_float32_step_rounded():
    b16, wide = bf16_problem(13, s=1)
    one = {name: b16[name][:, :, 0] for name in "qkv"}
    one32 = {name: wide[name][:, :, 0] for name in "qkv"}
    with torch.no_grad():
        h, (c, n, m) = tt.step(one["q"], one["k"], one["v"], b16["i"], b16["f"], b16["c0"], b16["n0"], b16["m0"])
        h32, (c32, n32, m32) = tt.step(one32["q"], one32["k"], one32["v"], wide["i"], wide["f"], wide["c0"],
                                       wide["n0"], wide["m0"])
    assert h.dtype == torch.bfloat16 and c.dtype == torch.float32
    assert torch.equal(h, h32.to(torch.bfloat16))
    assert torch.equal(c, c32) and torch.equal(n, n32) and torch.equal(m, m32)


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
