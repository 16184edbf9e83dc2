"""The in-process numpy API over libtfla_c (see tfla/__init__.py for a tour).

Copies: an input that is C-contiguous, in native byte order and of the
computing dtype is passed to the library by pointer, never copied. Any other
array (another float dtype, an integer array, a strided view, a list) is
converted once with `numpy.ascontiguousarray(x, dtype)`. Outputs are new
arrays written in place by the library.

The computing dtype is `dtype=` when given ("float32" or "float64"), else
float32 when q is float32 and float64 otherwise. The state (c, n, m) and its
gradients have the same dtype. m is returned with shape (B, NH, 1), as the
`tfla` command and mlstm_kernels write it; (B, NH) is accepted as input too.

bfloat16 (ml_dtypes' numpy dtype): `forward` (kernel="chunkwise") takes q of
that dtype (or dtype="bfloat16") as bfloat16 storage: q, k, v, i, f are
passed as bfloat16, h comes back in bfloat16 and the state in float32. Its
default precision is then bf16 products (q, k, v read in place on a CPU
with AMX); precision="float32" computes in float32 on the widened values.
The other entry points take bfloat16 arrays as any other dtype (converted).
"""
import ctypes
import threading

import numpy as np

from . import _ffi
from .errors import InvalidArgumentError, ShapeError, check

__all__ = ["Outputs", "Saved", "forward", "training_forward", "backward", "forward_backward", "gradients",
           "step", "summarize", "compose", "reference_forward", "reference_gradients", "version",
           "abi_version"]


class Outputs(dict):
    """Result arrays by name (`h`, `c`, `n`, `m`, `dq`, ...); also readable as
    attributes (`out.h`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def version():
    """The library's version string (tfla_version())."""
    return _ffi.lib().tfla_version().decode()


def abi_version():
    """The ABI version the loaded library implements."""
    return int(_ffi.lib().tfla_abi_version())


# ------------------------------------------------------------------ helpers

_GATES = {"exp": _ffi.GATE_EXPONENTIAL, "exponential": _ffi.GATE_EXPONENTIAL,
          "sig": _ffi.GATE_SIGMOID, "sigmoid": _ffi.GATE_SIGMOID,
          "sig_unnormalized": _ffi.GATE_SIGMOID_UNNORMALIZED,
          "sigmoid_unnormalized": _ffi.GATE_SIGMOID_UNNORMALIZED}
_MODES = {"exact": _ffi.GRADIENT_EXACT, "reference": _ffi.GRADIENT_REFERENCE}
_PRECISIONS = {"input": _ffi.PRECISION_INPUT, "float32": _ffi.PRECISION_INPUT,
               "bf16": _ffi.PRECISION_BF16_PRODUCTS, "bfloat16": _ffi.PRECISION_BF16_PRODUCTS}
_REFERENCES = {"recurrent": _ffi.REFERENCE_RECURRENT, "parallel": _ffi.REFERENCE_PARALLEL}
_DTYPES = {np.dtype(np.float32): _ffi.FLOAT32, np.dtype(np.float64): _ffi.FLOAT64}
# Option names of tfla.h, with the `tfla` command's spellings as aliases.
_OPTION_NAMES = {"chunk_size": "chunk_size", "query_tile": "query_tile", "key_tile": "key_tile",
                 "kv_tile": "key_tile", "key_dim_tile": "key_dim_tile", "dqk_tile": "key_dim_tile",
                 "value_dim_tile": "value_dim_tile", "dhv_tile": "value_dim_tile", "threads": "threads",
                 "parallelism": "parallelism", "segments": "segments"}


def gate_code(gate, normalize=True):
    try:
        code = _GATES[gate]
    except KeyError:
        raise InvalidArgumentError(f"gate must be one of {sorted(_GATES)}, not {gate!r}") from None
    if not normalize:
        if code == _ffi.GATE_EXPONENTIAL:
            raise InvalidArgumentError("normalize=False applies to the sigmoid gate only")
        code = _ffi.GATE_SIGMOID_UNNORMALIZED
    return code


def mode_code(mode):
    try:
        return _MODES[mode]
    except KeyError:
        raise InvalidArgumentError(f"mode must be 'exact' or 'reference', not {mode!r}") from None


