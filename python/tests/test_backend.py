"""The mlstm_kernels backend: the registered contracts against the native
kernels, registration and its undoing, and a small xLSTM language model of
transformers generating the same tokens on tfla and on the native kernels."""
import numpy as np
import pytest

from support import needs_library, needs_module, problem

pytestmark = [needs_library, needs_module("torch", "mlstm_kernels", "einops")]

torch = pytest.importorskip("torch", reason="torch is not installed")
import tfla.torch as tt  # noqa: E402


def registries():
    from mlstm_kernels.torch.chunkwise import registry
    from mlstm_kernels.torch.recurrent import registry_sequence, registry_step
    return registry, registry_sequence, registry_step


def test_register_adds_and_restores():
    chunkwise, sequence, step = registries()
    native = chunkwise["native_autograd"], sequence["native_sequence__native"], step["native"]
    with tt.register() as registration:
        assert registration.active
        from mlstm_kernels.torch import get_mlstm_kernel, get_mlstm_step_kernel
        assert get_mlstm_kernel("chunkwise--tfla") is tt.chunkwise_kernel
        assert get_mlstm_step_kernel("tfla") is tt.step_kernel
        assert sequence["tfla"] is tt.sequence_kernel
        assert chunkwise["native_autograd"] is native[0]
    assert "tfla" not in chunkwise and "tfla" not in step and "tfla" not in sequence
    handle = tt.register(replace_native=True)
    assert chunkwise["native_autograd"] is tt.chunkwise_kernel and step["native"] is tt.step_kernel
    assert sequence["native_sequence__native"] is tt.sequence_kernel
    handle.restore()
    assert (chunkwise["native_autograd"], sequence["native_sequence__native"], step["native"]) == native
    tt.register(replace_native=True)
    tt.unregister()
    assert chunkwise["native_autograd"] is native[0] and "tfla" not in chunkwise


def inputs(seed, s, dtype=torch.float32, b=2, nh=2, dqk=16, dhv=32):
    x = problem(seed, b=b, nh=nh, s=s, dqk=dqk, dhv=dhv, state=True)
    return {k: torch.tensor(v, dtype=dtype if k in "qkvif" else torch.float32) for k, v in x.items()}


def test_chunkwise_contract_against_native():
    chunkwise = registries()[0]
    x = inputs(1, 128)
    args = dict(q=x["q"], k=x["k"], v=x["v"], i=x["i"], f=x["f"], c_initial=x["c0"], n_initial=x["n0"],
                m_initial=x["m0"], chunk_size=64, autocast_kernel_dtype=torch.bfloat16, eps=1e-6)
    with torch.no_grad():
        h, (c, n, m) = tt.chunkwise_kernel(**args, return_last_states=True)
        hn, (cn, nn, mn) = chunkwise["native_autograd"](**args, return_last_states=True)
    assert h.shape == hn.shape and c.shape == cn.shape and m.shape == mn.shape == (2, 2, 1)
    assert float((h - hn).abs().max() / hn.abs().max()) < 1e-4
    scale, scale_n = torch.exp(m - mn)[..., None], torch.exp(m - mn)
    assert float((c * scale - cn).abs().max() / cn.abs().max()) < 1e-4
    assert float((n * scale_n - nn).abs().max() / nn.abs().max()) < 1e-4
    only_h = tt.chunkwise_kernel(**args, return_last_states=False)
    assert isinstance(only_h, torch.Tensor) and torch.equal(only_h.detach(), h)


def test_training_gradients_against_native_autograd():
    chunkwise = registries()[0]
    x = inputs(2, 128)
    grads = []
    for kernel in (tt.chunkwise_kernel, chunkwise["native_autograd"]):
        t = {k: v.clone().requires_grad_(True) for k, v in x.items() if k in "qkvif"}
        h = kernel(**t, c_initial=None, n_initial=None, m_initial=None, chunk_size=64, return_last_states=False,
                   autocast_kernel_dtype=torch.float32, eps=1e-6)
        (h * torch.linspace(-1, 1, h.numel()).reshape(h.shape)).sum().backward()
        grads.append({k: v.grad for k, v in t.items()})
    for name in "qkvif":
        a, b = grads[0][name], grads[1][name]
        assert float((a - b).abs().max() / b.abs().max()) < 1e-3, name


def test_padding_tokens_are_dropped_exactly():
    """The inference wrapper pads to a multiple of the chunk size; the final
    state must be that of the unpadded sequence."""
    from mlstm_kernels.torch.kernel_wrappers import wrap_chunkwise__arbitrary_sequence_length_with_padding
    x = inputs(3, 100, dtype=torch.float64)
    x.update(c0=x["c0"].double(), n0=x["n0"].double(), m0=x["m0"].double())
    with torch.no_grad():
        h, (c, n, m) = wrap_chunkwise__arbitrary_sequence_length_with_padding(
            mlstm_chunkwise_kernel=tt.chunkwise_kernel, mlstm_sequence_kernel=None,
            mlstm_step_kernel=tt.step_kernel, q=x["q"], k=x["k"], v=x["v"], i=x["i"], f=x["f"],
            c_initial=x["c0"], n_initial=x["n0"], m_initial=x["m0"], chunk_size=64, return_last_states=True,
            dtype_state=torch.float64)
        direct, (cd, nd, md) = tt.mlstm(x["q"], x["k"], x["v"], x["i"], x["f"], x["c0"], x["n0"], x["m0"],
                                        chunk_size=64)
    assert h.shape == direct.shape
    assert torch.equal(c, cd) and torch.equal(n, nd) and torch.equal(m, md)
    assert torch.equal(h, direct)


