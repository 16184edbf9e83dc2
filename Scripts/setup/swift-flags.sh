#!/usr/bin/env bash
# Prints the `swift build` flags that make the hot code use this CPU's widest
# vectors: x86-64-v4 (AVX-512) or x86-64-v3 (AVX2), nothing elsewhere.
# TFLA_MARCH overrides the level (e.g. TFLA_MARCH=x86-64-v3, or "none").
# A binary built with these flags needs a CPU of at least that level.
set -euo pipefail
level="${TFLA_MARCH:-}"
if [ -z "$level" ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
    if has avx512f avx512bw avx512dq avx512vl; then level=x86-64-v4
    elif has avx2 fma bmi2; then level=x86-64-v3
    else level=none
    fi
fi
[ "$level" = "none" ] && exit 0
echo "-Xcc -march=$level -Xcc -fno-math-errno"
