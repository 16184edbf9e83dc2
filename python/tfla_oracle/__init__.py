"""numpy-in, numpy-out access to `tfla`, the float64 mLSTM oracle.

    import tfla_oracle as tfla
    out = tfla.forward(q, k, v, i, f, gate="exp", dtype="float64")   # out["h"], out["c"], ...
    g = tfla.gradients(q, k, v, i, f, dh, mode="reference")          # g["dq"], ...
    tfla.assert_close(my_h, out["h"], rtol=1e-3)

The functions below use the `tfla` found through `TFLA_BIN` or PATH; `Tfla`
binds another executable. Failures raise `TflaError` carrying tfla's message.
With the package installed, pytest gets a `tfla` fixture (see pytest_plugin).
"""
from .core import Comparison, Outputs, Tfla, TflaError, TflaNotFound, find_tfla

__all__ = ["Tfla", "TflaError", "TflaNotFound", "Outputs", "Comparison", "find_tfla",
           "forward", "gradients", "step", "compare", "assert_close"]
__version__ = "0.1.0"


def _default():
    return Tfla()


def forward(*args, **kwargs):
    """`tfla run` on numpy arrays; see `Tfla.forward`."""
    return _default().forward(*args, **kwargs)


def gradients(*args, **kwargs):
    """`tfla grad` on numpy arrays; see `Tfla.gradients`."""
    return _default().gradients(*args, **kwargs)


def step(*args, **kwargs):
    """`tfla step` on numpy arrays; see `Tfla.step`."""
    return _default().step(*args, **kwargs)


def compare(*args, **kwargs):
    """`tfla compare` on numpy arrays; see `Tfla.compare`."""
    return _default().compare(*args, **kwargs)


def assert_close(*args, **kwargs):
    """AssertionError with tfla's report unless within tolerance; see `Tfla.assert_close`."""
    return _default().assert_close(*args, **kwargs)
