"""ctypes bindings of tfla.h (the C interface of libtfla_c).

The library is loaded once, on first use, with `ctypes.CDLL`: every foreign
call releases the GIL while it runs (PyDLL would hold it), so Python threads
can run kernels in parallel. Where the library comes from, first found:

1. `$TFLA_LIB`: the path of a libtfla_c.so (for a build tree);
2. `tfla/_lib/libtfla_c.so`, installed with the package. A binary wheel also
   carries the shared libraries it needs (listed in `_lib/preload.txt`, in
   dependency order); they are loaded first with RTLD_GLOBAL so that the
   loader finds them without LD_LIBRARY_PATH.
"""
import ctypes
import os
import threading

ABI_VERSION = 1

# tfla_status
OK, INVALID_ARGUMENT, SHAPE, NON_FINITE, UNSUPPORTED, OUT_OF_MEMORY, INTERNAL = range(7)
# tfla_dtype
FLOAT32, FLOAT64, BFLOAT16 = 0, 1, 2
# tfla_gate
GATE_EXPONENTIAL, GATE_SIGMOID, GATE_SIGMOID_UNNORMALIZED = 0, 1, 2
# tfla_gradient_mode
GRADIENT_EXACT, GRADIENT_REFERENCE = 0, 1
# tfla_precision
PRECISION_INPUT, PRECISION_BF16_PRODUCTS = 0, 1
# tfla_reference
REFERENCE_RECURRENT, REFERENCE_PARALLEL = 0, 1

_p = ctypes.c_void_p
_i64 = ctypes.c_int64
_enum = ctypes.c_int


class Shape(ctypes.Structure):
    _fields_ = [("batch", _i64), ("heads", _i64), ("sequence", _i64), ("key_dim", _i64), ("value_dim", _i64)]


class Options(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("chunk_size", _i64), ("query_tile", _i64),
                ("key_tile", _i64), ("key_dim_tile", _i64), ("value_dim_tile", _i64), ("threads", _i64),
                ("parallelism", _i64), ("segments", _i64), ("checks_values", ctypes.c_int32),
                ("precision", ctypes.c_int32)]


class Problem(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("shape", Shape), ("dtype", _enum), ("gate", _enum),
                ("eps", ctypes.c_double), ("q", _p), ("k", _p), ("v", _p), ("i", _p), ("f", _p),
                ("c0", _p), ("n0", _p), ("m0", _p)]


class Outputs(ctypes.Structure):
    _fields_ = [("h", _p), ("c", _p), ("n", _p), ("m", _p)]


class Upstream(ctypes.Structure):
    _fields_ = [("dh", _p), ("dc", _p), ("dn", _p), ("dm", _p)]


class Gradients(ctypes.Structure):
    _fields_ = [("dq", _p), ("dk", _p), ("dv", _p), ("di", _p), ("df", _p),
                ("dc0", _p), ("dn0", _p), ("dm0", _p)]


class StepArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("shape", Shape), ("dtype", _enum), ("gate", _enum),
                ("eps", ctypes.c_double), ("threads", _i64),
                ("q", _p), ("k", _p), ("v", _p), ("i", _p), ("f", _p),
                ("c", _p), ("n", _p), ("m", _p), ("h", _p)]


class Summary(ctypes.Structure):
    _fields_ = [("log_decay", _p), ("c", _p), ("n", _p), ("m", _p)]


_P = ctypes.POINTER
_SIGNATURES = {
    "tfla_abi_version": (ctypes.c_uint32, []),
    "tfla_version": (ctypes.c_char_p, []),
    "tfla_last_error": (ctypes.c_char_p, []),
    "tfla_options_init": (None, [_P(Options)]),
    "tfla_problem_init": (None, [_P(Problem)]),
    "tfla_step_args_init": (None, [_P(StepArgs)]),
    "tfla_forward": (_enum, [_P(Problem), _P(Options), _P(Outputs)]),
    "tfla_training_forward": (_enum, [_P(Problem), _P(Options), _i64, _P(Outputs), _P(_p)]),
    "tfla_saved_bytes": (ctypes.c_size_t, [_p]),
    "tfla_saved_free": (None, [_p]),
    "tfla_backward": (_enum, [_P(Problem), _P(Options), _p, _P(Upstream), _enum, _P(Gradients)]),
    "tfla_forward_backward": (_enum, [_P(Problem), _P(Options), _i64, _P(Upstream), _enum, _P(Outputs),
                                      _P(Gradients)]),
    "tfla_reference_forward": (_enum, [_enum, _P(Problem), _P(Options), _P(Outputs)]),
    "tfla_reference_backward": (_enum, [_enum, _P(Problem), _P(Options), _P(Upstream), _enum, _P(Gradients)]),
    "tfla_step": (_enum, [_P(StepArgs)]),
    "tfla_summarize": (_enum, [_P(Problem), _P(Options), _P(Summary)]),
    "tfla_compose": (_enum, [Shape, _enum, _enum, _P(Summary), _p, _p, _p]),
}

_lock = threading.Lock()
_library = None
_preloaded = []  # keeps the bundled dependencies loaded


def library_path():
    """The libtfla_c.so that is (or will be) loaded."""
    explicit = os.environ.get("TFLA_LIB")
    if explicit:
        return explicit
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", "libtfla_c.so")


def _preload(directory):
    manifest = os.path.join(directory, "preload.txt")
    if not os.path.isfile(manifest):
        return
    with open(manifest) as handle:
        names = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    for name in names:
        _preloaded.append(ctypes.CDLL(os.path.join(directory, name), mode=ctypes.RTLD_GLOBAL))


def lib():
    """The loaded library (a ctypes.CDLL), with the signatures of tfla.h."""
    global _library
    if _library is not None:
        return _library
    with _lock:
        if _library is not None:
            return _library
        path = library_path()
        if not os.path.isfile(path):
            raise ImportError(
                f"libtfla_c.so not found at {path}: install the package with the library "
                "(pip install ./python builds it) or set TFLA_LIB to its path")
        if not os.environ.get("TFLA_LIB"):
            _preload(os.path.dirname(path))
        library = ctypes.CDLL(path)
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(library, name)
            function.restype, function.argtypes = restype, argtypes
        abi = library.tfla_abi_version()
        if abi != ABI_VERSION:
            raise ImportError(f"{path} implements ABI version {abi}; this package needs {ABI_VERSION}")
        _library = library
        return library
