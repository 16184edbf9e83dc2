"""Compatibility name: `tfla_oracle` is `tfla.cli` (the `tfla` command on
numpy arrays, in a separate process). New code: `import tfla` (in process)
or `from tfla import cli`."""
from tfla._version import __version__
from tfla.cli import (Comparison, Outputs, Tfla, TflaError, TflaNotFound, assert_close, compare, find_tfla,
                      forward, gradients, step)

__all__ = ["Tfla", "TflaError", "TflaNotFound", "Outputs", "Comparison", "find_tfla",
           "forward", "gradients", "step", "compare", "assert_close"]
