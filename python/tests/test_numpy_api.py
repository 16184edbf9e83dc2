"""The in-process numpy API against the float64 references, the error
mapping, the saved-forward handle, and bit equality with the tfla command."""
import threading

import numpy as np
import pytest

from support import bf16_products_on_amx, needs_library, needs_module, problem, tfla_bin

import tfla

pytestmark = needs_library


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def test_version_is_the_library_version():
    assert tfla.__version__ == tfla.version() == "0.7.2"
    assert tfla.abi_version() == 1


@pytest.mark.parametrize("gate", ["exp", "sig"])
@pytest.mark.parametrize("state", [False, True])
def test_forward_matches_references(gate, state):
    x = problem(1, b=2, nh=2, s=70, state=state, gate=gate)
    out = tfla.forward(**x, gate=gate, chunk_size=16)
    recurrent = tfla.reference_forward("recurrent", **x, gate=gate)
    assert out.h.shape == (2, 2, 70, 12) and out.m.shape == (2, 2, 1)
    for name in ("h", "c", "n"):
        assert rel(out[name], recurrent[name]) < 1e-9, name
    if gate == "exp":
        assert np.abs(out.m - recurrent.m).max() < 1e-9
    if not state:
        # The parallel form adds eps under another stabilizer: compare at eps = 0.
        parallel = tfla.forward(**x, gate=gate, kernel="parallel", eps=0.0)
        assert set(parallel) == {"h"}
        assert rel(tfla.forward(**x, gate=gate, chunk_size=16, eps=0.0).h, parallel.h) < 1e-9


def test_exact_gradients_match_the_recurrent_reference():
    x = problem(2, s=45, state=True)
    dh = np.random.default_rng(3).standard_normal(x["v"].shape)
    dc = np.random.default_rng(4).standard_normal(x["c0"].shape)
    chunk = tfla.gradients(**x, dh=dh, dc=dc, chunk_size=16)
    ref = tfla.reference_gradients("recurrent", **x, dh=dh, dc=dc)
    assert set(chunk) == {"dq", "dk", "dv", "di", "df", "dc0", "dn0", "dm0"}
    for name in chunk:
        assert rel(chunk[name], ref[name]) < 1e-9, name


def test_reference_mode_gradients_match_the_parallel_reference():
    x = problem(2, s=45)
    dh = np.random.default_rng(3).standard_normal(x["v"].shape)
    # eps = 0: the parallel form adds eps under another stabilizer.
    chunk = tfla.gradients(**x, dh=dh, mode="reference", chunk_size=16, eps=0.0)
    ref = tfla.reference_gradients("parallel", **x, dh=dh, mode="reference", eps=0.0)
    assert set(chunk) == {"dq", "dk", "dv", "di", "df"}
    for name in chunk:
        assert rel(chunk[name], ref[name]) < 1e-9, name
    exact = tfla.gradients(**x, dh=dh, chunk_size=16)
    assert rel(exact["dq"], chunk["dq"]) > 1e-6  # the two conventions differ


def test_training_forward_backward_equal_the_fused_call():
    x = problem(5, s=64, state=True)
    dh = np.random.default_rng(6).standard_normal(x["v"].shape)
    out, saved = tfla.training_forward(**x, chunk_size=16, state_stride=2)
    with saved:
        assert saved.nbytes > 0
        grads = tfla.backward(saved, dh)
    assert saved.freed
    saved.free()  # a second free is harmless
    with pytest.raises(tfla.InvalidArgumentError):
        tfla.backward(saved, dh)
    fused = tfla.forward_backward(**x, dh=dh, chunk_size=16, state_stride=2)
    for name in ("h", "c", "n", "m"):
        assert np.array_equal(out[name], fused[name]), name
    for name in grads:
        assert np.array_equal(grads[name], fused[name]), name
    inference = tfla.forward(**x, chunk_size=16)
    assert rel(out.h, inference.h) < 1e-12


