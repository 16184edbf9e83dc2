"""tfla.cli: the `tfla` command-line oracle on numpy arrays, in a separate
process (for suites that want process isolation; `tfla.forward` and the
other in-process functions compute the same values without one).

Each call writes its inputs as .npy files into a temporary directory, runs
one `tfla` command and reads the outputs back. Arrays are float32 or float64
(other dtypes are converted to float64); `tfla` computes in the inputs' dtype
unless `dtype=` says otherwise.
"""
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

__all__ = ["Tfla", "TflaError", "TflaNotFound", "Outputs", "Comparison", "find_tfla",
           "forward", "gradients", "step", "compare", "assert_close"]


class TflaError(RuntimeError):
    """`tfla` refused its inputs or failed. `message` is its error line (without
    the `tfla: error:` prefix), `stderr` all it printed, `returncode` its exit
    status, `command` the command line."""

    def __init__(self, message, stderr="", returncode=None, command=()):
        super().__init__(message)
        self.message, self.stderr, self.returncode, self.command = message, stderr, returncode, list(command)


class TflaNotFound(TflaError, FileNotFoundError):
    """No `tfla` executable: neither `TFLA_BIN` nor PATH gives one."""


class Outputs(dict):
    """The arrays a command wrote, by name (`h`, `c`, ...). `kernel_seconds` is
    the median kernel time when `repeat=` was given, else None."""

    kernel_seconds = None


@dataclass(frozen=True)
class Comparison:
    """What `tfla compare` reports; true when within tolerance."""

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    violations: int
    count: int

    def __bool__(self):
        return self.ok


def find_tfla(binary=None):
    """The `tfla` executable: `binary`, else `$TFLA_BIN`, else `tfla` on PATH."""
    candidate = binary or os.environ.get("TFLA_BIN")
    if candidate:
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            raise TflaNotFound(f"tfla executable not found at {candidate!r}")
        return candidate
    found = shutil.which("tfla")
    if found is None:
        raise TflaNotFound("tfla not found: set TFLA_BIN or put tfla on PATH")
    return found


def _array(name, value):
    array = np.asarray(value)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.ndim == 0:
        raise TypeError(f"{name}: expected an array, got a scalar")
    return np.ascontiguousarray(array)


def _flag(name):
    return "--" + name.replace("_", "-")


