#!/bin/bash
# Runs the replay benchmark once, in a minimal mode, so that it keeps
# building and running; fails on a benchmark error or a missing counter.
# usage: replay_benchmark_test.sh REPLAY_BENCHMARK
set -euo pipefail
out="$("$PWD/$1" --benchmark_min_time=0.001 --benchmark_repetitions=1 2>&1)"
echo "$out"
if grep -q "ERROR OCCURRED" <<<"$out" || ! grep -q "BM_Replay" <<<"$out" ||
   ! grep -q "steps=" <<<"$out"; then
  echo "replay_benchmark failed"
  exit 1
fi
