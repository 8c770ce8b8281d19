#!/bin/bash
# The //replay binary end to end: a good run writes a table, replay.json
# (parsed by Debian's python3), replay.csv and a Chrome trace; bad input
# exits with 1 and a message naming the problem (never a crash).
# usage: replay_main_test.sh REPLAY TRACE_1RANK TRACE_2RANK
set -uo pipefail
replay="$PWD/$1"
t1="$PWD/$2"
t2="$PWD/$3"
tmp="${TEST_TMPDIR:-/tmp}/replay_main_test"
rm -rf "$tmp" && mkdir -p "$tmp"
fail=0

out="$("$replay" --trace="$t2" --policies=none,static:2,autofreeze@majority \
  --network=1gbe,10gbe --world_size=2,8,32 --validate --out="$tmp/out" \
  --chrome="$tmp/steps.json" --chrome_case=4 --chrome_steps=5 2>&1)"
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || { echo "FAIL: good run exited $rc"; fail=1; }
grep -q "^static:2 .* 1gbe .* 32 same_data " <<<"$out" || { echo "FAIL: no table row"; fail=1; }
grep -q "^summary, network 1gbe, 32 rank(s):" <<<"$out" || { echo "FAIL: no summary"; fail=1; }
grep -q "^risk: the share of the recorded" <<<"$out" || { echo "FAIL: risk not explained"; fail=1; }
grep -q "^validation: .* held-out error " <<<"$out" || { echo "FAIL: no validation"; fail=1; }
for label in "held-out     fitted on steps" "model-only   start-up profile" "exact replay each step"; do
  grep -qF "  $label" <<<"$out" || { echo "FAIL: no '$label' line"; fail=1; }
done
/usr/bin/python3 - "$tmp/out/replay.json" "$tmp/steps.json" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["results"]) == 3 * 2 * 3, len(r["results"])
for c in r["results"]:
    for k in ("policy", "network", "world_size", "predicted_total_s", "speedup",
              "saved_fraction", "freeze_schedule", "extrapolated_from_step",
              "bytes_allreduced_per_rank", "comm_exposed_s", "accuracy_risk",
              "recorded_accuracy", "scaling", "predicted_interval_s",
              "statistics_assumed", "accuracy_risks"):
        assert k in c, k
    lo, hi = c["predicted_interval_s"]
    assert lo <= c["predicted_total_s"] <= hi, c
    assert c["scaling"] == "same_data", c["scaling"]
assert len(r["summary"]) == 2 * 3, len(r["summary"])
assert "pareto" not in r
v = r["validation"]
assert v["error_fraction_of"] == "held_out", v["error_fraction_of"]
assert v["error_fraction"] == v["held_out"]["error_fraction"]
for k in ("exact_replay_error_fraction", "predicted_total_s", "measured_total_s",
          "phases", "model_only", "notes"):
    assert k in v, k
for part in ("held_out", "model_only"):
    for k in ("predicted_steps", "predicted_total_s", "measured_total_s",
              "error_fraction", "phases", "predicted_interval_s",
              "measured_inside"):
        assert k in v[part], (part, k)
assert v["measured_inside"] is True
events = json.load(open(sys.argv[2]))["traceEvents"]
assert any(e.get("cat") == "comm" for e in events)
for e in events:
    if e["ph"] == "X":
        assert e["dur"] > 0 and e["ts"] >= 0, e
print("json ok")
PY
[[ -s "$tmp/out/replay.csv" ]] || { echo "FAIL: no replay.csv"; fail=1; }
# replay.csv in seconds, as replay.json.
head -1 "$tmp/out/replay.csv" | grep -q ",predicted_total_s,predicted_interval_low_s," ||
  { echo "FAIL: replay.csv columns"; fail=1; }

# The what-if flags: same_steps, intervals in epochs, a straggler and jitter,
# a recommendation.
out2="$("$replay" "$t2" --policies=none,static:2,autofreeze --network=1gbe \
  --world_size=2,4 --scaling=same_steps --interval_in=epochs --straggler=1:1.5 \
  --jitter=0.05 --shared_cores=2 --recommend --max_risk=0.5 --risk_proxy=lr \
  --out="$tmp/out2" 2>&1)"
