"""The mlstm_kernels backend: kernels with mlstm_kernels' contracts, and their
registration.

mlstm_kernels looks kernels up when an mLSTMBackend is constructed (that is,
when an xLSTM model is built), so `register()` must run before the model is
built; a model built earlier keeps the kernels it found.
"""
import contextlib
import importlib
import importlib.util
import sys

import torch

from ._autograd import _prepare_all, inference_forward, mlstm, step
from ._context_parallel import _distributed, context_parallel_chunkwise
from .. import core

KEY = "tfla"
# The padding mlstm_kernels' wrappers append to reach a multiple of the chunk
# size: zero q, k, v with these gates.
PAD_INPUT_GATE, PAD_FORGET_GATE = -25.0, 25.0


def _trailing_padding(q, k, v, i, f, limit):
    """How many trailing tokens (fewer than `limit`) are the wrappers' padding
    for every batch entry and head: i = -25, f = +25, q = k = v = 0. These
    tokens change the state only by rounding (forget gate sigmoid(25) < 1),
    so they are dropped instead of computed."""
    S = q.shape[2]
    count = 0
    while count < min(limit - 1, S - 1):
        t = S - 1 - count
        if not (bool((i[:, :, t] == PAD_INPUT_GATE).all()) and bool((f[:, :, t] == PAD_FORGET_GATE).all())
                and not bool(q[:, :, t].any()) and not bool(k[:, :, t].any()) and not bool(v[:, :, t].any())):
            break
        count += 1
    return count


def chunkwise_kernel(q, k, v, i, f, c_initial=None, n_initial=None, m_initial=None, chunk_size=64,
                     return_last_states=False, autocast_kernel_dtype=None, eps=1e-6, precision=None, **kwargs):
    """mlstm_kernels' chunkwise contract ("chunkwise--tfla"): returns
    (h, (c, n, m)) or, with return_last_states=False, h. autocast_kernel_dtype
    is accepted and ignored (the tensors' dtype decides, as for the native
    kernels). precision as in `mlstm`: without grad, bfloat16 tensors run
    with bf16 products by default (read in place on AMX), "float32" computes
    them in float32; with grad, bfloat16 is computed in float32."""
    needs_grad = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad
        for t in (q, k, v, i, f, c_initial, n_initial, m_initial))
    if _ACTIVE:
        return _context_parallel_kernel(q, k, v, i, f, c_initial, n_initial, m_initial, chunk_size,
                                        return_last_states, eps, needs_grad)
    if return_last_states and not needs_grad and q.shape[2] > 1:
        pad = _trailing_padding(q, k, v, i, f, chunk_size)
        if pad:
            S = q.shape[2] - pad
            tensors, shape = _prepare_all(q[:, :, :S], k[:, :, :S], v[:, :, :S], i[:, :, :S], f[:, :, :S],
                                          c_initial, n_initial, m_initial, q.dtype)
            h, state = inference_forward(tensors, shape, core.gate_code("exp"), eps, chunk_size, precision=precision)
            h = torch.nn.functional.pad(h, (0, 0, 0, pad))
            return h, state
    h, state = mlstm(q, k, v, i, f, c_initial, n_initial, m_initial, eps=eps, chunk_size=chunk_size,
                     precision=precision)
    return (h, state) if return_last_states else h


def sequence_kernel(q, k, v, i, f, c_initial=None, n_initial=None, m_initial=None, return_last_states=False,
                    eps=1e-6, dtype_state=torch.float32, **kwargs):
    """mlstm_kernels' recurrent sequence contract: the whole (short) sequence
    in one chunkwise call; the state is returned in dtype_state."""
    h, (c, n, m) = mlstm(q, k, v, i, f, c_initial, n_initial, m_initial, eps=eps)
    if not return_last_states:
        return h
    return h, (c.to(dtype_state), n.to(dtype_state), m.to(dtype_state))


def step_kernel(q, k, v, i, f, c, n, m, eps=1e-6, dtype_state=torch.float32, **kwargs):
    """mlstm_kernels' step contract: q, k (B, NH, DQK), v (B, NH, DHV), i, f
    (B, NH, 1); returns (h, (c, n, m)) with the state in dtype_state (new
    tensors; the given state is not modified)."""
    if _ACTIVE:  # a slice of one token in a context-parallel prefill
        gates = q.shape[:2] + (1,)
        h, (c, n, m) = _context_parallel_kernel(q[:, :, None], k[:, :, None], v[:, :, None], i.reshape(gates),
                                                f.reshape(gates), c, n, m, None, True, eps, False)
        return h[:, :, 0], (c.to(dtype_state), n.to(dtype_state), m.to(dtype_state))
    h, (c, n, m) = step(q, k, v, i, f, c, n, m, eps=eps)
    if c.dtype != dtype_state:
        c, n, m = c.to(dtype_state), n.to(dtype_state), m.to(dtype_state)
    return h, (c, n, m)


def step_kernel_inplace(q, k, v, i, f, c, n, m, eps=1e-6, dtype_state=torch.float32, **kwargs):
    """step_kernel advancing the given state in place where it is a
    contiguous tensor of the state dtype, and returning it (`register(...,
    step_inplace=True)`). For callers that replace their state with the
    returned one, as transformers' and xlstm's models do (they copy it into
    their cache: a copy of a tensor onto itself is skipped)."""
    if _ACTIVE:  # a context-parallel prefill: as step_kernel
        return step_kernel(q, k, v, i, f, c, n, m, eps=eps, dtype_state=dtype_state)
    h, (c, n, m) = step(q, k, v, i, f, c, n, m, eps=eps, inplace=True)
    if c.dtype != dtype_state:
        c, n, m = c.to(dtype_state), n.to(dtype_state), m.to(dtype_state)
    return h, (c, n, m)


