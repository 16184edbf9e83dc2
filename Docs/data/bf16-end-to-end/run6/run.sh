#!/usr/bin/env bash
# 16-core host: the packed bf16 walk with one-pass two-term Q·C, triangular
# intra products and prefetched operands against the released walk (base),
# chunk 64 and 128, at 2 and 16 threads in alternating rounds; plans at 16
# threads; where the time goes; float32 plans at 16 threads; PyTorch bf16.
set -u
unset OPENBLAS_CORETYPE
cd /tmp && rm -rf tfla-static base && tar xJf "$REPO/.cpu-carry-run/tfla-static.tar.xz" && mkdir base && xz -dc "$REPO/.cpu-carry-run/base-tfla-bench.xz" > base/tfla-bench && chmod +x base/tfla-bench
T=/tmp/tfla-static/run
BASE="env LD_LIBRARY_PATH=/tmp/tfla-static/lib /tmp/base/tfla-bench"
R=/tmp/results
lscpu > "$R/lscpu.txt"; nproc >> "$R/lscpu.txt"
B="--shapes xlstm-7b-head --gate exp --outputs reused --repeats 5"
for r in 1 2; do
  for t in 16 2; do
    $BASE $B --threads $t --parallelism $t --precision bf16 --bf16-paths matrix-units --storage bf16 --csv "$R/base_t${t}_r$r.csv" > "$R/base_t${t}_r$r.txt" 2>&1
    $T tfla-bench $B --threads $t --parallelism $t --precision both --bf16-paths matrix-units --storage float32,bf16 --chunk-sizes 64,128 --csv "$R/new_t${t}_r$r.csv" > "$R/new_t${t}_r$r.txt" 2>&1
  done
done
for t in 16 2; do
  for c in 64 128; do
    $T tfla-bench $B --threads $t --parallelism $t --precision bf16 --bf16-paths matrix-units --storage bf16 --chunk-sizes $c --profile > "$R/profile_t${t}_c$c.txt" 2>&1
  done
done
# Plans at 16 threads (bf16io): columns per item and segments.
for c in 128 64; do
  for w in 128 256 512; do
    for s in 1 2; do
      $T tfla-bench $B --threads 16 --parallelism 16 --precision bf16 --bf16-paths matrix-units --storage bf16 --chunk-sizes $c --dhv-tile $w --segments $s >> "$R/plans_t16.txt" 2>&1
    done
  done
done
# float32 at 16 threads: the planned 64-column items against wider ones.
for w in 64 128 256; do
  $T tfla-bench $B --threads 16 --parallelism 16 --dhv-tile $w --segments 1 >> "$R/float32_plans_t16.txt" 2>&1
done
mkdir -p /tmp/site && pip install --no-index --no-deps --target /tmp/site "$REPO"/.cpu-carry-run/whl/*.whl > /dev/null 2>&1
for t in 16 2; do
  PYTHONPATH=/tmp/site timeout 90 python3 "$REPO/Scripts/bench/bench-pytorch.py" --threads $t --dtype bfloat16 --chunk-sizes 256 --repeats 3 --shapes xlstm-7b-head > "$R/torch_bf16_t$t.csv" 2> "$R/torch_bf16_t$t.err"
done
