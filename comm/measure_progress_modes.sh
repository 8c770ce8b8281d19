#!/usr/bin/env bash
# Measures the reducer's progress modes (hooks, thread, sync) side by side:
# data-parallel ResNet-18 steps with a real backward on N ranks, several
# rounds, the modes' order rotated each round so that drifting load on the
# machine does not favour one; prints the median over rounds per mode.
#
#   bazel run //comm:measure_progress_modes -- --ranks=2 --rounds=5
#   UCX_TLS=tcp,self bazel run //comm:measure_progress_modes   # MPI over TCP
#
# Options: --ranks=N (2), --rounds=R (5), --model=0|1 (0: ResNet-18, batch
# 32 per rank; 1: tiny MLP, batch 4). Each round runs comm/reducer_benchmark
# once per mode (15 timed steps after 2 warm-up steps). Step time is the
# slowest rank's BeginStep + forward + backward + FinishStep.
set -euo pipefail

ranks=2
rounds=5
model=0
for arg in "$@"; do
  case "$arg" in
    --ranks=*) ranks="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --model=*) model="${arg#*=}" ;;
    *) echo "unknown option $arg (valid: --ranks= --rounds= --model=)" >&2; exit 2 ;;
  esac
done
batch=$([ "$model" = 0 ] && echo 32 || echo 4)
bin="${REDUCER_BENCHMARK:-comm/reducer_benchmark}"
names=(hooks thread sync)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "progress modes on $ranks ranks, model $model, batch $batch/rank," \
  "UCX_TLS=${UCX_TLS:-default}, $rounds rounds"
for ((r = 0; r < rounds; r++)); do
  for k in 0 1 2; do
    m=$(( (k + r) % 3 ))
    "$bin" --ranks="$ranks" --benchmark_format=csv \
      --benchmark_filter="mode:$m/model:$model/batch:$batch/" \
      2>/dev/null > "$work/run.csv"
    # name,iterations,real_time,...,MB_per_step,backward_ms,buckets,comm_ms,exposed_ms
    awk -F, -v mode="${names[$m]}" '
      NR == 1 { gsub(/"/, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
      /BM_ReducerStep/ {
        printf "%s %s %s %s %s\n", mode, $col["real_time"],
          $col["backward_ms"], $col["exposed_ms"], $col["comm_ms"]
      }' "$work/run.csv" | tee -a "$work/all.txt" |
      awk -v r="$r" '{ printf "round %d %-6s step %7.1f ms  backward %7.1f  exposed %6.1f  comm %6.1f\n", r, $1, $2, $3, $4, $5 }'
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median over $rounds rounds (ms):"
printf "%-7s %9s %9s %9s %9s\n" mode step backward exposed comm
for name in "${names[@]}"; do
  printf "%-7s" "$name"
  for c in 2 3 4 5; do
    printf " %9.1f" "$(awk -v n="$name" -v c="$c" '$1 == n { print $c }' "$work/all.txt" | median)"
  done
  echo
done
