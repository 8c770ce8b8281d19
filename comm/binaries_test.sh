#!/usr/bin/env bash
# Runs comm/'s binaries the way users do, on 2 ranks (each relaunches itself
# under mpiexec), in a minimal mode, so that they keep working:
#   smoke                 comm's end-to-end check; must print "smoke: OK"
#   calibrate             small size range; must write a valid JSON file
#                         (snake_case names, 64-bit integers as numbers)
#   allreduce_benchmark   one iteration of two sizes
#   reducer_benchmark     the smoke-sized (tiny model) cases
# Usage: binaries_test.sh smoke|calibrate|allreduce_benchmark|reducer_benchmark
set -euo pipefail

# Bound every job below Bazel's timeout: mpiexec kills its ranks when this
# expires, so a hang fails the test and leaves nothing behind.
export MPIEXEC_TIMEOUT=$(( ${TEST_TIMEOUT:-120} > 30 ? ${TEST_TIMEOUT:-120} - 15 : 20 ))
out="${TEST_TMPDIR:-$(mktemp -d)}"

run() {
  echo "+ $*"
  "$@" 2>&1 | tee "$out/log"
}

case "$1" in
  smoke)
    run comm/smoke --ranks=2
    grep -q "smoke: OK" "$out/log"
    ;;
  calibrate)
    run comm/calibrate --ranks=2 --max_bytes=262144 --min_repeats=3 \
      --seconds_per_size=0.01 --out="$out/calibration.json"
    grep -q '"world_size": 2,' "$out/calibration.json"
    grep -q '"beta_s_per_byte": ' "$out/calibration.json"
    grep -q '"bytes": 4096,' "$out/calibration.json"  # int64 as a number
    grep -q "R^2" "$out/log"
    # --world_sizes: a job that fails at exit after writing its calibration
    # (as MPICH's hang at exit does) is kept with a warning; one that fails
    # before writing fails the whole calibration, and no file is written.
    small=(--max_bytes=65536 --min_repeats=3 --seconds_per_size=0.01)
    FREEZING_TEST_CALIBRATE_EXIT=after run comm/calibrate --world_sizes=2 \
      "${small[@]}" --out="$out/sizes.json"
    grep -q "kept; the failure came at MPI's exit" "$out/log"
    grep -q '"world_size": 2,' "$out/sizes.json"
    if FREEZING_TEST_CALIBRATE_EXIT=before run comm/calibrate --world_sizes=2 \
        "${small[@]}" --out="$out/none.json"; then
      echo "FAIL: a job that failed before writing was accepted"; exit 1
    fi
    grep -q "failed (status" "$out/log"
    test ! -e "$out/none.json"
    ;;
  allreduce_benchmark)
    run comm/allreduce_benchmark --ranks=2 --benchmark_min_time=0 \
      --benchmark_filter='BM_AllReduce/4096/|BM_IAllReduce/65536/'
    grep -q "BM_AllReduce/4096/manual_time.*bus_bw=" "$out/log"
    grep -q "BM_IAllReduce/65536/manual_time.*bus_bw=" "$out/log"
    ;;
  reducer_benchmark)
    run comm/reducer_benchmark --ranks=2 --benchmark_filter='model:1'
    test "$(grep -c 'BM_ReducerStep/.*model:1.*exposed_ms=' "$out/log")" -eq 3
    ;;
  *)
    echo "unknown binary $1" >&2
    exit 2
    ;;
esac
echo "PASS: $1"
