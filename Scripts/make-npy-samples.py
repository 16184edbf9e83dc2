#!/usr/bin/env python3
"""Writes the .npy format samples the Swift reader is tested against, into
Tests/TFLATests/Fixtures/npy/. Only numpy is needed; run by hand from the
repository root (the files are committed):
    python3 Scripts/make-npy-samples.py

The files come from numpy itself rather than from our writer, so a shared
misreading of the format cannot make the round trip pass. Some are meant to be
refused (Fortran order, big-endian, non-float dtypes); see the README there.
"""
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TFLATests", "Fixtures", "npy")


def samples():
    return {
        "f32_rank1": np.arange(5, dtype="<f4") * np.float32(0.5),
        "f64_rank3": np.arange(24, dtype="<f8").reshape(2, 3, 4) / 8,
        "f32_rank0": np.array(3.25, dtype="<f4"),
        "f64_empty": np.zeros((0, 3), "<f8"),
        "f64_fortran": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)),
        "f32_bigendian": np.arange(4, dtype=">f4"),
        "i32": np.arange(4, dtype="<i4"),
        "f16": np.arange(4, dtype="<f2"),
        "f64_large_shape": np.zeros((1, 2, 1, 3, 1), "<f8") + 1.5,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, array in samples().items():
        np.save(os.path.join(OUT, name + ".npy"), array, allow_pickle=False)
    # np.save picks the oldest header version that fits (1.0 here), so the
    # 2.0 header (4-byte header length) has to be asked for explicitly.
    with open(os.path.join(OUT, "f32_v2.npy"), "wb") as handle:
        np.lib.format.write_array(handle, np.arange(6, dtype="<f4").reshape(2, 3), version=(2, 0), allow_pickle=False)


if __name__ == "__main__":
    main()
