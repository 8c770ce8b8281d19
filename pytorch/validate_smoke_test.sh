#!/bin/bash
# //pytorch:validate at a tiny size: every step of the tooling runs and
# validation.json has a predicted and a measured time for every policy.
set -euo pipefail
out="${TEST_TMPDIR:-/tmp}/validate_smoke"
rm -rf "$out"
pytorch/validate --smoke --out="$out" --max_steps=6
/usr/bin/python3 - "$out/validation.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
rows = {r["policy"]: r for r in v["rows"]}
want = ["none", "static:2", "static:4", "static:5", "gradnorm"]
assert list(rows) == want, list(rows)
for r in rows.values():
  assert r["predicted_mean_s"] > 0 and r["measured_mean_s"] > 0, r
m = v["rounds"][0]["measured"]
assert [e["name"] for e in m["static:4"]["freeze_events"]] == \
    ["conv1", "bn1", "layer1", "layer2"], m["static:4"]
print("validate smoke: OK")
PY
