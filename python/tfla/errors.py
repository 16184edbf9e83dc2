"""The exceptions of the in-process API: one class per tfla_status.

Every failed library call raises the subclass matching its status, with the
library's message (tfla_last_error() of the calling thread). Arguments that
Python refuses before the call (a wrong shape, dtype or layout) raise the same
classes, so `except tfla.ShapeError` catches both.
"""
from . import _ffi

__all__ = ["TFLAError", "InvalidArgumentError", "ShapeError", "NonFiniteError", "UnsupportedError",
           "OutOfMemoryError", "InternalError"]


class TFLAError(RuntimeError):
    """A call into libtfla_c failed. `status` is the tfla_status code,
    `message` the library's (or the argument check's) message."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(TFLAError, ValueError):
    """TFLA_ERROR_INVALID_ARGUMENT: a bad option, size, dtype, or aliasing."""
    status = _ffi.INVALID_ARGUMENT


class ShapeError(TFLAError, ValueError):
    """TFLA_ERROR_SHAPE: shapes that do not fit together."""
    status = _ffi.SHAPE


class NonFiniteError(TFLAError, FloatingPointError):
    """TFLA_ERROR_NON_FINITE: NaN or a refused infinity in the inputs, or an overflowed result."""
    status = _ffi.NON_FINITE


class UnsupportedError(TFLAError, NotImplementedError):
    """TFLA_ERROR_UNSUPPORTED: a valid combination this entry point does not support."""
    status = _ffi.UNSUPPORTED


class OutOfMemoryError(TFLAError, MemoryError):
    """TFLA_ERROR_OUT_OF_MEMORY: refused before any work."""
    status = _ffi.OUT_OF_MEMORY


class InternalError(TFLAError):
    """TFLA_ERROR_INTERNAL: a defect in the library."""
    status = _ffi.INTERNAL


_BY_STATUS = {cls.status: cls for cls in
              (InvalidArgumentError, ShapeError, NonFiniteError, UnsupportedError, OutOfMemoryError, InternalError)}


def check(status, function="tfla"):
    """Raises the exception for a tfla_status other than TFLA_OK."""
    if status == _ffi.OK:
        return
    message = _ffi.lib().tfla_last_error()
    message = message.decode("utf-8", "replace") if message else ""
    cls = _BY_STATUS.get(status, TFLAError)
    raise cls(f"{function}: {message}" if message else f"{function}: status {status}", status)