rc=$?
echo "$out2"
[[ $rc -eq 0 ]] || { echo "FAIL: what-if run exited $rc"; fail=1; }
grep -q "^  Pareto front (saved vs risk): none " <<<"$out2" || { echo "FAIL: no Pareto front"; fail=1; }
grep -q "^  recommended: " <<<"$out2" || { echo "FAIL: no recommendation"; fail=1; }
grep -q "rank 1 computes x1.5, jitter 0.05" <<<"$out2" || { echo "FAIL: skew not shown"; fail=1; }
grep -q "every rank on one machine of 2 cores" <<<"$out2" || { echo "FAIL: shared cores not shown"; fail=1; }
/usr/bin/python3 - "$tmp/out2/replay.json" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
assert r["options"]["scaling"] == "same_steps"
assert r["options"]["stragglers"] == [{"rank": 1, "factor": 1.5}]
assert r["options"]["shared_cores"] == 2
assert r["options"]["fold_frozen"] is False  # as recorded: before folding
assert any("compute x2.0000" in n for c in r["results"] for n in c["notes"])
assert all(c["scaling"] == "same_steps" and c["accuracy_risk_proxy"] == "lr"
           for c in r["results"])
assert len(r["pareto"]) == 2 and len(r["recommended"]) == 2
print("what-if json ok")
PY

bad() {  # expected message, then arguments
  local want="$1"
  shift
  local msg
  msg="$("$replay" "$@" 2>&1 >/dev/null)"
  local rc=$?
  if [[ $rc -ne 1 ]] || ! grep -qF -- "$want" <<<"$msg"; then
    echo "FAIL: replay $* exited $rc with: $msg (expected '$want')"
    fail=1
  else
    echo "ok: $* -> $msg"
  fi
}
head -c 9000 "$t2" > "$tmp/truncated.pb"
printf 'not a trace' > "$tmp/garbage.pb"
bad "--trace=FILE is required"
bad "No such file" --trace="$tmp/missing.pb"
bad "truncated" --trace="$tmp/truncated.pb"
bad "bad magic" --trace="$tmp/garbage.pb"
bad "valid names: none, static" --trace="$t2" --policies=quick
bad "valid networks" --trace="$t2" --network=carrier-pigeon
bad "valid: integers" --trace="$t2" --world_size=0
bad "multiple of 4" --trace="$t2" --world_size=6 \
  --network=hier:ranks_per_node=4,intra_alpha_us=1,intra_gbps=10,inter_alpha_us=1,inter_gbps=1
bad "no all-reduce measurements" --trace="$t1" --network=recorded --world_size=2
bad "valid values are in (0, 1)" --trace="$t2" --policies=none --validate \
  --held_in_fraction=1.5
bad "valid cases are 0..0" --trace="$t2" --policies=none --network=1gbe \
  --chrome="$tmp/x.json" --chrome_case=3
bad "valid values are same_data" --trace="$t2" --scaling=weak
bad "valid values are steps and epochs" --trace="$t2" --interval_in=hours
bad "valid ranks are 0..1" --trace="$t2" --policies=none --straggler=2:1.5
bad "RANK:FACTOR" --trace="$t2" --policies=none --straggler=fast
bad "valid values are fractions >= 0" --trace="$t2" --policies=none --jitter=-0.1
bad "shared cores -2" --trace="$t2" --policies=none --shared_cores=-2
bad "valid: recorded, true, false" --trace="$t2" --policies=none --fold_frozen=yes
# A trace recorded before folding existed has no folded forward to cost.
bad "folded forward" --trace="$t2" --policies=static:2 --network=1gbe \
  --fold_frozen=true
bad "valid values are in [0, 1]" --trace="$t2" --policies=none --max_risk=1.5
bad "valid values are norm_share" --trace="$t2" --risk_proxy=vibes
bad "world sizes up to 64" --trace="$t2" --policies=none --world_size=128
# The valid prefix of a cut trace replays on request.
"$replay" --trace="$tmp/truncated.pb" --allow_partial --policies=none \
  --network=1gbe > "$tmp/partial.txt" 2>&1 || { echo "FAIL: --allow_partial"; fail=1; }
grep -q "cut short" "$tmp/partial.txt" || { echo "FAIL: no note on the cut"; fail=1; }

[[ $fail -eq 0 ]] && echo "PASS" || echo "FAILED"
exit $fail