def test_step_follows_the_recurrent_form():
    x = problem(7, s=9, state=True)
    ref = tfla.forward(**x, kernel="recurrent")
    state = dict(c0=x["c0"], n0=x["n0"], m0=x["m0"])
    for t in range(9):
        out = tfla.step(*(x[name][:, :, t] for name in "qkvif"), **state)
        assert rel(out.h, ref.h[:, :, t]) < 1e-12
        state = dict(c0=out.c, n0=out.n, m0=out.m)
    assert rel(state["c0"], ref.c) < 1e-12
    tokens = tfla.step(**x)
    assert rel(tokens.h, ref.h) < 1e-12
    # inplace=True updates the given state.
    c, n, m = x["c0"].copy(), x["n0"].copy(), x["m0"].copy()
    tfla.step(*(x[name][:, :, 0] for name in "qkvif"), c, n, m, inplace=True)
    assert not np.array_equal(c, x["c0"])


def test_summary_composes_to_the_forward():
    x = problem(8, s=50, state=True)
    full = tfla.forward(**x)
    summary = tfla.summarize(*(x[name] for name in "qkvif"))
    assert summary.log_decay.shape == (1, 2)
    state = tfla.compose(summary, x["c0"], x["n0"], x["m0"])
    # compose gives the state with its own stabilizer; compare c·exp(m).
    assert rel(state.c * np.exp(state.m[..., None]), full.c * np.exp(full.m[..., None])) < 1e-9


def test_float32_close_to_float64():
    x = problem(9, s=100)
    out32 = tfla.forward(**{k: v.astype(np.float32) for k, v in x.items()})
    assert out32.h.dtype == np.float32 and out32.c.dtype == np.float32
    assert rel(out32.h, tfla.forward(**x, kernel="recurrent").h) < 1e-4


@needs_module("ml_dtypes")
def test_bfloat16_forward_default_bf16_products_and_float32_on_request():
    import ml_dtypes
    bf16 = ml_dtypes.bfloat16
    x = problem(12, s=130, dqk=64, dhv=64, state=True, dtype=np.float32)
    b = {k: (v.astype(bf16) if k in "qkvif" else v) for k, v in x.items()}
    wide = {k: v.astype(np.float32) for k, v in b.items()}
    out = tfla.forward(**b)                           # bf16 products
    exact = tfla.forward(**b, precision="float32")    # float32 on the widened values
    out32 = tfla.forward(**wide)
    assert out.h.dtype == bf16 and exact.h.dtype == bf16 and out.c.dtype == np.float32 and out.m.shape == (1, 2, 1)
    assert np.array_equal(exact.h.view(np.int16), out32.h.astype(bf16).view(np.int16))
    assert np.array_equal(exact.c, out32.c) and np.array_equal(exact.n, out32.n) and np.array_equal(exact.m, out32.m)
    h = out.h.astype(np.float32)
    assert np.abs(h - out32.h).max() <= 1e-2 * np.abs(out32.h).max()
    amx = bf16_products_on_amx()
    if amx:  # bfloat16 products, not the float32 result in disguise
        assert (out.h.view(np.int16) != exact.h.view(np.int16)).mean() >= 0.05
    elif amx is False:  # without AMX the library computes in float32
        assert np.array_equal(out.h.view(np.int16), exact.h.view(np.int16))
    # dtype="bfloat16" stores float32 arrays as bfloat16; the references compute bfloat16 arrays in float64.
    assert np.array_equal(tfla.forward(**wide, dtype="bfloat16").h.view(np.int16), out.h.view(np.int16))
    recurrent = tfla.forward(**b, kernel="recurrent")
    assert recurrent.h.dtype == np.float64 and rel(recurrent.h, tfla.forward(**wide, kernel="recurrent").h) < 1e-5
    with pytest.raises(tfla.InvalidArgumentError, match="float32 or float64"):
        tfla.training_forward(**x, dtype="bfloat16")


