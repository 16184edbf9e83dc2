"""torch.autograd.Functions over the chunkwise forward and backward."""
import ctypes

import torch

from .. import _ffi
from .. import core
from ..errors import InvalidArgumentError, ShapeError, UnsupportedError

_CODES = {torch.float32: _ffi.FLOAT32, torch.float64: _ffi.FLOAT64, torch.bfloat16: _ffi.BFLOAT16}
_MODES = {"exact": _ffi.GRADIENT_EXACT, "reference": _ffi.GRADIENT_REFERENCE}


def state_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _cpu(name, tensor):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"{name}: tfla runs on the CPU; got a tensor on {tensor.device} (move it with .cpu())")
    return tensor


def _prepare(name, tensor, dtype, shape=None, alt_shape=None):
    """tensor on the CPU, of dtype, contiguous (differentiable conversions)."""
    tensor = _cpu(name, tensor)
    if tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    if shape is not None and tuple(tensor.shape) != tuple(shape) and (
            alt_shape is None or tuple(tensor.shape) != tuple(alt_shape)):
        raise ShapeError(f"{name}: expected shape {tuple(shape)}, got {tuple(tensor.shape)}")
    return tensor


def _ptr(tensor):
    return None if tensor is None else tensor.data_ptr()


def _options(chunk_size, threads, training, precision=None, dtype=None):
    """tfla_options; `precision` as core.precision_code reads it for the
    tfla_dtype `dtype` (None: bf16 products for bfloat16, else the inputs')."""
    if threads is None:
        threads = torch.get_num_threads()
    if chunk_size is None and training:
        chunk_size = 128
    return core.make_options(True, precision, dtype=dtype, chunk_size=chunk_size, threads=threads)


def _prepare_all(q, k, v, i, f, c0, n0, m0, dtype):
    q = _prepare("q", q, dtype)
    if q.dim() != 4:
        raise ShapeError(f"q: expected (B, NH, S, DQK), got {tuple(q.shape)}")
    B, NH, S, DQK = q.shape
    k = _prepare("k", k, dtype, (B, NH, S, DQK))
    v = _prepare("v", v, dtype)
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, NH, S):
        raise ShapeError(f"v: expected ({B}, {NH}, {S}, DHV), got {tuple(v.shape)}")
    DHV = v.shape[3]
    i = _prepare("i", i, dtype, (B, NH, S))
    f = _prepare("f", f, dtype, (B, NH, S))
    sd = state_dtype(dtype)
    c0 = None if c0 is None else _prepare("c0", c0, sd, (B, NH, DQK, DHV))
    n0 = None if n0 is None else _prepare("n0", n0, sd, (B, NH, DQK))
    m0 = None if m0 is None else _prepare("m0", m0, sd, (B, NH, 1), (B, NH))
    return (q, k, v, i, f, c0, n0, m0), (B, NH, S, DQK, DHV)


def _new_state(shape, dtype):
    B, NH, _, DQK, DHV = shape
    sd = state_dtype(dtype)
    return (torch.empty((B, NH, DQK, DHV), dtype=sd), torch.empty((B, NH, DQK), dtype=sd),
            torch.empty((B, NH, 1), dtype=sd))


def _problem(tensors, shape, gate, eps):
    q, k, v, i, f, c0, n0, m0 = tensors
    return core.make_problem(shape, _CODES[q.dtype], gate, eps,
                             dict(q=_ptr(q), k=_ptr(k), v=_ptr(v), i=_ptr(i), f=_ptr(f), c0=_ptr(c0),
                                  n0=_ptr(n0), m0=_ptr(m0)))


def inference_forward(tensors, shape, gate, eps, chunk_size=None, threads=None, final_state=True, precision=None):
    """tfla_forward on prepared tensors: h and (c, n, m) (None without
    final_state). precision None: bf16 products for bfloat16 tensors (q, k,
    v read in place on a CPU with AMX), the tensors' own precision
    otherwise; "float32": bfloat16 computed in float32 on the widened
    values; "bf16": bf16 products (float32 tensors too)."""
    q = tensors[0]
    B, NH, S, DQK, DHV = shape
    h = torch.empty((B, NH, S, DHV), dtype=q.dtype)
    c = n = m = None
    if final_state:
        c, n, m = _new_state(shape, q.dtype)
    problem = _problem(tensors, shape, gate, eps)
    outputs = _ffi.Outputs(h=h.data_ptr(), c=_ptr(c), n=_ptr(n), m=_ptr(m))
    options = _options(chunk_size, threads, False, precision, _CODES[q.dtype])
    core.check(_ffi.lib().tfla_forward(ctypes.byref(problem), ctypes.byref(options), ctypes.byref(outputs)),
               "tfla_forward")
    return h, (c, n, m)


