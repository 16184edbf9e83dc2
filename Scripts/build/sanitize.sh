#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer: `Scripts/build/sanitize.sh address`
# (AddressSanitizer with LeakSanitizer) or `Scripts/build/sanitize.sh thread`
# (ThreadSanitizer). `make sanitize` runs both; Docs/testing.md ("Sanitizers
# and fuzzing") states the policy.
#
# The build is the release build of `make test`, with the same target flags
# (ARCH_FLAGS, passed in the environment by the Makefile), in its own scratch
# path (.build-asan, .build-tsan) so that it never disturbs the normal build.
# Every process of the run, the test runner and each `tfla` the CLI tests
# start (built with the same sanitizer), writes its reports to a log
# directory; the run fails when the tests fail or when any report is there,
# even from a process whose exit status nobody checked. Suppressions come
# from Tests/Sanitizers/ and name toolchain internals only.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind="${1:-}"
SWIFT="${SWIFT:-swift}"
read -r -a arch <<< "${ARCH_FLAGS-$(bash Scripts/setup/swift-flags.sh)}"
supp="$PWD/Tests/Sanitizers"
skip=()
case "$kind" in
address)
    scratch=.build-asan
    logs="$PWD/$scratch/sanitizer-logs"
    # Leak checking is LeakSanitizer's default on Linux; spelled out here.
    export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:check_initialization_order=1:log_path=$logs/asan"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=1"
    ;;
thread)
    scratch=.build-tsan
    logs="$PWD/$scratch/sanitizer-logs"
    export TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan"
    # ThreadSanitizer's runtime cannot start under a small file size limit
    # (RLIMIT_FSIZE): it faults with SIGBUS in its own shadow-memory code
    # before main, so the one test that runs tfla under `ulimit -f 2` cannot
    # run here. It is single-threaded file handling, checked by `make test`
    # and by `make sanitize`'s AddressSanitizer run.
    skip=(--skip outputSetIsAllOrNothing)
    ;;
*)
    echo "usage: $0 address|thread" >&2
    exit 64
    ;;
esac

rm -rf "$logs"
mkdir -p "$logs"
"$SWIFT" build -c release "${arch[@]}" --sanitize="$kind" --scratch-path "$scratch" --build-tests
status=0
"$SWIFT" test -c release "${arch[@]}" --sanitize="$kind" --scratch-path "$scratch" --skip-build "${skip[@]}" || status=$?

# Reports of every process. LeakSanitizer also writes a log when it only
# applied suppressions ("Suppressions used:"); that alone is not a finding.
reports=$(grep -l -E "ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|Thread)Sanitizer" "$logs"/* 2>/dev/null || true)
if [ -n "$reports" ]; then
    for file in $reports; do
        echo "---- $file" >&2
        cat "$file" >&2
    done
    echo "sanitize $kind: $(echo "$reports" | wc -l) process(es) reported a problem (above)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitize $kind: the tests failed (exit status $status)" >&2
    exit "$status"
fi
echo "sanitize $kind: clean: no report from $(ls "$logs" | wc -l) process log(s) in $logs"
# What the suppressions (toolchain internals) matched: count, bytes, template.
cat "$logs"/* 2>/dev/null | grep -E "^ +[0-9]+ +[0-9]+ +[^ ]+$" | sed 's/^/  suppressed: /' || true
