#!/usr/bin/env bash
# An emulated cluster, end to end: brings a 2-host cluster up (its own, named
# after this test's PID, so that it never touches a user's cluster "h" nor
# another test run's), runs each JOB on it with --cluster, checks that the
# ranks ran on the emulated hosts, and brings it down, also when a job fails
# or the test is killed; then checks that nothing is left (namespaces,
# links, /etc/hosts lines, state).
#   smoke      comm's smoke check on 2 ranks: ranks 0, 1 on hosts 1, 2
#   calibrate  a small calibration on 3 ranks: hosts 1, 2, 1 (round robin)
#   train      a 4-step training on 2 ranks: the trace header names host 1
# Usage: cluster_test.sh JOB...
# Needs root: fails without it, unless FREEZING_NO_CLUSTER=1 (then skips;
# bazel test --test_env=FREEZING_NO_CLUSTER=1 ...).
# Other tests that bring up clusters source this file for the three
# functions below (then no job runs): //benchmarks:exp9_cluster_smoke_test.
set -euo pipefail

# cluster_test_require: returns when an emulated cluster can be made; else
# exits 0 (skipped) with FREEZING_NO_CLUSTER=1, or 1 naming the reason.
cluster_test_require() {
  if [[ "${FREEZING_NO_CLUSTER:-}" == 1 ]]; then
    echo "SKIPPED: FREEZING_NO_CLUSTER=1: no emulated cluster brought up"
    exit 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "FAILED: an emulated cluster needs root (network namespaces, links," \
      "qdiscs, /etc/hosts); run the test as root, or skip it with" \
      "bazel test --test_env=FREEZING_NO_CLUSTER=1" >&2
    exit 1
  fi
}

# cluster_test_name: a cluster name of this test run's own. The PID alone
# could repeat in PID namespaces; the name must end with a letter and have
# at most 9 characters.
cluster_test_name() {
  echo "t$(( ($$ * 251 + RANDOM) % 10000000 ))z"
}

# cluster_leftovers NAME: what of cluster NAME exists (nothing: empty).
cluster_leftovers() {
  ip netns list | grep -E "^${1}[0-9]+( |$)" || true
  ip -o link show | grep -E ": (veth${1}[0-9]+|br-${1})[@:]" || true
  grep -E "# freezing-cluster ${1}\$" /etc/hosts || true
  ls -d "/run/freezing-cluster/${1}" 2>/dev/null || true
}

# Sourced: the functions only.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

cluster_test_require
export FREEZING_CLUSTER="$(cluster_test_name)"
c="$FREEZING_CLUSTER"
cluster="$PWD/comm/cluster"
out="${TEST_TMPDIR:-$(mktemp -d)}/cluster_test"
mkdir -p "$out"
# Bound every job below Bazel's timeout: mpiexec then kills its ranks, and
# the trap below still has time to bring the cluster down.
export MPIEXEC_TIMEOUT=$(( ${TEST_TIMEOUT:-300} > 60 ? ${TEST_TIMEOUT:-300} - 40 : 30 ))

finish() {
  local rc=$?
  trap - EXIT INT TERM
  echo "+ cluster down ($c)"
  "$cluster" down || rc=1
  local left
  left="$(cluster_leftovers "$c")"
  if [[ -n "$left" ]]; then
    echo "FAILED: left behind after down:" >&2
    echo "$left" >&2
    rc=1
  fi
  [[ $rc == 0 ]] && echo "PASS: $*" || echo "FAILED (exit $rc)" >&2
  exit $rc
}
trap 'finish "$@"' EXIT
trap 'exit 143' INT TERM  # Bazel's timeout: still bring the cluster down

run() {
  echo "+ $*"
  "$@" 2>&1 | tee "$out/log"
}

expect() {
  if ! grep -qE "$1" "$2"; then
    echo "FAILED: no line matching '$1' in $2" >&2
    exit 1
  fi
}

run "$cluster" up --hosts=2 --rate=1gbit
expect "everything in place" "$out/log"
# A second identical up is a no-op; a different one is refused.
run "$cluster" up --hosts=2 --rate=1gbit
expect "already up" "$out/log"
if "$cluster" up --hosts=3 --rate=1gbit 2>"$out/err"; then
  echo "FAILED: up with other options succeeded" >&2
  exit 1
fi
expect "down. first" "$out/err"

for job in "$@"; do
  case "$job" in
    smoke)
      run comm/smoke --ranks=2 --cluster
      expect "^hosts of ranks 0..1: ${c}1 ${c}2\$" "$out/log"
      expect "^smoke: OK" "$out/log"
      ;;
    calibrate)
      run comm/calibrate --ranks=3 --cluster --max_bytes=262144 \
        --min_repeats=3 --seconds_per_size=0.01 --out="$out/calibration.json"
      expect "\"hosts\": \[\"${c}1\", \"${c}2\", \"${c}1\"\]" \
        "$out/calibration.json"
      expect '"transport": "tcp,self"' "$out/calibration.json"
      ;;
    train)
      run train/train --ranks=2 --cluster --model=resnet_tiny \
        --data=synthetic --batch_size=16 --max_steps=4 --checkpoints=false \
        --log_every=1000 --out="$out/run"
      run trace/trace_tool info "$out/run/trace.pb"
      expect "host ${c}1" "$out/log"
      expect "hosts of ranks 0..1: ${c}1 ${c}2" "$out/log"
      # Across hosts --allreduce_algorithm=auto pins MPICH's ring.
      expect "all-reduce ring" "$out/log"
      ;;
    *)
      echo "unknown job $job" >&2
      exit 2
      ;;
  esac
done
