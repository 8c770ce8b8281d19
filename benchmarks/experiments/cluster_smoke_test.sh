#!/bin/bash
# The experiments that run on emulated clusters, at --smoke sizes
# (resnet_tiny, a few steps): experiment 5 on shared memory and a 2-host
# 1 Gbit/s cluster (K = 0, 6), experiment 9 (1 Gbit/s: 2 ranks recorded, 3
# predicted and run, none and static:4; the straggler's 3 hosts), then
# experiment 6 on their outputs. Every cluster is brought up under a name of
# this test's own (never a user's `h`), brought down by the experiments, and
# checked afterwards: nothing of it may be left. Checks that every table
# and figure was written, that each predicted case has its measured run,
# and that experiment 6 read both. The numbers mean nothing.
# Needs root: fails without it, unless FREEZING_NO_CLUSTER=1 (then skips),
# as //comm:cluster_test, whose checks this sources.
set -euo pipefail
# runfiles, py, exp, out, bins.
source "${RUNFILES_DIR:-$0.runfiles}/freezing/benchmarks/experiments/smoke_env.sh" \
  cluster_experiments
# cluster_test_require, cluster_test_name, cluster_leftovers.
source "${runfiles}/comm/cluster_test.sh"
cluster_test_require
name="$(cluster_test_name)"

finish() {
  local rc=$?
  trap - EXIT INT TERM
  # The experiments bring their clusters down; this is for when one was
  # killed before it could.
  if [[ -n "$(cluster_leftovers "$name")" ]]; then
    FREEZING_CLUSTER="$name" "${runfiles}/comm/cluster" down || true
  fi
  local left
  left="$(cluster_leftovers "$name")"
  if [[ -n "$left" ]]; then
    echo "FAILED: left behind:" >&2
    echo "$left" >&2
    rc=1
  fi
  [[ $rc == 0 ]] && echo "PASS" || echo "FAILED (exit $rc)" >&2
  exit $rc
}
trap finish EXIT
trap 'exit 143' INT TERM  # Bazel's timeout: still clean up

common=(--smoke --pretrain_dir="${out}/pretrain" --cluster_name="$name"
        "${bins[@]}")
"${py[@]}" "${exp}.exp5_comm" --out="${out}/exp5_comm" "${common[@]}" \
  --networks=shm,cluster_1gbit --ks=0,6
"${py[@]}" "${exp}.exp9_cluster" --out="${out}/exp9_cluster" "${common[@]}"
"${py[@]}" "${exp}.exp6_replay" --out="${out}/exp6_replay" "${bins[@]}" \
  --exp1= --exp2= --exp4= --exp5="${out}/exp5_comm" \
  --exp9="${out}/exp9_cluster"

for f in exp5_comm/comm.csv exp5_comm/calibration_cluster_1gbit.json \
  exp5_comm/exp5_comm.png exp9_cluster/results.json \
  exp9_cluster/validation.csv exp9_cluster/calibration_1gbit.json \
  exp9_cluster/exp9_cluster.png exp9_cluster/exp9_errors.png \
  exp6_replay/fidelity.csv exp6_replay/cluster_validation.csv; do
  [[ -s "${out}/${f}" ]] || { echo "missing ${out}/${f}" >&2; exit 1; }
done
/usr/bin/python3 - "${out}" "${name}" "${runfiles}/benchmarks/trace_json" <<'PY'
import csv, json, subprocess, sys
out, name, trace_json = sys.argv[1:]
e5 = json.load(open(f"{out}/exp5_comm/results.json"))
assert not e5["skipped"], e5["skipped"]
assert {r["network"] for r in e5["rows"]} == {"shm", "cluster_1gbit"}
cal = e5["calibrations"]["cluster_1gbit"]
assert {f["operation"] for f in cal["fits"]} == {"allreduce", "iallreduce"}
# The cluster's ranks ran on its hosts (the trace header says where).
def rank_hosts(run):
  t = json.loads(subprocess.run([trace_json, f"{run}/trace.pb"], check=True,
                                capture_output=True, text=True).stdout)
  return t["header"]["machine"]["rank_hosts"]
hosts = rank_hosts(f"{out}/exp5_comm/runs/cluster_1gbit_k0")
assert hosts == [f"{name}1", f"{name}2"], hosts
hosts = rank_hosts(f"{out}/exp9_cluster/runs/straggler_p3_none")
assert hosts == [f"{name}1", f"{name}2", f"{name}3"], hosts
e9 = json.load(open(f"{out}/exp9_cluster/results.json"))
sizes = {f["world_size"] for f in e9["calibrations"]["1gbit"]["fits"]}
assert sizes == {2, 3}, sizes
rows = list(csv.DictReader(open(f"{out}/exp9_cluster/validation.csv")))
# recorded, calibrated and 1gbe, shared and own cores, p = 2, 3, 2 policies;
# the straggler: hosts and calibrated, shared and own.
cases = {(r["rate"], r["world_size"], r["policy"], r["network"], r["cores"])
         for r in rows}
assert len(cases) == len(rows) == 3 * 2 * 2 * 2 + 2 * 2, sorted(cases)
assert all(r["measured_s"] for r in rows), rows
assert {r["cores"] for r in rows} == {f"shared:{e9['shared_cores']}",
                                      "own"}, rows
assert sum(r["recording"] == "True" for r in rows) == 2, rows
strag = [r for r in rows if r["rate"].startswith("straggler")]
assert {r["network"] for r in strag} == {"hosts", "calibrated"}, strag
assert "algorithm=ring" in e9["straggler"]["spec"], e9["straggler"]
for r in e9["rows"]:
  if r["cores"] != "own":
    assert "--shared_cores=" in r["command"], r["command"]
fid = list(csv.DictReader(open(f"{out}/exp6_replay/fidelity.csv")))
assert any(r["group"] == "shm->cluster_1gbit" for r in fid), fid
cv = list(csv.DictReader(open(f"{out}/exp6_replay/cluster_validation.csv")))
assert len(cv) == len(rows), (len(cv), len(rows))
print(f"exp5: {len(e5['rows'])} runs; exp9: {len(rows)} predictions; "
      f"exp6: {len(fid)} fidelity cases")
PY
