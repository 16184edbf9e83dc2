#!/usr/bin/env bash
# Builds the .npy fuzz target and runs it for a bounded time:
#     Fuzz/run.sh [SECONDS] [libFuzzer options...]
# (`make fuzz`, default 300 s; CI runs 45 s). Exits non-zero, with the
# crashing input saved under .build-fuzz/artifacts/, when an input crashes,
# traps, leaks, times out or allocates more than the limit.
#
# The target (Fuzz/Sources/npy-fuzz) is a separate package: it has no main
# (libFuzzer provides one), so it only links with --sanitize=fuzzer, and the
# main package's `swift build` never sees it. It is a debug build: the
# standard library's bounds checks on unsafe buffers stay on, and
# AddressSanitizer checks every access besides. To replay one input:
#     .build-fuzz/debug/npy-fuzz FILE
#
# New inputs go to the working corpus .build-fuzz/corpus/npy (not
# committed); the seeds are Fuzz/corpus/npy (Fuzz/make-corpus.py).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
shift || true
SWIFT="${SWIFT:-swift}"
scratch=.build-fuzz
# Coverage and AddressSanitizer in every module. `--sanitize=fuzzer
# --sanitize=address` would not do: SwiftPM passes each as its own
# `-sanitize=` flag, in no fixed order, and swiftc keeps only the last one,
# so the Swift code got either coverage or ASan. `--sanitize=fuzzer` makes
# SwiftPM link libFuzzer's main; the explicit pair, after it, is what swiftc
# keeps; C targets get ASan through -Xcc.
flags=(--package-path Fuzz --scratch-path "$scratch" -c debug
       --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address)
mkdir -p "$scratch"
set +e
"$SWIFT" build "${flags[@]}" --product npy-fuzz > "$scratch/build.log" 2>&1
built=$?
set -e
# The linker warns about every ASan check routine it cannot export; noise.
grep -v "warning: Cannot export local symbol '__asan_" "$scratch/build.log" || true
[ "$built" -eq 0 ] || { echo "fuzz: the build failed" >&2; exit "$built"; }
binary="$("$SWIFT" build "${flags[@]}" --show-bin-path)/npy-fuzz"
[ -x "$binary" ] || { echo "fuzz: $binary was not built" >&2; exit 1; }
work="$scratch/corpus/npy"
artifacts="$scratch/artifacts/"
mkdir -p "$work" "$artifacts"
# Each input is also written to a file for NPY.read(contentsOf:); in memory
# (/dev/shm) that costs microseconds, on a disk file system milliseconds.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; else export TMPDIR="${TMPDIR:-/tmp}"; fi
export LSAN_OPTIONS="suppressions=$PWD/Tests/Sanitizers/lsan.supp"
# -malloc_limit_mb: no single allocation above 64 MB (inputs are at most
# -max_len = 64 KiB; the reader needs about twice its input).
# -rss_limit_mb: the whole process stays under 2 GB (ASan's quarantine included).
# -timeout: one input taking more than 10 s is a hang.
set +e
"$binary" -max_total_time="$seconds" -max_len=65536 -malloc_limit_mb=64 -rss_limit_mb=2048 \
    -timeout=10 -dict=Fuzz/npy.dict -artifact_prefix="$artifacts" -print_final_stats=1 \
    "$@" "$work" Fuzz/corpus/npy
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "fuzz: npy-fuzz failed (exit status $status); inputs that crashed are in $artifacts" >&2
    ls -l "$artifacts" >&2 || true
fi
exit "$status"
