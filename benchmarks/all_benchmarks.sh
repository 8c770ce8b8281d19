#!/bin/bash
# bazel run //benchmarks:all -- [--out=DIR] [--smoke] [--only=NAME,...]
#                               [-- FLAGS for every binary]
# Runs every Google Benchmark binary of the repository, one after the other
# (never two at once: they would distort each other's timings), each with
# --benchmark_out=DIR/NAME.json --benchmark_out_format=json; its console
# output goes to DIR/NAME.txt. comm's two benchmarks run on 2 MPI ranks
# (--ranks=2). --smoke runs each once in a minimal mode (tiny sizes,
# filters; what //benchmarks:all_smoke_test runs). DIR/index.json lists
# every binary with its command, exit status, wall time and the load
# average before and after. Exits non-zero if any binary failed (the others
# still run). DIR defaults to out/benchmarks/DATE in the checkout.
set -uo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
out=""
smoke=0
only=""
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out=*) out="${1#--out=}" ;;
    --smoke) smoke=1 ;;
    --only=*) only="${1#--only=}" ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "all_benchmarks: unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
workspace="${BUILD_WORKSPACE_DIRECTORY:-$PWD}"
if [[ -z "$out" ]]; then
  out="${workspace}/out/benchmarks/$(date +%Y-%m-%d_%H%M%S)"
elif [[ "$out" != /* ]]; then
  out="${BUILD_WORKING_DIRECTORY:-$PWD}/$out"
fi
mkdir -p "$out"

# name | runfiles path | flags always | flags of the minimal mode
BENCHMARKS=(
  "allreduce_benchmark|comm/allreduce_benchmark|--ranks=2|--benchmark_min_time=0 --benchmark_filter=BM_AllReduce/4096/|BM_IAllReduce/65536/"
  "reducer_benchmark|comm/reducer_benchmark|--ranks=2|--benchmark_filter=model:1"
  "trace_benchmark|trace/trace_benchmark||--benchmark_min_time=0.001"
  "loader_benchmark|train/data/loader_benchmark||--benchmark_min_time=0.001"
  "model_benchmark|train/models/model_benchmark||--benchmark_min_time=0.001 --benchmark_filter=resnet_tiny"
  "activation_cache_benchmark|train/activation_cache_benchmark||--benchmark_min_time=0.001 --benchmark_filter=PrefixUncached|PrefixCached"
  "freezer_benchmark|freeze/freezer_benchmark||--benchmark_min_time=0.001 --benchmark_filter=BM_FreezerOffline/0/0"
  "stats_cost_benchmark|benchmarks/stats_cost_benchmark||--stats_model=resnet_tiny --stats_batch=4 --stats_threads=1 --stats_intervals=1 --stats_warmup=1 --benchmark_filter=BM_StatsCost/10/"
  "step_overhead_benchmark|benchmarks/step_overhead_benchmark||--overhead_model=resnet_tiny --overhead_batch=4 --overhead_threads=1 --overhead_steps=2 --overhead_warmup=1 --benchmark_filter=BM_StepOverhead/4/"
  "replay_benchmark|benchmarks/replay_benchmark||--benchmark_min_time=0.001 --benchmark_repetitions=1"
)

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
failed=()
index="["
sep=""
for entry in "${BENCHMARKS[@]}"; do
  name="$(cut -d'|' -f1 <<<"$entry")"
  path="$(cut -d'|' -f2 <<<"$entry")"
  always="$(cut -d'|' -f3 <<<"$entry")"
  # The minimal flags may contain '|' (filters): everything after field 3.
  minimal="$(cut -d'|' -f4- <<<"$entry")"
  if [[ -n "$only" && ",$only," != *",$name,"* ]]; then
    continue
  fi
  bin="${runfiles}/${path}"
  args=()
  [[ -n "$always" ]] && read -r -a args <<<"$always"
  if [[ $smoke == 1 && -n "$minimal" ]]; then
    read -r -a m <<<"$minimal"
    args+=("${m[@]}")
  fi
  args+=("--benchmark_out=${out}/${name}.json" "--benchmark_out_format=json")
  args+=("${extra[@]}")
  echo "=== ${name}: ${path} ${args[*]}"
  load0="$(loadavg)"
  t0=$(date +%s.%N)
  "$bin" "${args[@]}" > "${out}/${name}.txt" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  tail -n 3 "${out}/${name}.txt"
  if [[ $rc -ne 0 || ! -s "${out}/${name}.json" ]]; then
    echo "=== ${name}: FAILED (exit ${rc}); see ${out}/${name}.txt" >&2
    failed+=("$name")
  fi
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  cmd="${path} ${args[*]}"
  index+="${sep}
 {\"name\": \"${name}\", \"exit\": ${rc}, \"wall_s\": ${wall}, \"loadavg_before\": \"${load0}\", \"loadavg_after\": \"$(loadavg)\", \"command\": \"${cmd//\"/\\\"}\"}"
  sep=","
done
printf '%s\n]\n' "$index" > "${out}/index.json"
echo "wrote ${out}/*.json (one per benchmark) and ${out}/index.json"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
