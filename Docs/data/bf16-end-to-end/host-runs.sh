#!/usr/bin/env bash
# The commands of runs 6-18 on the 16-core host (Docs/log/bf16-end-to-end.md),
# as they ran, with their common set-up once. Each run wrote its files to
# $R, now in runN/ beside this script.
#
#   bash host-runs.sh run10     # in a folder holding tfla-static.tar.xz
#                               # (Scripts/build/pack-static.sh with
#                               # TFLA_MARCH=x86-64-v4, the version measured)
#                               # and base-tfla-bench.xz (the earlier
#                               # version's tfla-bench, built the same way,
#                               # stripped, xz: 0.7.0 for runs 6-11, 0.7.1
#                               # for runs 12-17)
#
# Builds: runs 6-8 had a prefetch of the next chunk's operands (step 8,
# since reverted); runs 9-10 had step 9's shared chunk values (default
# "shared", --bf16-unshared the walk as released); run 11 is 0.7.1;
# runs 12-18 are 0.7.2 (runs 14, 15, 16, 17 and 18 each on a fresh host
# instance).
set -u
unset OPENBLAS_CORETYPE
here=$(cd "$(dirname "$0")" && pwd)
cd /tmp && rm -rf tfla-static base && tar xJf "$here/tfla-static.tar.xz" && mkdir base \
    && xz -dc "$here/base-tfla-bench.xz" > base/tfla-bench && chmod +x base/tfla-bench
T="/tmp/tfla-static/run tfla-bench"
BASE="env LD_LIBRARY_PATH=/tmp/tfla-static/lib /tmp/base/tfla-bench"
R=${R:-/tmp/results}
mkdir -p "$R"
B="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 7"
BT="--shapes xlstm-7b-head --gate exp --mode training --repeats 5"
BF="--precision bf16 --bf16-paths matrix-units --storage bf16"