_ACTIVE = []  # the process groups of the active context_parallel blocks, innermost last


@contextlib.contextmanager
def context_parallel(group=None):
    """While active, the kernels registered by `register()` (chunkwise, and
    step for a slice of one token) run the sequence split across the ranks
    of `group` (None: the default group) with context_parallel_chunkwise:
    each rank runs the model on its contiguous slice of the tokens, in rank
    order. Everything else in an xLSTM model acts per token, so this gives
    the prefill of one process. The model passes its cache's state (zeros
    at the start) on every rank; ranks other than 0 drop it (it must be
    zero). Every rank's model gets the final state (see
    context_parallel_chunkwise). Generate after leaving the block."""
    _ACTIVE.append(group)
    try:
        yield
    finally:
        _ACTIVE.pop()


def _context_parallel_kernel(q, k, v, i, f, c, n, m, chunk_size, return_last_states, eps, needs_grad):
    group = _ACTIVE[-1]
    rank, _, _ = _distributed(group)
    if rank != 0:
        if any(x is not None and bool(x.any()) for x in (c, n, m)):
            raise ValueError(f"context_parallel: rank {rank} got a nonzero initial state; only rank 0's "
                             "initial state enters the split sequence")
        c = n = m = None
    S, pad = q.shape[2], 0
    if not needs_grad and S > 1 and chunk_size:
        pad = _trailing_padding(q, k, v, i, f, chunk_size)
    cut = slice(0, S - pad)
    h, state = context_parallel_chunkwise(q[:, :, cut], k[:, :, cut], v[:, :, cut], i[:, :, cut], f[:, :, cut],
                                          c, n, m, return_last_states=True, eps=eps, chunk_size=chunk_size,
                                          group=group)
    if pad:
        h = torch.nn.functional.pad(h, (0, 0, 0, pad))
    return (h, state) if return_last_states else h


_MISSING = object()
_NATIVE = {"chunkwise": "native_autograd", "sequence": "native_sequence__native", "step": "native"}
# The built-in kernels of transformers' xLSTM when the xlstm package is absent.
_TRANSFORMERS_NATIVE = {"chunkwise": "mlstm_chunkwise_native_autograd",
                        "sequence": "mlstm_recurrent_sequence_native", "step": "mlstm_recurrent_step_native"}
_KERNELS = {"chunkwise": chunkwise_kernel, "sequence": sequence_kernel, "step": step_kernel}


def _registries():
    chunkwise = importlib.import_module("mlstm_kernels.torch.chunkwise")
    recurrent = importlib.import_module("mlstm_kernels.torch.recurrent")
    return {"chunkwise": chunkwise.registry, "sequence": recurrent.registry_sequence,
            "step": recurrent.registry_step}


class Registration:
    """What `register()` changed; `restore()` (or leaving a `with` block)
    puts every replaced entry back and removes the added ones."""

    def __init__(self):
        self._changes = []  # (container, key, previous, is_mapping)
        self.active = True

    def _set(self, container, key, value, mapping=True):
        if mapping:
            previous = container.get(key, _MISSING)
            container[key] = value
        else:
            previous = getattr(container, key, _MISSING)
            setattr(container, key, value)
        self._changes.append((container, key, previous, mapping))

    def restore(self):
        for container, key, previous, mapping in reversed(self._changes):
            if mapping:
                if previous is _MISSING:
                    container.pop(key, None)
                else:
                    container[key] = previous
            elif previous is _MISSING:
                delattr(container, key)
            else:
                setattr(container, key, previous)
        self._changes.clear()
        self.active = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()


_registrations = []


def register(replace_native=False, step_inplace=False):
    """Registers the kernels in mlstm_kernels under "tfla": chunkwise
    "chunkwise--tfla", sequence "tfla", step "tfla" (select them in
    mLSTMBackendConfig / xLSTMLargeConfig).

    replace_native=True also puts them in place of the native entries
    ("chunkwise--native_autograd", "native_sequence__native", step
    "native"), for users that can name only those (transformers' xLSTMConfig
    accepts a fixed list of kernel names); when transformers' xLSTM runs on
    its built-in kernels (the xlstm package absent), those are replaced too.

    step_inplace=True registers `step_kernel_inplace` as the step: the
    state passed in is advanced in place and returned (no copy of C per
    token); for models that replace their state with the returned one
    (transformers' and xlstm's do).

    Returns a Registration: `.restore()` or a `with` block undoes it. Call it
    before building the model: backends look kernels up when constructed."""
    registration = Registration()
    registries = _registries()
    kernels = dict(_KERNELS, step=step_kernel_inplace) if step_inplace else _KERNELS
    for kind, registry in registries.items():
        registration._set(registry, KEY, kernels[kind])
        if replace_native:
            registration._set(registry, _NATIVE[kind], kernels[kind])
    if replace_native and importlib.util.find_spec("transformers") is not None:
        module = sys.modules.get("transformers.models.xlstm.modeling_xlstm")
        if module is None and importlib.util.find_spec("xlstm") is None:
            module = importlib.import_module("transformers.models.xlstm.modeling_xlstm")
        if module is not None and not getattr(module, "external_xlstm", True):
            for kind, name in _TRANSFORMERS_NATIVE.items():
                if hasattr(module, name):
                    registration._set(module, name, kernels[kind], mapping=False)
    _registrations.append(registration)
    return registration


def unregister():
    """Restores every registration still active, newest first."""
    while _registrations:
        registration = _registrations.pop()
        if registration.active:
            registration.restore()
