"""Test helpers: random problems, and skips with a reason when the library
or an optional package is missing."""
import importlib.util
import os

import numpy as np
import pytest


def _library_available():
    try:
        import tfla._ffi as ffi
        ffi.lib()
        return True, ""
    except (ImportError, OSError) as error:
        return False, str(error)


LIBRARY, LIBRARY_REASON = _library_available()
needs_library = pytest.mark.skipif(not LIBRARY, reason=f"libtfla_c not loadable: {LIBRARY_REASON}")


def needs_module(*names):
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)} "
                              f"(pip install {' '.join(missing)})")


def problem(seed=0, b=1, nh=2, s=37, dqk=8, dhv=12, state=False, dtype=np.float64, gate="exp"):
    """Inputs with realistic gates: q, k, v, i, f (and c0, n0, m0)."""
    rng = np.random.default_rng(seed)
    x = dict(q=rng.standard_normal((b, nh, s, dqk)) / np.sqrt(dqk), k=rng.standard_normal((b, nh, s, dqk)),
             v=rng.standard_normal((b, nh, s, dhv)), i=rng.standard_normal((b, nh, s)),
             f=3.0 + rng.standard_normal((b, nh, s)))
    if state:
        x["c0"] = rng.standard_normal((b, nh, dqk, dhv))
        x["n0"] = np.abs(rng.standard_normal((b, nh, dqk)))
        x["m0"] = (rng.standard_normal((b, nh, 1)) if gate == "exp" else np.zeros((b, nh, 1)))
    return {name: value.astype(dtype) for name, value in x.items()}


def tfla_bin():
    """The `tfla` executable for the CLI comparisons, or None."""
    path = os.environ.get("TFLA_BIN")
    if path and os.access(path, os.X_OK):
        return path
    import shutil
    return shutil.which("tfla")


_AMX = []


def bf16_products_on_amx():
    """Whether the library's bf16 products run on AMX tiles on this CPU, as
    `tfla info` reports it ("bf16 products:  AMX tiles ..."); None when no
    `tfla` executable is found or it does not say."""
    if not _AMX:
        answer = None
        path = tfla_bin()
        if path:
            import subprocess
            lines = subprocess.run([path, "info"], capture_output=True, text=True, check=True).stdout.splitlines()
            for line in lines:
                if line.startswith("bf16 products:"):
                    answer = line.split(":", 1)[1].split("(")[0].strip().startswith("AMX")
        _AMX.append(answer)
    return _AMX[0]