# PyTorch's bf16 forward (mlstm_kernels' native chunkwise kernel, chunk 256)
# at $1 threads into $2; the wheels of mlstm_kernels and einops in whl/.
pytorch() {
    mkdir -p /tmp/site && pip install --no-index --no-deps --target /tmp/site "$here"/whl/*.whl > /dev/null 2>&1
    PYTHONPATH=/tmp/site timeout 90 python3 "$here/../../../Scripts/bench/bench-pytorch.py" --threads "$1" \
        --dtype bfloat16 --chunk-sizes 256 --repeats 3 --shapes xlstm-7b-head > "$2" 2> "$2.err"
}

# 2 and 16 threads, float32 and both bf16 storages at chunk 64 and 128,
# against 0.7.0 (repeats 5); profiles; plans at 16 threads; PyTorch.
run6() {
    local b5="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 5"
    lscpu > "$R/lscpu.txt"; nproc >> "$R/lscpu.txt"
    for r in 1 2; do
        for t in 16 2; do
            $BASE $b5 --threads $t --parallelism $t $BF --csv "$R/base_t${t}_r$r.csv" > "$R/base_t${t}_r$r.txt" 2>&1
            $T $b5 --threads $t --parallelism $t --precision both --bf16-paths matrix-units --storage float32,bf16 \
                --chunk-sizes 64,128 --csv "$R/new_t${t}_r$r.csv" > "$R/new_t${t}_r$r.txt" 2>&1
        done
    done
    for t in 16 2; do
        for c in 64 128; do
            $T $b5 --threads $t --parallelism $t $BF --chunk-sizes $c --profile > "$R/profile_t${t}_c$c.txt" 2>&1
        done
    done
    for c in 128 64; do
        for w in 128 256 512; do
            for s in 1 2; do
                $T $b5 --threads 16 --parallelism 16 $BF --chunk-sizes $c --dhv-tile $w --segments $s >> "$R/plans_t16.txt" 2>&1
            done
        done
    done
    for w in 64 128 256; do
        $T $b5 --threads 16 --parallelism 16 --dhv-tile $w --segments 1 >> "$R/float32_plans_t16.txt" 2>&1
    done
    for t in 16 2; do pytorch $t "$R/torch_bf16_t$t.csv"; done
}

# float32 column tiles at 16 threads; bf16io chunk 64 and 128 against 0.7.0.
run7() {
    for r in 1 2 3; do
        $T $B --threads 16 --parallelism 16 >> "$R/f32_t16_w64planned.txt" 2>&1
        $T $B --threads 16 --parallelism 16 --dhv-tile 128 --segments 1 >> "$R/f32_t16_w128.txt" 2>&1
        $T $B --threads 16 --parallelism 16 --dhv-tile 256 --segments 1 >> "$R/f32_t16_w256.txt" 2>&1
        $BASE $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_base.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --chunk-sizes 64 >> "$R/bf16_t16_c64.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --chunk-sizes 128 >> "$R/bf16_t16_c128.txt" 2>&1
        $T $B --threads 16 --parallelism 32 $BF --chunk-sizes 128 >> "$R/bf16_t16_c128_p32.txt" 2>&1
    done
    for r in 1 2; do
        $BASE $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_base.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF --chunk-sizes 64 >> "$R/bf16_t2_c64.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF --chunk-sizes 128 >> "$R/bf16_t2_c128.txt" 2>&1
    done
}

# The float32 forward and training forward as planned (128 columns) against
# 64 columns; bf16io chunk 64 and 128 against 0.7.0; float32 at 2 threads.
run8() {
    /tmp/tfla-static/run tfla plan --shape 1,8,8192,256,512 --parallelism 16 > "$R/plan_t16.txt" 2>&1
    for r in 1 2 3; do
        $T $B --threads 16 --parallelism 16 >> "$R/f32_t16_planned.txt" 2>&1
        $T $B --threads 16 --parallelism 16 --dhv-tile 64 >> "$R/f32_t16_w64.txt" 2>&1
        $T $BT --threads 16 --parallelism 16 >> "$R/f32train_t16_planned.txt" 2>&1
        $T $BT --threads 16 --parallelism 16 --dhv-tile 64 >> "$R/f32train_t16_w64.txt" 2>&1
        $BASE $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_base.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --chunk-sizes 64 >> "$R/bf16_t16_c64.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --chunk-sizes 128 >> "$R/bf16_t16_c128.txt" 2>&1
    done
    for r in 1 2; do
        $BASE $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_base.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF --chunk-sizes 64 >> "$R/bf16_t2_c64.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF --chunk-sizes 128 >> "$R/bf16_t2_c128.txt" 2>&1
        $T $B --threads 2 --parallelism 2 >> "$R/f32_t2.txt" 2>&1
        $BASE $B --threads 2 --parallelism 2 >> "$R/f32_t2_base.txt" 2>&1
    done
}

# Step 9: shared chunk values against none and 0.7.0; 128-column items.
run9() {
    for r in 1 2 3 4; do
        $BASE $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_base.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_shared.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --bf16-unshared >> "$R/bf16_t16_unshared.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --dhv-tile 128 >> "$R/bf16_t16_w128_shared.txt" 2>&1
    done
    $T $B --threads 16 --parallelism 16 $BF --profile > "$R/profile_t16_shared.txt" 2>&1
    $T $B --threads 16 --parallelism 16 $BF --profile --bf16-unshared > "$R/profile_t16_unshared.txt" 2>&1
    $T $B --threads 16 --parallelism 16 > "$R/f32_t16.txt" 2>&1
    for r in 1 2; do
        $BASE $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_base.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_new.txt" 2>&1
    done
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# More rounds of run 9's comparison; float32 at 16 and 2 threads.
run10() {
    for r in 1 2 3 4 5 6; do
        $T $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_shared.txt" 2>&1
        $T $B --threads 16 --parallelism 16 $BF --bf16-unshared >> "$R/bf16_t16_unshared.txt" 2>&1
        $BASE $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_base.txt" 2>&1
    done
    for r in 1 2 3; do
        $T $B --threads 16 --parallelism 16 >> "$R/f32_t16_planned.txt" 2>&1
        $T $B --threads 16 --parallelism 16 --dhv-tile 64 >> "$R/f32_t16_w64.txt" 2>&1
    done
    for r in 1 2; do
        $T $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_new.txt" 2>&1
        $BASE $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_base.txt" 2>&1
        $T $B --threads 2 --parallelism 2 >> "$R/f32_t2.txt" 2>&1
    done
    pytorch 2 "$R/torch_bf16_t2.csv"
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# The released code against 0.7.0.
run11() {
    for r in 1 2 3 4 5; do
        $T $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_new.txt" 2>&1
        $BASE $B --threads 16 --parallelism 16 $BF >> "$R/bf16_t16_base.txt" 2>&1
    done
    $T $B --threads 16 --parallelism 16 $BF --profile > "$R/profile_t16.txt" 2>&1
    for r in 1 2; do
        $T $B --threads 16 --parallelism 16 >> "$R/f32_t16.txt" 2>&1
        $T $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_new.txt" 2>&1
        $BASE $B --threads 2 --parallelism 2 $BF >> "$R/bf16_t2_base.txt" 2>&1
    done
    $T $B --threads 2 --parallelism 2 >> "$R/f32_t2.txt" 2>&1
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# Runs 12-18: one bf16io invocation of version $1 (new or base) at $2
# threads, appended to $3, further arguments after; and $1 pairs of them at
# $2 threads with $3 first in each pair.
bf16io() {
    local bin=$BASE t=$2 file=$3
    [ "$1" = new ] && bin=$T
    shift 3
    $bin $B --threads "$t" --parallelism "$t" $BF "$@" >> "$R/$file" 2>&1
}
pairs() {
    local other=base
    [ "$3" = base ] && other=new
    for r in $(seq "$1"); do
        bf16io "$3" "$2" "bf16_t$2_$3.txt"
        bf16io "$other" "$2" "bf16_t$2_$other.txt"
    done
}

# 0.7.2 against 0.7.1: 16 and 2 threads alternating, profiles, float32,
# PyTorch.
run12() {
    lscpu > "$R/lscpu.txt"
    pairs 6 16 base
    bf16io new 16 profile_t16_new.txt --profile
    bf16io base 16 profile_t16_base.txt --profile
    pairs 3 2 base
    for r in 1 2; do $T $B --threads 16 --parallelism 16 >> "$R/f32_t16.txt" 2>&1; done
    $T $B --threads 2 --parallelism 2 >> "$R/f32_t2.txt" 2>&1
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# 0.7.2 against 0.7.1 in 8 alternating rounds at 16 threads, profiles
# alternating, 3 rounds at 2 threads; run 14 adds chunk 128 at 2 threads,
# float32 and PyTorch at 16 threads.
run13() {
    pairs 8 16 new
    for r in 1 2; do
        bf16io base 16 profile_t16_base.txt --profile
        bf16io new 16 profile_t16_new.txt --profile
    done
    pairs 3 2 new
}

run14() {
    run13
    for r in 1 2; do bf16io new 2 bf16_t2_c128_new.txt --chunk-sizes 128; done
    $T $B --threads 16 --parallelism 16 >> "$R/f32_t16.txt" 2>&1
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# 8 alternating rounds at 16 threads, one profile each, float32, PyTorch.
run15() {
    pairs 8 16 new
    bf16io base 16 profile_t16_base.txt --profile
    bf16io new 16 profile_t16_new.txt --profile
    $T $B --threads 16 --parallelism 16 >> "$R/f32_t16.txt" 2>&1
    pytorch 16 "$R/torch_bf16_t16.csv"
}

# ABBA: each version first in half of the pairs, 16 threads then 2.
run16() {
    for r in 1 2 3 4; do
        for who in base new new base; do bf16io $who 16 "bf16_t16_$who.txt"; echo "$r $who" >> "$R/order.txt"; done
    done
    for r in 1 2; do
        for who in base new new base; do bf16io $who 2 "bf16_t2_$who.txt"; done
    done
}

# Run 17 repeated run 15 on a fresh instance.
run17() { run15; }

# 0.7.2 only: the planned items against two-segment plans at 16 threads.
run18() {
    for r in 1 2 3 4 5; do
        bf16io new 16 bf16_t16_planned.txt
        bf16io new 16 bf16_t16_w512_s2.txt --dhv-tile 512 --segments 2
        bf16io new 16 bf16_t16_w256_s2.txt --dhv-tile 256 --segments 2
    done
    bf16io new 16 profile_planned.txt --profile
    bf16io new 16 profile_w512_s2.txt --dhv-tile 512 --segments 2 --profile
}

"${1:?which run: run6 ... run18}"
