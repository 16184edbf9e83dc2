#!/usr/bin/env python3
"""Writes N mutated .npy files (default 10,000) from the seed corpus, for a
batch run of the reader over whole files (Docs/testing.md):
    python3 Fuzz/make-mutations.py [N] [OUTDIR] [SEED]
    .build-fuzz/debug/npy-fuzz -runs=0 OUTDIR            # every file once
The mutations aim at the format: header text edits (dtype, order and shape
values, huge and odd integers, broken punctuation), header-length and
version bytes, truncation, extension, and random byte flips. Deterministic
for a given SEED; the output is not committed.
"""
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "Fuzz", "corpus", "npy")

TOKENS = [b"'<f2'", b"'<f4'", b"'<f8'", b"'>f8'", b"'|u1'", b"'<c8'", b"True", b"False", b"()", b"(0,)",
          b"(1,)", b"(2, 3)", b"(9223372036854775807,)", b"(4611686018427387904, 4)", b"(0, 4611686018427387904, 8)",
          b"(18446744073709551616,)", b"(-1,)", b"(3)", b"(0x10,)", b"(1_0,)", b"(3L,)", b"'shape'", b"'descr'",
          b"'fortran_order'", b"{", b"}", b",", b":", b"'", b"\"", b"\\", b"\x00", b"\n", b"\xff\xfe", b"u'<f4'"]


def mutate(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(8)
        if kind == 0 and len(data) > 12:  # header length bytes
            index = rng.choice([8, 9, 10, 11])
            data[index] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 1 and len(data) > 8:  # version bytes
            data[rng.choice([6, 7])] = rng.choice([0, 1, 2, 3, 4, 255])
        elif kind == 2 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif kind == 3:  # extend
            data += bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 64, 1000])))
        elif kind == 4:  # replace a token inside the header
            start = data.find(b"{")
            end = data.find(b"}", start)
            if start >= 0 and end > start:
                token = rng.choice(TOKENS)
                at = rng.randrange(start, end + 1)
                span = rng.randrange(0, min(24, end + 1 - at) + 1)
                data[at:at + span] = token
        elif kind == 5 and data:  # flip bits
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 6 and data:  # duplicate a slice
            a = rng.randrange(len(data))
            b = min(len(data), a + rng.randrange(1, 64))
            data[a:a] = data[a:b]
        elif kind == 7 and data:  # delete a slice
            a = rng.randrange(len(data))
            del data[a:a + rng.randrange(1, 16)]
    return bytes(data)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build-fuzz", "mutations")
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    seeds = [open(os.path.join(SEEDS, name), "rb").read() for name in sorted(os.listdir(SEEDS))]
    os.makedirs(out, exist_ok=True)
    for index in range(count):
        with open(os.path.join(out, "m%05d.npy" % index), "wb") as handle:
            handle.write(mutate(rng.choice(seeds), rng))
    print("%d files in %s" % (count, out))


if __name__ == "__main__":
    main()
