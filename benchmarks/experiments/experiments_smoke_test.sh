#!/bin/bash
# Runs every experiment of benchmarks/experiments once in --smoke mode
# (resnet_tiny, a few steps, reduced lists), through run_all.py as users run
# them, then experiment 1 again on a fake CIFAR-10 folder and --plot_only;
# checks that every results.json, CSV table and figure was written. The
# numbers mean nothing. Experiment 5 runs without shaping the loopback (a
# test must not change the machine's network): networks single, shm, tcp.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
# The benchmarks package from the runfiles, not from the current folder (-P).
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
py=(/usr/bin/python3 -P -m)
exp=benchmarks.experiments
out="${TEST_TMPDIR:-$(mktemp -d)}/experiments"
export MPLCONFIGDIR="${out}/mpl"
# mpiexec kills a hung job before Bazel's timeout does.
export MPIEXEC_TIMEOUT=$(( ${TEST_TIMEOUT:-900} > 120 ? ${TEST_TIMEOUT:-900} / 4 : 60 ))
mkdir -p "${out}"
bins=(--train_bin="${runfiles}/train/train"
      --replay_bin="${runfiles}/replay/replay"
      --trace_json_bin="${runfiles}/benchmarks/trace_json"
      --calibrate_bin="${runfiles}/comm/calibrate")

"${py[@]}" "${exp}.run_all" --smoke --out="${out}" \
  --pretrain_dir="${out}/pretrain" "${bins[@]}" \
  --args1="--ks=0,4" \
  --args2="--stats_interval=2 --policies=none;gradnorm:variant=prefix;freezeout;gradnorm:variant=prefix,interval={2T},warmup={epoch}" \
  --args3="--stats_interval=2 --partitions=iid;dirichlet:alpha=0.1 --rules=global,snr" \
  --args4="--stats_interval=2" \
  --args5="--networks=single,shm,tcp --ks=0,6" \
  --args7="--rank_counts=2 --frozen=0,2"

check() {
  for f in "$@"; do
    [[ -s "${out}/${f}" ]] || { echo "missing ${out}/${f}" >&2; exit 1; }
  done
}
check exp1_static_sweep/results.json exp1_static_sweep/static_sweep.csv \
  exp1_static_sweep/exp1_time.png exp1_static_sweep/exp1_accuracy.png \
  exp1_static_sweep/exp1_accuracy_per_epoch.png \
  exp2_adaptive/table1.csv exp2_adaptive/exp2_accuracy_per_epoch.png \
  exp2_adaptive/exp2_frozen_units.png exp2_adaptive/exp2_tradeoff.png \
  exp3_votes/votes.csv exp3_votes/exp3_frozen_units.png \
  exp3_votes/exp3_time_accuracy.png \
  exp4_cache/cache.csv exp4_cache/exp4_time_per_epoch.png \
  exp4_cache/exp4_end_to_end.png \
  exp5_comm/comm.csv exp5_comm/calibration_tcp.json exp5_comm/exp5_comm.png \
  exp6_replay/fidelity.csv exp6_replay/validate.csv exp6_replay/scale.csv \
  exp6_replay/exp6_fidelity.png exp6_replay/exp6_scale.png \
  exp7_pytorch/ratios.csv exp7_pytorch/exp7_pytorch.png run_all.json
# Every experiment exited 0; K=0 and K=4 rows; the static:4 run froze 4
# units at step 0; replay predicted every exp1/exp2/exp4/exp5 run.
/usr/bin/python3 - "${out}" <<'PY'
import csv, json, sys
out = sys.argv[1]
runs = json.load(open(f"{out}/run_all.json"))["experiments"]
assert [e["exit"] for e in runs] == [0] * 7, runs
rows = list(csv.DictReader(open(f"{out}/exp1_static_sweep/static_sweep.csv")))
assert [r["K"] for r in rows] == ["0", "4"], rows
assert rows[1]["freeze_events"].split() == [
    "conv1@0", "bn1@0", "layer1@0", "layer2@0"], rows[1]
fid = list(csv.DictReader(open(f"{out}/exp6_replay/fidelity.csv")))
for e in ("exp1", "exp2", "exp4", "exp5", "exp5-cross"):
  assert any(r["experiment"] == e for r in fid), e
val = list(csv.DictReader(open(f"{out}/exp6_replay/validate.csv")))
assert all(r["schedule_matches"] == "True" for r in val), val
print(f"run_all: {len(runs)} experiments, {len(fid)} replay cases, "
      f"{len(val)} validations")
PY

# CIFAR-10's binary format, on a fake folder.
"${py[@]}" "${exp}.fake_cifar10" --out="${out}/cifar" --per_batch=80 \
  --test=60
"${py[@]}" "${exp}.exp1_static_sweep" --smoke \
  --data=cifar10:"${out}/cifar" --out="${out}/cifar_exp1" \
  --pretrain_dir="${out}/pretrain_cifar" --ks=0,6 "${bins[@]}"
check cifar_exp1/static_sweep.csv cifar_exp1/exp1_accuracy_per_epoch.png
grep -q cifar10 "${out}/cifar_exp1/results.json"
# Redrawing from results.json alone.
rm "${out}/cifar_exp1/exp1_time.png"
"${py[@]}" "${exp}.exp1_static_sweep" --plot_only \
  --out="${out}/cifar_exp1" "${bins[@]}"
check cifar_exp1/exp1_time.png
echo "PASS"