class ChunkwiseFunction(torch.autograd.Function):
    """The training forward (tfla_training_forward) and its backward
    (tfla_backward). Inputs: prepared q, k, v, i, f, c0, n0, m0 (float32 or
    float64, contiguous; the state may be None), then the gate code, eps,
    the gradient mode code, chunk size, state stride and threads. Outputs:
    h, c, n, m."""

    @staticmethod
    def forward(ctx, q, k, v, i, f, c0, n0, m0, gate, eps, mode, chunk_size, state_stride, threads):
        tensors = (q, k, v, i, f, c0, n0, m0)
        B, NH, S, DQK = q.shape
        shape = (B, NH, S, DQK, v.shape[3])
        h = torch.empty((B, NH, S, shape[4]), dtype=q.dtype)
        c, n, m = _new_state(shape, q.dtype)
        problem = _problem(tensors, shape, gate, eps)
        outputs = _ffi.Outputs(h=h.data_ptr(), c=c.data_ptr(), n=n.data_ptr(), m=m.data_ptr())
        options = _options(chunk_size, threads, True)
        saved = core.training_saved(problem, options, state_stride, outputs, None)
        ctx.tfla_saved = saved
        ctx.shape, ctx.mode, ctx.threads = shape, mode, threads
        ctx.has_state = (c0 is not None, n0 is not None, m0 is not None)
        ctx.save_for_backward(q, k, v, i, f, c0, n0, m0)
        ctx.set_materialize_grads(False)
        return h, c, n, m

    @staticmethod
    def backward(ctx, dh, dc, dn, dm):
        q, k, v, i, f, c0, n0, m0 = ctx.saved_tensors
        dtype, sd = q.dtype, state_dtype(q.dtype)
        B, NH, S, DQK, DHV = ctx.shape
        dh = torch.zeros((B, NH, S, DHV), dtype=dtype) if dh is None else dh.to(dtype).contiguous()
        dc = None if dc is None else dc.to(sd).contiguous()
        dn = None if dn is None else dn.to(sd).contiguous()
        dm = None if dm is None else dm.to(sd).contiguous()
        upstream = _ffi.Upstream(dh=dh.data_ptr(), dc=_ptr(dc), dn=_ptr(dn), dm=_ptr(dm))
        grads = [torch.empty_like(t) for t in (q, k, v, i, f)]
        state_grads = [None, None, None]
        if any(ctx.has_state):
            state_grads = list(_new_state(ctx.shape, dtype))
        structure = _ffi.Gradients(*(g.data_ptr() for g in grads), *(_ptr(g) for g in state_grads))
        saved = ctx.tfla_saved
        # The problem's pointers are those of the saved tensors (save_for_backward
        # refuses them if they were modified in place since the forward).
        problem = _problem((q, k, v, i, f, c0, n0, m0), ctx.shape, saved.problem.gate, saved.problem.eps)
        options = core.make_options(True, None, threads=ctx.threads if ctx.threads is not None
                                    else torch.get_num_threads())
        core.check(_ffi.lib().tfla_backward(ctypes.byref(problem), ctypes.byref(options), saved.handle,
                                            ctypes.byref(upstream), ctx.mode, ctypes.byref(structure)),
                   "tfla_backward")
        dc0, dn0, dm0 = state_grads
        if m0 is not None and dm0 is not None and m0.dim() == 2:
            dm0 = dm0.reshape(m0.shape)
        return (*grads, dc0 if ctx.has_state[0] else None, dn0 if ctx.has_state[1] else None,
                dm0 if ctx.has_state[2] else None, None, None, None, None, None, None)


