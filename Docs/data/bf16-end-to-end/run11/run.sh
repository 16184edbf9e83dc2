#!/usr/bin/env bash
# 16-core host, the code as released (0.7.1): bf16io at 16 and 2 threads
# alternating with 0.7.0, the profile at 16 threads, float32 at 16 threads,
# PyTorch's bf16 forward at 16 threads.
set -u
unset OPENBLAS_CORETYPE
cd /tmp && rm -rf tfla-static base && tar xJf "$REPO/.cpu-carry-run/tfla-static.tar.xz" && mkdir base && xz -dc "$REPO/.cpu-carry-run/base-tfla-bench.xz" > base/tfla-bench && chmod +x base/tfla-bench
T="/tmp/tfla-static/run tfla-bench"
BASE="env LD_LIBRARY_PATH=/tmp/tfla-static/lib /tmp/base/tfla-bench"
R=/tmp/results
B="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 7"
BF="--precision bf16 --bf16-paths matrix-units --storage bf16"
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
mkdir -p /tmp/site && pip install --no-index --no-deps --target /tmp/site "$REPO"/.cpu-carry-run/whl/*.whl > /dev/null 2>&1
PYTHONPATH=/tmp/site timeout 60 python3 "$REPO/Scripts/bench/bench-pytorch.py" --threads 16 --dtype bfloat16 --chunk-sizes 256 --repeats 3 --shapes xlstm-7b-head > "$R/torch_bf16_t16.csv" 2> "$R/torch_bf16_t16.err"
