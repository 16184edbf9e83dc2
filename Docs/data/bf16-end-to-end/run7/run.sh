#!/usr/bin/env bash
# 16-core host, second run: alternating rounds of the float32 plans at 16
# threads (64-column items as planned, 128 and 256 in one segment) and of
# the bf16io walk at chunk 64 and 128 (and the released walk), 16 and 2 threads.
set -u
unset OPENBLAS_CORETYPE
cd /tmp && rm -rf tfla-static base && tar xJf "$REPO/.cpu-carry-run/tfla-static.tar.xz" && mkdir base && xz -dc "$REPO/.cpu-carry-run/base-tfla-bench.xz" > base/tfla-bench && chmod +x base/tfla-bench
T="/tmp/tfla-static/run tfla-bench"
BASE="env LD_LIBRARY_PATH=/tmp/tfla-static/lib /tmp/base/tfla-bench"
R=/tmp/results
B="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 7"
BF="--precision bf16 --bf16-paths matrix-units --storage bf16"
for r in 1 2 3; do
  t=16
  $T $B --threads $t --parallelism $t >> "$R/f32_t16_w64planned.txt" 2>&1
  $T $B --threads $t --parallelism $t --dhv-tile 128 --segments 1 >> "$R/f32_t16_w128.txt" 2>&1
  $T $B --threads $t --parallelism $t --dhv-tile 256 --segments 1 >> "$R/f32_t16_w256.txt" 2>&1
  $BASE $B --threads $t --parallelism $t $BF >> "$R/bf16_t16_base.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 64 >> "$R/bf16_t16_c64.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 128 >> "$R/bf16_t16_c128.txt" 2>&1
  $T $B --threads $t --parallelism 32 $BF --chunk-sizes 128 >> "$R/bf16_t16_c128_p32.txt" 2>&1
done
for r in 1 2; do
  t=2
  $BASE $B --threads $t --parallelism $t $BF >> "$R/bf16_t2_base.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 64 >> "$R/bf16_t2_c64.txt" 2>&1
  $T $B --threads $t --parallelism $t $BF --chunk-sizes 128 >> "$R/bf16_t2_c128.txt" 2>&1
done
