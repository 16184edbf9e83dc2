#!/usr/bin/env bash
# 16-core host, third run: the float32 forward and training forward at 16
# threads as now planned (128-column items) against 64-column items, in
# alternating rounds; the bf16io walk at chunk 64 and 128 against the
# released walk once more; the float32 forward at 2 threads (unchanged plan).
set -u
unset OPENBLAS_CORETYPE
cd /tmp && rm -rf tfla-static base && tar xJf "$REPO/.cpu-carry-run/tfla-static.tar.xz" && mkdir base && xz -dc "$REPO/.cpu-carry-run/base-tfla-bench.xz" > base/tfla-bench && chmod +x base/tfla-bench
T="/tmp/tfla-static/run tfla-bench"
BASE="env LD_LIBRARY_PATH=/tmp/tfla-static/lib /tmp/base/tfla-bench"
R=/tmp/results
B="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 7"
BT="--shapes xlstm-7b-head --gate exp --mode training --repeats 5"
BF="--precision bf16 --bf16-paths matrix-units --storage bf16"
/tmp/tfla-static/run tfla plan --shape 1,8,8192,256,512 --parallelism 16 > "$R/plan_t16.txt" 2>&1
for r in 1 2 3; do
  t=16
  $T $B --threads $t --parallelism $t >> "$R/f32_t16_planned.txt" 2>&1
  $T $B --threads $t --parallelism $t --dhv-tile 64 >> "$R/f32_t16_w64.txt" 2>&1
  $T $BT --threads $t --parallelism $t >> "$R/f32train_t16_planned.txt" 2>&1
  $T $BT --threads $t --parallelism $t --dhv-tile 64 >> "$R/f32train_t16_w64.txt" 2>&1
  $BASE $B --threads $t --parallelism $t $BF >> "$R/bf16_t16_base.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 64 >> "$R/bf16_t16_c64.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 128 >> "$R/bf16_t16_c128.txt" 2>&1
done
for r in 1 2; do
  t=2
  $BASE $B --threads $t --parallelism $t $BF >> "$R/bf16_t2_base.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 64 >> "$R/bf16_t2_c64.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 128 >> "$R/bf16_t2_c128.txt" 2>&1
  $T $B --threads $t --parallelism $t >> "$R/f32_t2.txt" 2>&1
  $BASE $B --threads $t --parallelism $t >> "$R/f32_t2_base.txt" 2>&1
done
