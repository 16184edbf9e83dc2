#!/usr/bin/env python3
"""Writes the seed corpus of the .npy fuzz target into Fuzz/corpus/npy/
(committed; `make fuzz` and CI start from it). Run by hand from the
repository root:
    python3 Fuzz/make-corpus.py

Seeds: the reader's test samples (Tests/TFLATests/Fixtures/npy, written by
numpy), every header of header-cases.json (numpy's verdicts on odd headers)
as a whole file, and a few files numpy writes for dtypes, ranks and header
versions the samples lack. numpy is needed only for the last group; without
it those seeds are left as they are.
"""
import hashlib
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "Tests", "TFLATests", "Fixtures", "npy")
OUT = os.path.join(ROOT, "Fuzz", "corpus", "npy")


def npy_bytes(header, version, payload):
    """A .npy file around a header text, padded as numpy pads it."""
    text = header.encode("utf-8")
    fixed = 10 if version == 1 else 12
    padding = (64 - (fixed + len(text) + 1) % 64) % 64
    body = text + b" " * padding + b"\n"
    length = len(body).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + length + body + payload


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in sorted(os.listdir(SAMPLES)):
        if name.endswith(".npy"):
            shutil.copyfile(os.path.join(SAMPLES, name), os.path.join(OUT, "sample-" + name))

    with open(os.path.join(SAMPLES, "header-cases.json")) as handle:
        cases = json.load(handle)
    for case in cases:
        data = npy_bytes(case["header"], case["version"], bytes(4 * case["count"]))
        digest = hashlib.sha1(data).hexdigest()[:12]
        with open(os.path.join(OUT, "header-%s.npy" % digest), "wb") as handle:
            handle.write(data)

    try:
        import numpy as np
    except ImportError:
        return
    arrays = {
        "f16-rank2": np.arange(6, dtype="<f2").reshape(3, 2) / 4,
        "f32-rank4": np.arange(8, dtype="<f4").reshape(1, 2, 2, 2) - 3,
        "f32-rank6": np.full((1, 1, 2, 1, 1, 1), -0.0, "<f4"),
        "f32-special": np.array([np.nan, np.inf, -np.inf, 1e-45, -0.0], "<f4"),
        "f64-rank2": np.arange(4, dtype="<f8").reshape(2, 2) * 1e300,
        "f64-zero-rank3": np.zeros((2, 0, 5), "<f8"),
        "bool": np.array([True, False]),
        "complex": np.arange(2, dtype="<c16"),
        "unicode": np.array(["ab", "c"]),
        "structured": np.zeros(2, dtype=[("a", "<f4"), ("b", "<f8")]),
        "f64-bigendian": np.arange(3, dtype=">f8"),
        "u2-bf16-bits": np.array([0x3FC0, 0xC000, 0x7FC0, 0xFF80], "<u2").reshape(2, 2),
    }
    for name, array in arrays.items():
        np.save(os.path.join(OUT, name + ".npy"), array, allow_pickle=False)
    # bfloat16 as np.save writes an ml_dtypes.bfloat16 array ('<V2'), byte
    # for byte, without needing ml_dtypes.
    with open(os.path.join(OUT, "bf16-v2.npy"), "wb") as handle:
        handle.write(npy_bytes("{'descr': '<V2', 'fortran_order': False, 'shape': (2, 2), }", 1,
                               arrays["u2-bf16-bits"].tobytes()))
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(OUT, "f64-v%d.npy" % version[0]), "wb") as handle:
            np.lib.format.write_array(handle, np.arange(3, dtype="<f8"), version=version, allow_pickle=False)


if __name__ == "__main__":
    main()