_DEFAULTS = []


def _defaults():
    """The library's default tfla_problem and tfla_options, made once (each
    call copies them instead of calling the library's init functions)."""
    if not _DEFAULTS:
        problem, options = _ffi.Problem(), _ffi.Options()
        _ffi.lib().tfla_problem_init(ctypes.byref(problem))
        _ffi.lib().tfla_options_init(ctypes.byref(options))
        _DEFAULTS[:] = [problem, options]
    return _DEFAULTS


def precision_code(precision, dtype=None):
    """The tfla_precision of `precision` for inputs of the tfla_dtype `dtype`.

    None (the default) is bf16 products for bfloat16 inputs (the library
    reads q, k, v in place as bfloat16 on a CPU with AMX, and computes in
    float32 where AMX is missing) and the inputs' own precision otherwise;
    "float32" (or "input") is the inputs' precision (bfloat16 widened,
    exact float32 products); "bf16" (or "bfloat16") is bf16 products (the
    inference forward of float32 or bfloat16 inputs)."""
    if precision is None:
        return _ffi.PRECISION_BF16_PRODUCTS if dtype == _ffi.BFLOAT16 else _ffi.PRECISION_INPUT
    try:
        return _PRECISIONS[precision]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"precision must be None, 'float32' or 'bf16', not {precision!r}") from None


def make_options(check_values=True, precision=None, *, dtype=None, **options):
    """A tfla_options with the library's defaults and the given fields (None:
    default); `precision` as `precision_code` reads it for the tfla_dtype
    `dtype`."""
    structure = _ffi.Options.from_buffer_copy(_defaults()[1])
    for name, value in options.items():
        if name not in _OPTION_NAMES:
            raise TypeError(f"unknown option {name!r}; options are {sorted(_OPTION_NAMES)}")
        if value is not None:
            setattr(structure, _OPTION_NAMES[name], int(value))
    structure.checks_values = 1 if check_values else 0
    structure.precision = precision_code(precision, dtype)
    return structure


def make_problem(shape, dtype, gate, eps, pointers):
    """A tfla_problem from a (B, NH, S, DQK, DHV) tuple, codes and a dict of addresses."""
    problem = _ffi.Problem.from_buffer_copy(_defaults()[0])
    problem.shape = _ffi.Shape(*shape)
    problem.dtype, problem.gate = dtype, gate
    if eps is not None:
        problem.eps = float(eps)
    for name, address in pointers.items():
        setattr(problem, name, address)
    return problem


def _is_bfloat16(dtype):
    """Whether `dtype` is ml_dtypes' bfloat16 (recognized without importing it)."""
    return dtype.name == "bfloat16" and dtype.itemsize == 2