def mlstm(q, k, v, i, f, c0=None, n0=None, m0=None, *, gate="exp", normalize=True, eps=1e-6, mode="exact",
          chunk_size=None, state_stride=4, threads=None, precision=None):
    """The mLSTM over q, k (B, NH, S, DQK), v (B, NH, S, DHV), i, f
    (B, NH, S) from the state c0, n0, m0 (None: zeros): h (B, NH, S, DHV)
    and the final state (c, n, m), m of shape (B, NH, 1).

    Differentiable in every tensor input (and through the final state) when
    grad is enabled and an input requires it; mode="exact" is the true
    gradient, mode="reference" mlstm_kernels' custom-backward convention.
    Otherwise the inference forward runs (no saved states).

    precision, for the inference forward: None (default) is bf16 products
    for bfloat16 tensors (q, k, v read in place on a CPU with AMX; h within
    about 1e-2 of max |h| of the float32 result) and the tensors' own
    precision for float32 and float64; "float32" computes bfloat16 in
    float32 on the widened values (h is that result rounded); "bf16" asks
    for bf16 products with float32 tensors too. With grad, the training
    forward computes bfloat16 in float32 (precision None or "float32";
    "bf16" raises UnsupportedError: bf16 products are for inference only)."""
    if not isinstance(q, torch.Tensor):
        raise TypeError("q: expected a torch.Tensor")
    dtype = q.dtype
    if dtype not in _CODES:
        raise InvalidArgumentError(f"q: dtype {dtype} is not supported (float32, float64, bfloat16)")
    gate_code = core.gate_code(gate, normalize)
    if mode not in _MODES:
        raise InvalidArgumentError(f"mode must be 'exact' or 'reference', not {mode!r}")
    inputs = (q, k, v, i, f, c0, n0, m0)
    needs_grad = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in inputs)
    if not needs_grad:
        tensors, shape = _prepare_all(*inputs, dtype)
        return inference_forward(tensors, shape, gate_code, eps, chunk_size, threads, precision=precision)
    # The training forward and its backward compute in float32 (bfloat16
    # widened) or float64: bf16 products are for the inference forward only.
    if core.precision_code(precision, _ffi.FLOAT32) != _ffi.PRECISION_INPUT:
        raise UnsupportedError(f"precision={precision!r} (bf16 products) is for the inference forward only; "
                               "with grad, leave precision None or pass 'float32' (run under torch.no_grad() "
                               "for bf16 products)")
    compute = torch.float32 if dtype == torch.bfloat16 else dtype
    tensors, shape = _prepare_all(*inputs, compute)
    h, c, n, m = ChunkwiseFunction.apply(*tensors, gate_code, float(eps), _MODES[mode], chunk_size,
                                         int(state_stride), threads)
    if dtype != compute:
        h = h.to(dtype)
    return h, (c, n, m)


def step(q, k, v, i, f, c, n, m, *, gate="exp", normalize=True, eps=1e-6, threads=None, inplace=False):
    """One token: q, k (B, NH, DQK), v (B, NH, DHV), i, f (B, NH, 1) or
    (B, NH), state c, n, m (None: zeros). Returns h (B, NH, DHV) in q's dtype
    and the new state (c, n, m): new tensors, the arguments not modified;
    with inplace=True, each of c, n, m that is a contiguous CPU tensor of
    the state dtype is advanced in place and returned itself (the others
    are copied as without it), which saves a copy of C per call. Inference
    only: raises if grad would be needed."""
    _cpu("q", q)
    dtype = q.dtype
    if dtype not in _CODES:
        raise InvalidArgumentError(f"q: dtype {dtype} is not supported (float32, float64, bfloat16)")
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                       for t in (q, k, v, i, f, c, n, m)):
        raise InvalidArgumentError("tfla.torch.step has no backward: run it under torch.no_grad()")
    if q.dim() != 3:
        raise ShapeError(f"q: expected (B, NH, DQK), got {tuple(q.shape)}")
    B, NH, DQK = q.shape
    # tfla_step computes in float32 or float64: bfloat16 is widened here (exact)
    # and h rounded back: the float32 step of the widened values, h rounded
    # to nearest (there are no bf16 products in the step; a generation after
    # a bf16-products prefill continues in float32 from its float32 state).
    compute = torch.float32 if dtype == torch.bfloat16 else dtype
    q = _prepare("q", q, compute)
    k = _prepare("k", k, compute, (B, NH, DQK))
    v = _prepare("v", v, compute)
    if v.dim() != 3 or tuple(v.shape[:2]) != (B, NH):
        raise ShapeError(f"v: expected ({B}, {NH}, DHV), got {tuple(v.shape)}")
    DHV = v.shape[2]
    i = _prepare("i", i, compute, (B, NH, 1), (B, NH))
    f = _prepare("f", f, compute, (B, NH, 1), (B, NH))
    sd = state_dtype(dtype)
    shape = (B, NH, 1, DQK, DHV)
    state = []
    for name, value, s, alt in (("c", c, (B, NH, DQK, DHV), None), ("n", n, (B, NH, DQK), None),
                                ("m", m, (B, NH, 1), (B, NH))):
        if value is None:
            state.append(torch.zeros(s, dtype=sd))
        else:
            value = _cpu(name, value)
            if inplace and value.dtype == sd and value.is_contiguous() and tuple(value.shape) == s:
                state.append(value)
            else:
                state.append(_prepare(name, value, sd, s, alt).clone().reshape(s))
    c, n, m = state
    h = torch.empty((B, NH, DHV), dtype=compute)
    core.step_call(shape, _CODES[compute], core.gate_code(gate, normalize), eps,
                   torch.get_num_threads() if threads is None else threads,
                   dict(q=q.data_ptr(), k=k.data_ptr(), v=v.data_ptr(), i=i.data_ptr(), f=f.data_ptr(),
                        c=c.data_ptr(), n=n.data_ptr(), m=m.data_ptr(), h=h.data_ptr()))
    return h.to(dtype), (c, n, m)