def test_step_contract_against_native():
    step = registries()[2]
    x = inputs(4, 1)
    one = dict(q=x["q"][:, :, 0], k=x["k"][:, :, 0], v=x["v"][:, :, 0], i=x["i"], f=x["f"],
               c=x["c0"], n=x["n0"], m=x["m0"])
    with torch.no_grad():
        h, (c, n, m) = tt.step_kernel(**one, eps=1e-6, dtype_state=torch.float32)
        hn, (cn, nn, mn) = step["native"](**one, eps=1e-6, dtype_state=torch.float32)
    assert h.shape == hn.shape == (2, 2, 32) and m.shape == mn.shape == (2, 2, 1)
    assert float((h - hn).abs().max() / hn.abs().max()) < 1e-5
    assert float((m - mn).abs().max()) < 1e-5
    assert float((c - cn).abs().max() / cn.abs().max()) < 1e-5


def tiny_model(chunkwise, sequence, step, dtype=torch.float32, seed=0):
    from transformers import xLSTMConfig, xLSTMForCausalLM
    torch.manual_seed(seed)
    config = xLSTMConfig(vocab_size=97, hidden_size=128, num_hidden_layers=2, num_heads=2, chunk_size=16,
                         chunkwise_kernel=chunkwise, sequence_kernel=sequence, step_kernel=step,
                         mode="inference", return_last_states=True, autocast_kernel_dtype="float32",
                         inference_state_dtype="float32", eps=1e-6)
    model = xLSTMForCausalLM(config).to(dtype).eval()
    return model


@needs_module("transformers", "xlstm")
def test_xlstm_language_model_generates_the_same_tokens():
    prompt = torch.tensor([[5, 17, 3, 42, 8, 60, 1, 33, 21, 9, 70, 2, 11, 44, 4, 90, 13, 27, 6, 50]])
    native = tiny_model("chunkwise--native_autograd", "native_sequence__native", "native")
    results = {}
    with torch.no_grad():
        results["native"] = (native(prompt).logits, native.generate(prompt, max_new_tokens=6, do_sample=False))
    with tt.register(replace_native=True):
        replaced = tiny_model("chunkwise--native_autograd", "native_sequence__native", "native")
        with torch.no_grad():
            results["tfla"] = (replaced(prompt).logits,
                               replaced.generate(prompt, max_new_tokens=6, do_sample=False))
    (logits, tokens), (native_logits, native_tokens) = results["tfla"], results["native"]
    assert float((logits - native_logits).abs().max()) < 1e-4
    assert torch.equal(tokens, native_tokens) and tokens.shape == (1, 26)
    # The model built while registered used tfla; this one was built after restoring.
    mlstm_backend = replaced.backbone.blocks[0].mlstm_layer.mlstm_backend
    assert mlstm_backend.chunkwise_kernel_fn is tt.chunkwise_kernel


@needs_module("transformers", "xlstm")
def test_xlstm_bfloat16_model_runs_on_tfla():
    with tt.register(replace_native=True):
        model = tiny_model("chunkwise--native_autograd", "native_sequence__native", "native", dtype=torch.bfloat16)
    prompt = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]])
    with torch.no_grad():
        logits = model(prompt).logits
        tokens = model.generate(prompt, max_new_tokens=3, do_sample=False)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.backbone.blocks[0].mlstm_layer.mlstm_backend.step_kernel_fn is tt.step_kernel
    assert torch.isfinite(logits.float()).all()
    assert tokens.shape == (1, 20)


@needs_module("transformers", "xlstm")
def test_xlstm_training_gradients_match_native():
    from transformers import xLSTMConfig, xLSTMForCausalLM

    def build():
        torch.manual_seed(0)
        config = xLSTMConfig(vocab_size=97, hidden_size=128, num_hidden_layers=2, num_heads=2, chunk_size=16,
                             mode="train", return_last_states=True, autocast_kernel_dtype="float32", eps=1e-6)
        return xLSTMForCausalLM(config).train()

    ids = torch.randint(0, 97, (2, 32), generator=torch.Generator().manual_seed(1))
    results = []
    for replace in (False, True):
        registration = tt.register(replace_native=True) if replace else None
        model = build()
        if registration is not None:
            registration.restore()
            assert model.backbone.blocks[0].mlstm_layer.mlstm_backend.chunkwise_kernel_fn is tt.chunkwise_kernel
        loss = model(ids, labels=ids, use_cache=False).loss
        loss.backward()
        results.append((loss.item(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (native_loss, native_grads), (loss, grads) = results
    assert abs(loss - native_loss) < 1e-5
    assert grads.keys() == native_grads.keys() and len(grads) > 10
    for name, reference in native_grads.items():
        scale = float(reference.abs().max())
        assert float((grads[name] - reference).abs().max()) <= 1e-4 * max(scale, 1e-12), name