def test_no_copy_for_contiguous_inputs_and_copies_for_others():
    x = problem(10, s=20)
    strided = {k: np.asfortranarray(v) for k, v in x.items()}
    assert np.array_equal(tfla.forward(**strided).h, tfla.forward(**x).h)
    as_float32 = tfla.forward(**x, dtype="float32")
    assert as_float32.h.dtype == np.float32
    integers = tfla.forward(**{k: np.round(v * 3).astype(np.int64) for k, v in x.items()})
    assert integers.h.dtype == np.float64


def test_thread_counts_give_identical_results():
    x = problem(11, b=2, nh=4, s=256, dqk=16, dhv=16)
    one = tfla.forward(**x, threads=1, parallelism=2)
    two = tfla.forward(**x, threads=2, parallelism=2)
    assert np.array_equal(one.h, two.h)


def test_calls_from_threads():
    x = problem(12, s=200)
    expected = tfla.forward(**x).h
    results = [None] * 4

    def work(slot):
        results[slot] = tfla.forward(**x, threads=1).h

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert rel(result, expected) < 1e-12


# Errors.

def test_shape_errors_are_raised_before_the_call():
    x = problem(13)
    x["k"] = x["k"][:, :, :-1]
    with pytest.raises(tfla.ShapeError, match="k: expected shape"):
        tfla.forward(**x)
    with pytest.raises(ValueError):
        tfla.forward(**problem(13), c0=np.zeros((1, 2, 3, 3)))


def test_library_errors_carry_the_message():
    x = problem(14)
    x["q"][0, 0, 3, 1] = np.nan
    with pytest.raises(tfla.NonFiniteError) as raised:
        tfla.forward(**x)
    assert raised.value.status == 3 and raised.value.message.startswith("tfla_forward: ")
    assert len(raised.value.message) > len("tfla_forward: ")
    assert isinstance(raised.value, tfla.TFLAError)
    with pytest.raises(tfla.InvalidArgumentError) as raised:
        tfla.forward(**problem(14), eps=-1.0)
    assert raised.value.status == 1 and "eps" in raised.value.message.lower()
    with pytest.raises(tfla.InvalidArgumentError):
        tfla.forward(**problem(14), gate="tanh")
    with pytest.raises(tfla.InvalidArgumentError):
        tfla.forward(**problem(14), kernel="quadratic")


def test_skipping_the_value_check_runs():
    x = problem(15)
    assert np.array_equal(tfla.forward(**x, check_values=False).h, tfla.forward(**x).h)


# The tfla command.

@pytest.mark.skipif(tfla_bin() is None, reason="no tfla executable (set TFLA_BIN)")
@pytest.mark.parametrize("kernel", ["chunkwise", "recurrent"])
def test_bit_equal_to_the_command(kernel):
    from tfla import cli
    x = problem(16, b=1, nh=2, s=100, dqk=16, dhv=16, state=True)
    command = cli.Tfla(tfla_bin()).forward(**x, kernel=kernel, chunk_size=32 if kernel == "chunkwise" else None)
    in_process = tfla.forward(**x, kernel=kernel, **({"chunk_size": 32} if kernel == "chunkwise" else {}))
    for name in ("h", "c", "n", "m"):
        assert command[name].dtype == in_process[name].dtype
        assert (command[name] == in_process[name]).all(), name
    dh = np.random.default_rng(17).standard_normal(x["v"].shape)
    command = cli.Tfla(tfla_bin()).gradients(**x, dh=dh, chunk_size=64, state_stride=2)
    in_process = tfla.gradients(**x, dh=dh, chunk_size=64, state_stride=2)
    for name in command:
        assert (command[name] == in_process[name]).all(), name


def test_the_gil_is_released_during_a_call():
    """While one thread is inside the library, another keeps running Python."""
    x = problem(18, b=1, nh=4, s=4096, dqk=64, dhv=64)
    tfla.forward(**x, threads=1)  # warm up
    done = threading.Event()
    worker = threading.Thread(target=lambda: (tfla.forward(**x, threads=1), done.set()))
    count = 0
    worker.start()
    while not done.is_set():
        count += 1
    worker.join()
    # With the GIL held for the call's duration this loop could not advance
    # while the kernel runs (it would count only between the Python steps).
    assert count > 10000
