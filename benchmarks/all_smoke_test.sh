#!/bin/bash
# Runs //benchmarks:all in its minimal mode (every Google Benchmark binary of
# the repository once, tiny sizes) and checks that each wrote a JSON file
# with at least one benchmark, and the index. The numbers are not checked.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
out="${TEST_TMPDIR:-$(mktemp -d)}/all"
export MPIEXEC_TIMEOUT=$(( ${TEST_TIMEOUT:-300} > 60 ? ${TEST_TIMEOUT:-300} / 3 : 30 ))
"${runfiles}/benchmarks/all_benchmarks.sh" --smoke --out="$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
index = json.load(open(f"{out}/index.json"))
names = [e["name"] for e in index]
expected = ["allreduce_benchmark", "reducer_benchmark", "trace_benchmark",
            "loader_benchmark", "model_benchmark", "activation_cache_benchmark",
            "freezer_benchmark", "stats_cost_benchmark",
            "step_overhead_benchmark", "replay_benchmark"]
assert names == expected, names
for e in index:
  assert e["exit"] == 0, e
  res = json.load(open(f"{out}/{e['name']}.json"))
  assert res["benchmarks"], e["name"]
  assert not any(b.get("error_occurred") for b in res["benchmarks"]), e["name"]
  print(f"{e['name']}: {len(res['benchmarks'])} benchmark rows, "
        f"{e['wall_s']} s")
PY
echo "PASS"
