#!/bin/bash
# Runs the libFuzzer target for a bounded time from a seed corpus of valid,
# cut and died traces. Fails (does not skip) if the target was not built:
# the build of :trace_reader_fuzzer already fails without clang.
# usage: trace_reader_fuzz_test.sh FUZZER MAKE_TEST_TRACES SECONDS
set -euo pipefail
FUZZER="$PWD/$1"
MAKE="$PWD/$2"
SECONDS_TO_RUN="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
ARTIFACTS="${TEST_UNDECLARED_OUTPUTS_DIR:-$T}"
[[ -x "$FUZZER" ]] || { echo "FAIL: $FUZZER is not an executable"; exit 1; }

mkdir -p "$T/corpus" "$T/seeds"
"$MAKE" --out_dir="$T/seeds" --small_only
# Seeds for the re-framed reading: the records' payloads joined by the
# separator the fuzzer splits on are produced by mutation from these too.
cp "$T/seeds"/*.trace "$T/corpus/"

# A crash or sanitizer report exits non-zero and leaves the input in
# ARTIFACTS (test.outputs/ under bazel-testlogs).
"$FUZZER" "$T/corpus" \
  -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
  -max_len=16384 -print_final_stats=1 \
  -artifact_prefix="$ARTIFACTS/" 2>&1 | tail -25
status=${PIPESTATUS[0]}
if [[ $status == 0 ]]; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
fi
exit "$status"