def _bfloat16():
    """ml_dtypes' bfloat16 numpy dtype."""
    try:
        import ml_dtypes
    except ImportError:
        raise InvalidArgumentError("dtype bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def _dtype_code(dtype):
    return _ffi.BFLOAT16 if _is_bfloat16(dtype) else _DTYPES[dtype]


def _compute_dtype(q, dtype, bfloat16=False):
    """The computing dtype; with bfloat16=True (the chunkwise forward),
    bfloat16 q or dtype="bfloat16" gives bfloat16 storage."""
    if dtype is None:
        given = np.asarray(q).dtype
        if bfloat16 and _is_bfloat16(given):
            return given
        return np.dtype(np.float32) if given == np.float32 else np.dtype(np.float64)
    if isinstance(dtype, str) and dtype == "bfloat16":
        dtype = _bfloat16()
    dtype = np.dtype(dtype)
    if bfloat16 and _is_bfloat16(dtype):
        return dtype
    if dtype not in _DTYPES:
        kinds = "float32, float64 or bfloat16" if bfloat16 else "float32 or float64"
        raise InvalidArgumentError(f"dtype must be {kinds}, not {dtype}")
    return dtype


def _array(name, value, dtype, shape=None, alt_shape=None):
    """value as a C-contiguous array of dtype (no copy when it already is one)."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype != dtype or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array, dtype=dtype)
    if shape is not None and array.shape != tuple(shape) and (alt_shape is None or array.shape != tuple(alt_shape)):
        expected = f"{tuple(shape)}" + (f" or {tuple(alt_shape)}" if alt_shape is not None else "")
        raise ShapeError(f"{name}: expected shape {expected}, got {array.shape}")
    return array


def _address(array):
    return None if array is None else array.ctypes.data


class _Inputs:
    """The checked, contiguous inputs of one chunkwise problem."""

    def __init__(self, q, k, v, i, f, c0=None, n0=None, m0=None, dtype=None, bfloat16=False):
        self.dtype = _compute_dtype(q, dtype, bfloat16)
        # bfloat16 storage keeps its state in float32 (tfla_dtype).
        self.state_dtype = np.dtype(np.float32) if _is_bfloat16(self.dtype) else self.dtype
        q = _array("q", q, self.dtype)
        if q.ndim != 4:
            raise ShapeError(f"q: expected (B, NH, S, DQK), got shape {q.shape}")
        B, NH, S, DQK = q.shape
        self.q = q
        self.k = _array("k", k, self.dtype, (B, NH, S, DQK))
        v = _array("v", v, self.dtype)
        if v.ndim != 4 or v.shape[:3] != (B, NH, S):
            raise ShapeError(f"v: expected (B, NH, S, DHV) = ({B}, {NH}, {S}, DHV), got {v.shape}")
        self.v = v
        DHV = v.shape[3]
        self.i = _array("i", i, self.dtype, (B, NH, S))
        self.f = _array("f", f, self.dtype, (B, NH, S))
        self.shape = (B, NH, S, DQK, DHV)
        self.c0 = None if c0 is None else _array("c0", c0, self.state_dtype, (B, NH, DQK, DHV))
        self.n0 = None if n0 is None else _array("n0", n0, self.state_dtype, (B, NH, DQK))
        self.m0 = None if m0 is None else _array("m0", m0, self.state_dtype, (B, NH), (B, NH, 1))
        self.has_state = c0 is not None or n0 is not None

    def pointers(self):
        return {name: _address(getattr(self, name)) for name in ("q", "k", "v", "i", "f", "c0", "n0", "m0")}

    def problem(self, gate, normalize, eps):
        return make_problem(self.shape, self.code, gate_code(gate, normalize), eps, self.pointers())

    @property
    def code(self):
        """The tfla_dtype."""
        return _dtype_code(self.dtype)

    def new_state(self):
        B, NH, _, DQK, DHV = self.shape
        return (np.empty((B, NH, DQK, DHV), self.state_dtype), np.empty((B, NH, DQK), self.state_dtype),
                np.empty((B, NH, 1), self.state_dtype))

    def new_h(self):
        B, NH, S, _, DHV = self.shape
        return np.empty((B, NH, S, DHV), self.dtype)


def _outputs(inputs, final_state=True):
    h = inputs.new_h()
    result = Outputs(h=h)
    structure = _ffi.Outputs(h=h.ctypes.data)
    if final_state:
        c, n, m = inputs.new_state()
        result.update(c=c, n=n, m=m)
        structure.c, structure.n, structure.m = c.ctypes.data, n.ctypes.data, m.ctypes.data
    return result, structure


def _upstream(inputs, dh, dc, dn, dm):
    B, NH, S, DQK, DHV = inputs.shape
    keep = dict(dh=_array("dh", dh, inputs.dtype, (B, NH, S, DHV)),
                dc=None if dc is None else _array("dc", dc, inputs.dtype, (B, NH, DQK, DHV)),
                dn=None if dn is None else _array("dn", dn, inputs.dtype, (B, NH, DQK)),
                dm=None if dm is None else _array("dm", dm, inputs.dtype, (B, NH), (B, NH, 1)))
    return keep, _ffi.Upstream(**{name: _address(value) for name, value in keep.items()})


def _gradients(inputs, state_gradients):
    result = Outputs(dq=np.empty_like(inputs.q), dk=np.empty_like(inputs.k), dv=np.empty_like(inputs.v),
                     di=np.empty_like(inputs.i), df=np.empty_like(inputs.f))
    if state_gradients:
        c, n, m = inputs.new_state()
        result.update(dc0=c, dn0=n, dm0=m)
    return result, _ffi.Gradients(**{name: value.ctypes.data for name, value in result.items()})


# ------------------------------------------------------------------ forward

def forward(q, k, v, i, f, c0=None, n0=None, m0=None, *, kernel="chunkwise", gate="exp", normalize=True,
            eps=1e-6, dtype=None, final_state=True, check_values=True, precision=None, **options):
    """h (B, NH, S, DHV) and the final state c, n, m of the mLSTM over q, k
    (B, NH, S, DQK), v (B, NH, S, DHV), i, f (B, NH, S), from the initial
    state c0, n0, m0 (None: zeros; for gate="sig", m0 may be left out).

    kernel="chunkwise" is TFLA (tfla_forward); "recurrent" and "parallel"
    are the references (tfla_reference_forward; the parallel form has no
    final state). Options: chunk_size, query_tile, key_tile, key_dim_tile,
    value_dim_tile, threads, parallelism, segments (tfla_options).

    precision (chunkwise): None (default) is the inputs' own precision for
    float32 and float64, and bf16 products for bfloat16 inputs (ml_dtypes'
    bfloat16 q, or dtype="bfloat16": h in bfloat16, the state in float32);
    "float32" computes bfloat16 inputs in float32 on the widened values (h
    is that result rounded); "bf16" is bf16 products for float32 inputs too
    (precision_code has the details)."""
    inputs = _Inputs(q, k, v, i, f, c0, n0, m0, dtype, bfloat16=kernel == "chunkwise")
    problem = inputs.problem(gate, normalize, eps)
    opts = make_options(check_values, precision, dtype=inputs.code, **options)
    library = _ffi.lib()
    if kernel == "chunkwise":
        result, outs = _outputs(inputs, final_state)
        check(library.tfla_forward(ctypes.byref(problem), ctypes.byref(opts), ctypes.byref(outs)), "tfla_forward")
    elif kernel in _REFERENCES:
        result, outs = _outputs(inputs, final_state and kernel != "parallel")
        check(library.tfla_reference_forward(_REFERENCES[kernel], ctypes.byref(problem), ctypes.byref(opts),
                                             ctypes.byref(outs)), "tfla_reference_forward")
    else:
        raise InvalidArgumentError(f"kernel must be 'chunkwise', 'recurrent' or 'parallel', not {kernel!r}")
    return result


def reference_forward(kind, q, k, v, i, f, c0=None, n0=None, m0=None, **kwargs):
    """forward(kernel=kind) for kind "recurrent" or "parallel" (float64 recommended)."""
    if kind not in _REFERENCES:
        raise InvalidArgumentError(f"kind must be 'recurrent' or 'parallel', not {kind!r}")
    return forward(q, k, v, i, f, c0, n0, m0, kernel=kind, **kwargs)


# ------------------------------------------------------------------ training

class Saved:
    """What a training forward keeps for its backward (a tfla_saved), with
    the inputs it was computed from. Freed by `free()`, by leaving a `with`
    block, or when garbage-collected; `nbytes` is the library's memory."""

    def __init__(self, handle, problem, keep):
        self._handle = handle
        self._lock = threading.Lock()
        self.problem = problem
        self._keep = keep

    @property
    def handle(self):
        if self._handle is None:
            raise InvalidArgumentError("the saved forward was freed")
        return self._handle

    @property
    def nbytes(self):
        return int(_ffi.lib().tfla_saved_bytes(self.handle))

    @property
    def freed(self):
        return self._handle is None

    def free(self):
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            _ffi.lib().tfla_saved_free(handle)
        self._keep = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


def training_saved(problem, options, state_stride, outputs, keep):
    """tfla_training_forward on a made problem; returns a Saved."""
    handle = ctypes.c_void_p()
    check(_ffi.lib().tfla_training_forward(ctypes.byref(problem), None if options is None else ctypes.byref(options),
                                           int(state_stride), ctypes.byref(outputs), ctypes.byref(handle)),
          "tfla_training_forward")
    return Saved(handle.value, problem, keep)


def training_forward(q, k, v, i, f, c0=None, n0=None, m0=None, *, gate="exp", normalize=True, eps=1e-6,
                     dtype=None, state_stride=4, check_values=True, **options):
    """The training forward: (outputs, saved) with outputs as from `forward`
    and `saved` (a Saved) for `backward`. The training chunk size defaults
    to 128."""
    inputs = _Inputs(q, k, v, i, f, c0, n0, m0, dtype)
    problem = inputs.problem(gate, normalize, eps)
    if "chunk_size" not in options or options["chunk_size"] is None:
        options["chunk_size"] = 128
    opts = make_options(check_values, None, **options)
    result, outs = _outputs(inputs, True)
    saved = training_saved(problem, opts, state_stride, outs, inputs)
    return result, saved


def backward(saved, dh, dc=None, dn=None, dm=None, *, mode="exact", state_gradients=None, check_values=True,
             threads=None):
    """Gradients of the training forward `saved` came from, for the upstream
    gradients dh and (None: zeros) dc, dn, dm of the final state: dq, dk,
    dv, di, df and, when the forward had an initial state (or
    state_gradients=True), dc0, dn0, dm0."""
    inputs = saved._keep
    if inputs is None or saved.freed:
        raise InvalidArgumentError("the saved forward was freed")
    keep, upstream = _upstream(inputs, dh, dc, dn, dm)
    if state_gradients is None:
        state_gradients = inputs.has_state
    result, grads = _gradients(inputs, state_gradients)
    opts = make_options(check_values, None, threads=threads)
    check(_ffi.lib().tfla_backward(ctypes.byref(saved.problem), ctypes.byref(opts), saved.handle,
                                   ctypes.byref(upstream), mode_code(mode), ctypes.byref(grads)), "tfla_backward")
    return result


def forward_backward(q, k, v, i, f, dh, c0=None, n0=None, m0=None, dc=None, dn=None, dm=None, *, mode="exact",
                     gate="exp", normalize=True, eps=1e-6, dtype=None, state_stride=4, check_values=True,
                     state_gradients=None, outputs=True, **options):
    """The training forward and backward in one call (tfla_forward_backward):
    the outputs of `forward` (unless outputs=False) and the gradients of
    `backward`, in one Outputs."""
    inputs = _Inputs(q, k, v, i, f, c0, n0, m0, dtype)
    problem = inputs.problem(gate, normalize, eps)
    if options.get("chunk_size") is None:
        options["chunk_size"] = 128
    opts = make_options(check_values, None, **options)
    keep, upstream = _upstream(inputs, dh, dc, dn, dm)
    if state_gradients is None:
        state_gradients = inputs.has_state
    result, grads = _gradients(inputs, state_gradients)
    outs = None
    if outputs:
        values, outs = _outputs(inputs, True)
        result.update(values)
    check(_ffi.lib().tfla_forward_backward(ctypes.byref(problem), ctypes.byref(opts), int(state_stride),
                                           ctypes.byref(upstream), mode_code(mode),
                                           None if outs is None else ctypes.byref(outs), ctypes.byref(grads)),
          "tfla_forward_backward")
    return result


def gradients(q, k, v, i, f, dh, c0=None, n0=None, m0=None, dc=None, dn=None, dm=None, *, kernel="chunkwise",
              mode="exact", gate="exp", normalize=True, eps=1e-6, dtype=None, state_stride=None, check_values=True,
              **options):
    """dq, dk, dv, di, df and, with an initial state, dc0, dn0, dm0 (as the
    `tfla grad` command). kernel="chunkwise": tfla_forward_backward;
    "recurrent" / "parallel": the references' gradients."""
    if kernel == "chunkwise":
        return forward_backward(q, k, v, i, f, dh, c0, n0, m0, dc, dn, dm, mode=mode, gate=gate,
                                normalize=normalize, eps=eps, dtype=dtype,
                                state_stride=4 if state_stride is None else state_stride,
                                check_values=check_values, outputs=False, **options)
    if kernel not in _REFERENCES:
        raise InvalidArgumentError(f"kernel must be 'chunkwise', 'recurrent' or 'parallel', not {kernel!r}")
    inputs = _Inputs(q, k, v, i, f, c0, n0, m0, dtype)
    problem = inputs.problem(gate, normalize, eps)
    opts = make_options(check_values, None, **options)
    keep, upstream = _upstream(inputs, dh, dc, dn, dm)
    result, grads = _gradients(inputs, inputs.has_state)
    check(_ffi.lib().tfla_reference_backward(_REFERENCES[kernel], ctypes.byref(problem), ctypes.byref(opts),
                                             ctypes.byref(upstream), mode_code(mode), ctypes.byref(grads)),
          "tfla_reference_backward")
    return result


def reference_gradients(kind, q, k, v, i, f, dh, c0=None, n0=None, m0=None, dc=None, dn=None, dm=None, **kwargs):
    """gradients(kernel=kind) for kind "recurrent" or "parallel"."""
    if kind not in _REFERENCES:
        raise InvalidArgumentError(f"kind must be 'recurrent' or 'parallel', not {kind!r}")
    return gradients(q, k, v, i, f, dh, c0, n0, m0, dc, dn, dm, kernel=kind, **kwargs)


# ------------------------------------------------------------------ step

def step_call(shape, dtype, gate, eps, threads, pointers):
    """tfla_step on addresses (q, k, v, i, f, c, n, m, h)."""
    args = _ffi.StepArgs()
    _ffi.lib().tfla_step_args_init(ctypes.byref(args))
    args.shape = _ffi.Shape(*shape)
    args.dtype, args.gate = dtype, gate
    if eps is not None:
        args.eps = float(eps)
    args.threads = int(threads or 0)
    for name, address in pointers.items():
        setattr(args, name, address)
    check(_ffi.lib().tfla_step(ctypes.byref(args)), "tfla_step")


def step(q, k, v, i, f, c0=None, n0=None, m0=None, *, gate="exp", normalize=True, eps=1e-6, dtype=None,
         threads=None, tokens=None, inplace=False):
    """One token (q, k (B, NH, DQK), v (B, NH, DHV), i, f (B, NH) or
    (B, NH, 1)) from the state c0, n0, m0 (None: zeros): h (B, NH, DHV) and
    the new state c, n, m. With 4-D q (or tokens=True), the S tokens one
    after the other: h (B, NH, S, DHV). inplace=True updates c0, n0, m0 in
    place (they must then be C-contiguous arrays of the computing dtype) and
    returns them as c, n, m."""
    dtype = _compute_dtype(q, dtype)
    q = _array("q", q, dtype)
    if tokens is None:
        tokens = q.ndim == 4
    if tokens:
        if q.ndim != 4:
            raise ShapeError(f"q: expected (B, NH, S, DQK) for tokens, got {q.shape}")
        B, NH, S, DQK = q.shape
    else:
        if q.ndim != 3:
            raise ShapeError(f"q: expected (B, NH, DQK), got {q.shape}")
        (B, NH, DQK), S = q.shape, 1
        q = q.reshape(B, NH, 1, DQK)
    k = _array("k", k, dtype, q.shape if tokens else (B, NH, DQK)).reshape(B, NH, S, DQK)
    v = _array("v", v, dtype)
    if v.shape[:2] != (B, NH) or v.ndim != (4 if tokens else 3) or (tokens and v.shape[2] != S):
        raise ShapeError(f"v: expected ({B}, {NH}{', ' + str(S) if tokens else ''}, DHV), got {v.shape}")
    DHV = v.shape[-1]
    v = v.reshape(B, NH, S, DHV)
    gates = (B, NH, S) if tokens else (B, NH)
    alt = None if tokens else (B, NH, 1)
    i = _array("i", i, dtype, gates, alt).reshape(B, NH, S)
    f = _array("f", f, dtype, gates, alt).reshape(B, NH, S)
    state = []
    for name, value, shape, alt_shape in (("c0", c0, (B, NH, DQK, DHV), None), ("n0", n0, (B, NH, DQK), None),
                                          ("m0", m0, (B, NH, 1), (B, NH))):
        if value is None:
            state.append(np.zeros(shape, dtype))
        elif inplace:
            if not (isinstance(value, np.ndarray) and value.dtype == dtype and value.flags.c_contiguous
                    and value.flags.writeable):
                raise InvalidArgumentError(f"{name}: inplace=True needs a writable C-contiguous {dtype} array")
            if value.shape != shape and value.shape != alt_shape:
                raise ShapeError(f"{name}: expected shape {shape}, got {value.shape}")
            state.append(value)
        else:
            state.append(np.array(_array(name, value, dtype, shape, alt_shape), copy=True))
    c, n, m = state
    h = np.empty((B, NH, S, DHV), dtype)
    code = gate_code(gate, normalize)
    step_shape = (B, NH, 1, DQK, DHV)
    for t in range(S):
        token = [np.ascontiguousarray(x[:, :, t]) for x in (q, k, v, i, f)]
        ht = np.empty((B, NH, DHV), dtype)
        step_call(step_shape, _DTYPES[dtype], code, eps, threads,
                  dict(zip(("q", "k", "v", "i", "f"), (x.ctypes.data for x in token)),
                       c=c.ctypes.data, n=n.ctypes.data, m=m.ctypes.data, h=ht.ctypes.data))
        h[:, :, t] = ht
    return Outputs(h=h if tokens else h.reshape(B, NH, DHV), c=c, n=n, m=m)


# ------------------------------------------------------------------ summaries

def summarize(q, k, v, i, f, *, gate="exp", normalize=True, eps=1e-6, dtype=None, check_values=True, **options):
    """What the sequence, as one segment, does to any incoming state:
    log_decay (float64 (B, NH)), c, n (scaled by exp(-m)) and m (float64
    (B, NH)). `compose` applies it to a state."""
    inputs = _Inputs(q, k, v, i, f, dtype=dtype)
    problem = inputs.problem(gate, normalize, eps)
    opts = make_options(check_values, None, **options)
    B, NH, _, DQK, DHV = inputs.shape
    result = Outputs(log_decay=np.empty((B, NH)), c=np.empty((B, NH, DQK, DHV), inputs.dtype),
                     n=np.empty((B, NH, DQK), inputs.dtype), m=np.empty((B, NH)))
    summary = _ffi.Summary(**{name: value.ctypes.data for name, value in result.items()})
    check(_ffi.lib().tfla_summarize(ctypes.byref(problem), ctypes.byref(opts), ctypes.byref(summary)),
          "tfla_summarize")
    result.gate, result.normalize = gate, normalize
    return result


def compose(summary, c=None, n=None, m=None, *, gate=None, normalize=None):
    """The state after the summarized segment, from the state c, n, m before
    it (None: zeros): a new c, n, m (the arguments are not modified). The
    gate defaults to the summary's."""
    gate = gate or getattr(summary, "gate", "exp")
    if normalize is None:
        normalize = getattr(summary, "normalize", True)
    sc = np.ascontiguousarray(summary["c"])
    dtype = sc.dtype
    if dtype not in _DTYPES:
        raise InvalidArgumentError(f"summary c: expected float32 or float64, got {dtype}")
    B, NH, DQK, DHV = sc.shape
    parts = dict(log_decay=_array("log_decay", summary["log_decay"], np.float64, (B, NH), (B, NH, 1)), c=sc,
                 n=_array("n", summary["n"], dtype, (B, NH, DQK)),
                 m=_array("m", summary["m"], np.float64, (B, NH), (B, NH, 1)))
    structure = _ffi.Summary(**{name: value.ctypes.data for name, value in parts.items()})
    state = []
    for name, value, shape, alt in (("c", c, (B, NH, DQK, DHV), None), ("n", n, (B, NH, DQK), None),
                                    ("m", m, (B, NH, 1), (B, NH))):
        state.append(np.zeros(shape, dtype) if value is None
                     else np.array(_array(name, value, dtype, shape, alt), copy=True))
    check(_ffi.lib().tfla_compose(_ffi.Shape(B, NH, 1, DQK, DHV), _DTYPES[dtype], gate_code(gate, normalize),
                                  ctypes.byref(structure), *(s.ctypes.data for s in state)), "tfla_compose")
    return Outputs(c=state[0], n=state[1], m=state[2])