class Tfla:
    """A `tfla` executable (see `find_tfla`) and the oracle commands."""

    def __init__(self, binary=None):
        self.binary = find_tfla(binary)

    def __repr__(self):
        return f"Tfla({self.binary!r})"

    # The commands.

    def forward(self, q, k, v, i, f, c0=None, n0=None, m0=None, *, kernel="chunkwise", gate="exp",
                normalize=True, eps=None, chunk_size=None, threads=None, dtype=None, repeat=None, **tiling):
        """`tfla run`: h (B,NH,S,DHV) and, for chunkwise/recurrent, the final
        state c, n, m. For gate="sig" the state is (c0, n0); m0 may be omitted."""
        arrays = dict(q=q, k=k, v=v, i=i, f=f, c0=c0, n0=n0, m0=m0)
        options = dict(kernel=kernel, gate=gate, eps=eps, chunk_size=chunk_size, threads=threads,
                       dtype=dtype, repeat=repeat, **tiling)
        return self._run("run", arrays, options, [] if normalize else ["--no-normalize"])

    def gradients(self, q, k, v, i, f, dh, c0=None, n0=None, m0=None, dc=None, dn=None, dm=None, *,
                  kernel="chunkwise", mode="exact", gate="exp", normalize=True, eps=None, chunk_size=None,
                  state_stride=None, threads=None, dtype=None, repeat=None, **tiling):
        """`tfla grad`: dq, dk, dv, di, df and, with an initial state, dc0, dn0,
        dm0. mode="exact" is the true gradient, mode="reference" the reference
        package's custom-backward convention (see Sources/TFLA/Documentation.docc/BackwardPass.md)."""
        arrays = dict(q=q, k=k, v=v, i=i, f=f, dh=dh, c0=c0, n0=n0, m0=m0, dc=dc, dn=dn, dm=dm)
        options = dict(kernel=kernel, mode=mode, gate=gate, eps=eps, chunk_size=chunk_size, state_stride=state_stride,
                       threads=threads, dtype=dtype, repeat=repeat, **tiling)
        return self._run("grad", arrays, options, [] if normalize else ["--no-normalize"])

    def step(self, q, k, v, i, f, c0=None, n0=None, m0=None, *, kernel="fused", gate="exp", normalize=True,
             eps=None, threads=None, dtype=None, repeat=None, tokens=None):
        """`tfla step`: one token (q (B,NH,DQK), i (B,NH,1)) or, with 4-D q
        (or tokens=True), S tokens one after the other; h and the final state
        c, n, m. No state: the zero state."""
        if tokens is None:
            tokens = np.ndim(q) == 4
        arrays = dict(q=q, k=k, v=v, i=i, f=f, c0=c0, n0=n0, m0=m0)
        options = dict(kernel=kernel, gate=gate, eps=eps, threads=threads, dtype=dtype, repeat=repeat)
        extra = ([] if normalize else ["--no-normalize"]) + (["--tokens"] if tokens else [])
        return self._run("step", arrays, options, extra)

    def compare(self, actual, expected, rtol=1e-5, atol=1e-8, equal_nan=False):
        """`tfla compare`: passes where |a − b| ≤ atol + rtol·|b| (NaN
        against NaN too with `equal_nan`, numpy's meaning)."""
        with tempfile.TemporaryDirectory(prefix="tfla-") as directory:
            paths = []
            for name, value in (("actual", actual), ("expected", expected)):
                paths.append(os.path.join(directory, name + ".npy"))
                np.save(paths[-1], _array(name, value))
            flags = ["--equal-nan"] if equal_nan else []
            result = self._call(["compare", *paths, "--rtol", repr(float(rtol)), "--atol", repr(float(atol)), *flags],
                                ok=(0, 1))
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        violations, count = re.match(r"(\d+) of (\d+)", values["violations"]).groups()
        worst = tuple(int(x) for x in re.findall(r"-?\d+", values["worst_index"]))
        return Comparison(ok=result.returncode == 0, max_abs_error=float(values["max_abs_error"]),
                          max_rel_error=float(values["max_rel_error"]), worst_index=worst,
                          violations=int(violations), count=int(count))

    def assert_close(self, actual, expected, rtol=1e-5, atol=1e-8, name="array", equal_nan=False):
        """Raises AssertionError with tfla's report unless `compare` passes."""
        result = self.compare(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan)
        if not result:
            raise AssertionError(
                f"{name}: {result.violations} of {result.count} elements outside rtol={rtol}, atol={atol}; "
                f"max abs error {result.max_abs_error:.3g}, max rel error {result.max_rel_error:.3g} "
                f"(worst at {result.worst_index})")
        return result

    # Plumbing.

    def _run(self, command, arrays, options, extra):
        with tempfile.TemporaryDirectory(prefix="tfla-") as directory:
            source, target = os.path.join(directory, "in"), os.path.join(directory, "out")
            os.mkdir(source)
            for name, value in arrays.items():
                if value is not None:
                    np.save(os.path.join(source, name + ".npy"), _array(name, value))
            arguments = [command, "--in", source, "--out", target, *extra]
            for name, value in options.items():
                if value is not None:
                    arguments += [_flag(name), str(value)]
            result = self._call(arguments)
            outputs = Outputs()
            for file in sorted(os.listdir(target)) if os.path.isdir(target) else []:
                if file.endswith(".npy"):
                    outputs[file[:-4]] = np.load(os.path.join(target, file))
        lines = result.stderr.splitlines()
        if lines and lines[-1].startswith("kernel_seconds="):
            outputs.kernel_seconds = float(lines[-1].split("=", 1)[1])
        return outputs

    def _call(self, arguments, ok=(0,)):
        command = [self.binary, *arguments]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode not in ok:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            message = lines[-1] if lines else f"exit status {result.returncode}"
            message = re.sub(r"^tfla: error: ", "", message)
            raise TflaError(message, stderr=result.stderr, returncode=result.returncode, command=command)
        return result


# Module-level shortcuts on the `tfla` from TFLA_BIN or PATH.

def forward(*args, **kwargs):
    """`tfla run` on numpy arrays; see `Tfla.forward`."""
    return Tfla().forward(*args, **kwargs)


def gradients(*args, **kwargs):
    """`tfla grad` on numpy arrays; see `Tfla.gradients`."""
    return Tfla().gradients(*args, **kwargs)


def step(*args, **kwargs):
    """`tfla step` on numpy arrays; see `Tfla.step`."""
    return Tfla().step(*args, **kwargs)


def compare(*args, **kwargs):
    """`tfla compare` on numpy arrays; see `Tfla.compare`."""
    return Tfla().compare(*args, **kwargs)


def assert_close(*args, **kwargs):
    """AssertionError with tfla's report unless within tolerance; see `Tfla.assert_close`."""
    return Tfla().assert_close(*args, **kwargs)
