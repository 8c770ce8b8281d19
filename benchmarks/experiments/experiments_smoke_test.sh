#!/bin/bash
# Runs every experiment of benchmarks/experiments once in --smoke mode
# (resnet_tiny; experiment 8 vit_mini with patch 8; a few steps, reduced
# lists), through run_all.py as users run them, then experiment 1 again on a
# fake CIFAR-10 folder and --plot_only;
# checks that every results.json, CSV table and figure was written. The
# numbers mean nothing. Experiment 5 runs without shaping the loopback (a
# test must not change the machine's network): networks single, shm, tcp.
set -euo pipefail
# runfiles, py, exp, out, bins.
source "${RUNFILES_DIR:-$0.runfiles}/freezing/benchmarks/experiments/smoke_env.sh" \
  experiments

"${py[@]}" "${exp}.run_all" --smoke --out="${out}" \
  --pretrain_dir="${out}/pretrain" "${bins[@]}" \
  --args1="--ks=0,4" \
  --args2="--stats_interval=2 --policies=none;gradnorm:variant=prefix;freezeout;gradnorm:variant=prefix,interval={2T},warmup={epoch}" \
  --args3="--stats_interval=2 --partitions=iid;dirichlet:alpha=0.1 --rules=global,snr" \
  --args4="--stats_interval=2" \
  --args5="--networks=single,shm,tcp --ks=0,6" \
  --args7="--rank_counts=2 --frozen=0,2" \
  --args8="--stats_interval=2 --ks=0,3 --policies=gradnorm:variant=prefix --cache_ks=3"

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
  exp7_pytorch/ratios.csv exp7_pytorch/exp7_pytorch.png \
  exp8_vit/static_sweep.csv exp8_vit/where_time_goes.csv \
  exp8_vit/adaptive.csv exp8_vit/cache.csv exp8_vit/replay.csv \
  exp8_vit/exp8_where_time_goes.png exp8_vit/exp8_static_sweep.png \
  exp8_vit/exp8_adaptive.png exp8_vit/exp8_cache.png \
  exp8_vit/exp8_replay.png run_all.json
# Every experiment exited 0; K=0 and K=4 rows; the static:4 run froze 4
# units at step 0; replay predicted every exp1/exp2/exp4/exp5 run.
/usr/bin/python3 - "${out}" <<'PY'
import csv, json, sys
out = sys.argv[1]
runs = json.load(open(f"{out}/run_all.json"))["experiments"]
assert [e["exit"] for e in runs] == [0] * 8, runs
rows = list(csv.DictReader(open(f"{out}/exp1_static_sweep/static_sweep.csv")))
assert [r["K"] for r in rows] == ["0", "4"], rows
assert rows[1]["freeze_events"].split() == [
    "conv1@0", "bn1@0", "layer1@0", "layer2@0"], rows[1]
fid = list(csv.DictReader(open(f"{out}/exp6_replay/fidelity.csv")))
for e in ("exp1", "exp2", "exp4", "exp5", "exp5-cross"):
  assert any(r["experiment"] == e for r in fid), e
val = list(csv.DictReader(open(f"{out}/exp6_replay/validate.csv")))
assert all(r["schedule_matches"] == "True" for r in val), val
# Experiment 8: a ViT (vit_mini's units), ResNet beside it, the cache hit,
# replay predicted both runs (how well is not checked: smoke timings).
units = [r["name"] for r in csv.DictReader(
    open(f"{out}/exp8_vit/where_time_goes.csv")) if r["model"] == "vit_mini"]
assert units[0] == "embedding" and units[-1] == "head" and len(units) == 8, units
sweep = list(csv.DictReader(open(f"{out}/exp8_vit/static_sweep.csv")))
assert sweep[1]["frozen_units"] == "embedding+encoder_layer_0+encoder_layer_1"
cache = {r["config"]: r for r in csv.DictReader(
    open(f"{out}/exp8_vit/cache.csv"))}
assert int(cache["static3_cache"]["cache_hits"]) > 0, cache
assert len(list(csv.DictReader(open(f"{out}/exp8_vit/replay.csv")))) == 2
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
