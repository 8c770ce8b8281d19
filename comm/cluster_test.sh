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
#   fault_kill a 2-rank training (checkpoints on) whose rank on host 2 is
#              SIGKILLed after the first checkpoint: the job ends within
#              30 s, non-zero, naming host 2, nothing left on any host;
#              then --resume on the same hosts completes
#   fault_link the same with host 2's link taken down (ip link set vethH2
#              down) instead; the link comes back up before the resume
#   resume_ranks  3 ranks stopped after epoch 1, resumed on 2 ranks
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

# A fault job still running when the test ends (it failed): end it, its
# ranks with it, before the cluster goes down.
job_pid=""
kill_job() {
  [[ -n "$job_pid" ]] && kill -9 "$job_pid" 2>/dev/null
  local n p
  for n in $(ip netns list | grep -oE "^${c}[0-9]+"); do
    for p in $(ip netns pids "$n"); do kill -9 "$p" 2>/dev/null; done
  done
  job_pid=""
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  kill_job
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

# What is running on each host of the cluster: pids and names.
on_hosts() {
  local n p
  for n in 1 2; do
    for p in $(ip netns pids "${c}$n"); do
      echo "${c}$n: $p $(cat "/proc/$p/comm" 2>/dev/null)"
    done
  done
}

# fault MODE: a long training whose host 2 fails (MODE kill: its rank is
# SIGKILLed; link: its link goes down) once the first checkpoint is
# committed; the whole job must end within 30 s (a hang guard: the test
# fails only past it), non-zero, naming host 2, leaving nothing; then
# --resume continues it on the same hosts for one more epoch.
fault() {
  local mode=$1 run="$out/fault_$1" log="$out/fault_$1.log"
  local flags=(--ranks=2 --cluster --model=resnet_tiny
    --data=synthetic:n=1024,test_n=128,classes=4 --batch_size=16
    --log_every=1000 --out="$run")
  echo "+ train/train ${flags[*]} --epochs=1000 &  (then: $mode host 2)"
  train/train "${flags[@]}" --epochs=1000 >"$log" 2>&1 &
  job_pid=$!
  local i
  for ((i = 0; i < 1200; i++)); do
    [[ -f "$run/checkpoint/CHECKPOINT" ]] && break
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -f "$run/checkpoint/CHECKPOINT" ]] || ! kill -0 "$job_pid"; then
    echo "FAILED: no checkpoint while the job ran:" >&2
    cat "$log" >&2
    exit 1
  fi
  if [[ $mode == kill ]]; then
    local p killed=""
    for p in $(ip netns pids "${c}2"); do
      if [[ "$(cat "/proc/$p/comm")" == train ]]; then
        kill -9 "$p" && killed="$p"
      fi
    done
    [[ -n "$killed" ]] || { echo "FAILED: no rank on ${c}2" >&2; exit 1; }
    echo "+ kill -9 $killed (the rank on ${c}2)"
  else
    echo "+ ip link set veth${c}2 down"
    ip link set "veth${c}2" down
  fi
  local start=$SECONDS
  while kill -0 "$job_pid" 2>/dev/null && ((SECONDS - start <= 30)); do
    sleep 0.2
  done
  if kill -0 "$job_pid" 2>/dev/null; then
    echo "FAILED: the job still ran 30 s after the fault ($mode); on the" \
      "hosts:" >&2
    on_hosts >&2
    echo "its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  local rc=0
  wait "$job_pid" || rc=$?
  job_pid=""
  echo "job ended $((SECONDS - start)) s after the fault, exit $rc:"
  cat "$log"
  if [[ $rc == 0 ]]; then
    echo "FAILED: exit 0 after the fault" >&2
    exit 1
  fi
  expect "${c}2" "$log"
  # Nothing left behind: the namespaces are empty and no rank of this run
  # is alive (mpiexec's cleanup ends within a second once the job ended).
  for ((i = 0; i < 50; i++)); do
    [[ -z "$(on_hosts)" && -z "$(pgrep -f -- "--out=$run")" ]] && break
    sleep 0.1
  done
  if [[ -n "$(on_hosts)$(pgrep -af -- "--out=$run")" ]]; then
    echo "FAILED: left behind after the fault:" >&2
    on_hosts >&2
    pgrep -af -- "--out=$run" >&2
    exit 1
  fi
  [[ $mode == link ]] && ip link set "veth${c}2" up
  local done_epochs
  done_epochs=$(sed -n 's/^epochs_done=//p' "$run/checkpoint/CHECKPOINT")
  run train/train "${flags[@]}" --resume --epochs=$((done_epochs + 1))
  expect "resumed from .* after epoch ${done_epochs} " "$out/log"
  expect "\"epochs\": $((done_epochs + 1))," "$run/summary.json"
}

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
    fault_kill) fault kill ;;
    fault_link) fault link ;;
    resume_ranks)
      # 3 ranks (hosts 1, 2, 1) stopped after epoch 1, resumed on 2.
      local_flags=(--cluster --model=resnet_tiny
        --data=synthetic:n=768,test_n=128,classes=4 --batch_size=16
        --epochs=3 --stats_interval=4 --policy=gradnorm:variant=prefix
        --log_every=1000 --out="$out/ranks")
      run train/train --ranks=3 "${local_flags[@]}" --stop_after_epochs=1
      run train/train --ranks=2 "${local_flags[@]}" --resume
      expect "not bit-exact" "$out/log"
      expect "resumed from .* after epoch 1 \(step 16\)" "$out/log"
      # 16 steps of 48 samples, then 2 epochs of 24 steps of 32.
      expect '"steps": 64,' "$out/ranks/summary.json"
      run trace/trace_tool info "$out/ranks/trace.pb"
      expect "hosts of ranks 0..2: ${c}1 ${c}2 ${c}1" "$out/log"
      ;;
    *)
      echo "unknown job $job" >&2
      exit 2
      ;;
  esac
done
