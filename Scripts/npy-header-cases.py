#!/usr/bin/env python3
"""Writes Tests/TFLATests/Fixtures/npy/header-cases.json: .npy header dicts
(valid, odd and malformed) with what numpy itself makes of each, so that the
Swift reader is tested to accept exactly what numpy accepts. Only numpy is
needed; run by hand from the repository root (the file is committed):
    python3 Scripts/npy-header-cases.py

Each case is a header dict text, a format version and the number of float32
elements in the data; numpy's verdict is the shape it reads, or null when it
refuses the file. The Swift test builds the same bytes (build_file below).
"""
import io
import json
import os
import struct
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TFLATests", "Fixtures", "npy", "header-cases.json")

D = "'descr': '<f4', 'fortran_order': False, "
CASES = [
    # (header dict text, format major version, float32 elements in the data)
    ("{" + D + "'shape': (2, 3), }", 1, 6),
    ("{" + D + "'shape': (2, 3)}", 1, 6),
    ("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 1, 6),
    ('{"descr": "<f4", "fortran_order": False, "shape": (6,)}', 1, 6),
    ("{" + D + "'shape': (6,), } junk", 1, 6),
    ("{" + D + "'shape': (6,), }}", 1, 6),
    ("{" + D + "'shape': (6,), },", 1, 6),
    ("{" + D + "'shape': (6,), }\x00", 1, 6),
    ("{" + D + "'shape': (06,), }", 1, 6),
    ("{" + D + "'shape': (0, 3), }", 1, 0),
    ("{" + D + "'shape': (00, 3), }", 1, 0),
    ("{" + D + "'shape': (2, 03), }", 1, 6),
    ("{" + D + "'shape': (6), }", 1, 6),
    ("{" + D + "'shape': (), }", 1, 1),
    ("{" + D + "'shape': (,), }", 1, 0),
    ("{" + D + "'shape': (2,, 3), }", 1, 6),
    ("{" + D + "'shape': (2, 3,), }", 1, 6),
    ("{" + D + "'shape': ( 2 ,3 ), }", 1, 6),
    ("{" + D + "'shape': (1_2,), }", 1, 12),
    ("{" + D + "'shape': (1__2,), }", 1, 12),
    ("{" + D + "'shape': (12_,), }", 1, 12),
    ("{" + D + "'shape': (0x6,), }", 1, 6),
    ("{" + D + "'shape': (0o6,), }", 1, 6),
    ("{" + D + "'shape': (0b110,), }", 1, 6),
    ("{" + D + "'shape': (+6,), }", 1, 6),
    ("{" + D + "'shape': (-6,), }", 1, 6),
    ("{" + D + "'shape': (6.0,), }", 1, 6),
    ("{" + D + "'shape': (6e0,), }", 1, 6),
    ("{" + D + "'shape': (6L,), }", 1, 6),
    ("{" + D + "'shape': (6L,), }", 3, 6),
    ("{" + D + "'shape': (6l,), }", 1, 6),
    ("{" + D + "'shape': [6], }", 1, 6),
    ("{" + D + "'shape': 6, }", 1, 6),
    ("{" + D + "'shape': (99999999999999999999,), }", 1, 6),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,), }", 1, 6),
    ("{'descr': '<f4', 'fortran_order': false, 'shape': (6,), }", 1, 6),
    ("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,), }", 1, 6),
    ("{'descr': '<f4', 'shape': (6,), }", 1, 6),
    ("{" + D + "'shape': (6,), 'extra': 1, }", 1, 6),
    ("{" + D + "'shape': (6,),, }", 1, 6),
    ("{," + D + "'shape': (6,), }", 1, 6),
    ("{'descr': u'<f4', 'fortran_order': False, 'shape': (6,), }", 1, 6),
    ("{'descr': '<f4' 'fortran_order': False, 'shape': (6,), }", 1, 6),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'shape': (2, 3)}", 1, 6),
    ("{\n'descr': '<f4',\n'fortran_order': False,\n'shape': (6,)\n}", 1, 6),
    ("{\t'descr':\t'<f4', 'fortran_order': False, 'shape': (6,)}\t", 1, 6),
    ("{" + D + "'shape': (6,), }\x0c", 1, 6),
    ("{" + D + "'shape': (6,), }\x0b", 1, 6),
    ("'descr': '<f4', 'fortran_order': False, 'shape': (6,)", 1, 6),
    ("{" + D + "'shape': (6,), ", 1, 6),
    ("{'descr': '<f4, 'fortran_order': False, 'shape': (6,), }", 1, 6),
]


def build_file(header, major, count):
    """The bytes of a .npy file: the dict padded with spaces and a newline
    to a multiple of 64 bytes, then `count` float32 zeros."""
    text = header.encode("utf-8")
    fixed = 10 if major == 1 else 12
    padding = (64 - (fixed + len(text) + 1) % 64) % 64
    body = text + b" " * padding + b"\n"
    length = struct.pack("<H", len(body)) if major == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([major, 0]) + length + body + b"\x00" * (4 * count)


def numpy_shape(data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(np.load(io.BytesIO(data), allow_pickle=False).shape)
    except Exception:
        return None


def main():
    cases = [{"header": h, "version": v, "count": c, "numpy_shape": numpy_shape(build_file(h, v, c))}
             for h, v, c in CASES]
    with open(OUT, "w") as handle:
        json.dump(cases, handle, indent=1)
        handle.write("\n")
    print(f"{len(cases)} cases, {sum(c['numpy_shape'] is not None for c in cases)} accepted by numpy {np.__version__}")


if __name__ == "__main__":
    main()
