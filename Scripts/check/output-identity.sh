#!/usr/bin/env bash
# Runs the same sweep of forwards, training gradients and generation steps
# with two tfla binaries and compares every output file byte for byte.
# A refactoring that must not change results passes only if all are equal.
#
# Usage: Scripts/check/output-identity.sh OLD_TFLA NEW_TFLA [WORKDIR]
set -euo pipefail
old=$1 new=$2
work=${3:-$(mktemp -d)}
mkdir -p "$work"

# make_inputs DIR B NH S DQK DHV GATE [state]: random inputs, fixed seed.
make_inputs() {
    python3 - "$@" <<'PY'
import sys, os, numpy as np
d, b, nh, s, dqk, dhv, gate = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
state = len(sys.argv) > 8
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(b * 1000003 + nh * 10007 + s * 101 + dqk * 7 + dhv)
f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
np.save(f"{d}/q.npy", f32(b, nh, s, dqk)); np.save(f"{d}/k.npy", f32(b, nh, s, dqk))
np.save(f"{d}/v.npy", f32(b, nh, s, dhv))
np.save(f"{d}/i.npy", f32(b, nh, s)); np.save(f"{d}/f.npy", (3 + f32(b, nh, s)).astype(np.float32))
np.save(f"{d}/dh.npy", f32(b, nh, s, dhv))
if state:
    np.save(f"{d}/c0.npy", f32(b, nh, dqk, dhv)); np.save(f"{d}/n0.npy", np.abs(f32(b, nh, dqk)))
    m0 = np.zeros((b, nh, 1), np.float32) if gate == "sig" else f32(b, nh, 1)
    np.save(f"{d}/m0.npy", m0)
PY
}

# Steps read (B,NH,DQK) inputs: one token of a problem.
make_step_inputs() {
    python3 - "$1" "$2" <<'PY'
import sys, os, numpy as np
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
for name in ["q", "k", "v", "i", "f"]:
    a = np.load(f"{src}/{name}.npy")
    np.save(f"{d}/{name}.npy", np.ascontiguousarray(a[:, :, 0] if name in "qkv" else a[:, :, :1]))
for name in ["c0", "n0", "m0"]:
    if os.path.exists(f"{src}/{name}.npy"):
        np.save(f"{d}/{name}.npy", np.load(f"{src}/{name}.npy"))
PY
}

cases=0 failures=0
# check NAME COMMAND ARGS...: runs `tfla COMMAND ARGS --out DIR` with both
# binaries and compares the outputs.
check() {
    local name=$1; shift
    local a="$work/out/$name/old" b="$work/out/$name/new"
    rm -rf "$a" "$b"
    "$old" "$@" --out "$a" >/dev/null
    "$new" "$@" --out "$b" >/dev/null
    cases=$((cases + 1))
    local files=0
    for file in "$a"/*.npy; do
        files=$((files + 1))
        if ! cmp -s "$file" "$b/$(basename "$file")"; then
            echo "DIFFERS: $name $(basename "$file")"; failures=$((failures + 1))
        fi
    done
    if [ "$files" -eq 0 ] || [ "$(ls "$b" | wc -l)" -ne "$files" ]; then
        echo "MISSING OUTPUTS: $name"; failures=$((failures + 1))
    fi
}

# Shapes: B NH S DQK DHV. Several heads, one head, ragged chunks, one long head.
shapes=("2 4 300 32 64" "1 1 1024 64 128" "1 2 777 48 96" "1 1 8192 64 64" "1 8 512 64 256")
for shape in "${shapes[@]}"; do
    for gate in exp sig; do
        dir="$work/in/${shape// /x}-$gate"
        make_inputs "$dir" $shape $gate state
        tag="${shape// /x}-$gate"
        for p in 1 2 16 64; do
            for t in 1 2; do
                check "run-$tag-p$p-t$t" run --in "$dir" --gate $gate --parallelism $p --threads $t
            done
            check "bf16-$tag-p$p" run --in "$dir" --gate $gate --parallelism $p --precision bf16
            check "grad-$tag-p$p" grad --in "$dir" --gate $gate --parallelism $p --threads 2
        done
        check "run-$tag-L32-seg3" run --in "$dir" --gate $gate --chunk-size 32 --segments 3 --parallelism 4
        check "run-$tag-tiles" run --in "$dir" --gate $gate --dhv-tile 32 --dqk-tile 16 --query-tile 16 --kv-tile 32 --parallelism 2
        check "grad-$tag-ref-L32" grad --in "$dir" --gate $gate --mode reference --chunk-size 32 --parallelism 8
        check "grad-$tag-L16-stride" grad --in "$dir" --gate $gate --chunk-size 16 --parallelism 2 --state-stride 3
        step="$work/in/step-$tag"
        make_step_inputs "$dir" "$step"
        check "step-$tag" step --in "$step" --gate $gate
        check "steps-$tag" step --in "$dir" --gate $gate --tokens --threads 2
    done
done
echo "$cases cases, $failures differing or missing outputs"
[ "$failures" -eq 0 ]
