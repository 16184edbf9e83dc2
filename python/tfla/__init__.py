"""TFLA from Python: the mLSTM kernels of libtfla_c, in process.

    import numpy as np, tfla
    out = tfla.forward(q, k, v, i, f)                 # out.h, out.c, out.n, out.m
    ref = tfla.forward(q, k, v, i, f, kernel="recurrent")
    g = tfla.gradients(q, k, v, i, f, dh, mode="exact")   # g.dq, ..., g.df
    out, saved = tfla.training_forward(q, k, v, i, f)
    g = tfla.backward(saved, dh)                      # saved.free() or `with saved:`
    h, (c, n, m) = ... tfla.torch.mlstm(...)          # PyTorch (imported on use)

Arrays are numpy; see tfla.core for the copy policy and shapes, tfla.errors
for the exceptions, tfla.cli for the `tfla` command in a separate process
(and its pytest fixture), tfla.torch for PyTorch and the mlstm_kernels
backend. The library is called through ctypes.CDLL: each call releases the
GIL while it runs.
"""
from ._version import __version__
from .core import (Outputs, Saved, abi_version, backward, compose, forward, forward_backward, gradients,
                   reference_forward, reference_gradients, step, summarize, training_forward, version)
from .errors import (InternalError, InvalidArgumentError, NonFiniteError, OutOfMemoryError, ShapeError,
                     TFLAError, UnsupportedError)

__all__ = ["__version__", "Outputs", "Saved", "abi_version", "backward", "compose", "forward",
           "forward_backward", "gradients", "reference_forward", "reference_gradients", "step", "summarize",
           "training_forward", "version", "TFLAError", "InvalidArgumentError", "ShapeError", "NonFiniteError",
           "UnsupportedError", "OutOfMemoryError", "InternalError", "library_path"]


def library_path():
    """The path of the libtfla_c.so this package loads."""
    from ._ffi import library_path as path
    return path()


def __getattr__(name):
    # Submodules with heavier imports load on first use: tfla.torch, tfla.cli.
    if name in ("torch", "cli"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
