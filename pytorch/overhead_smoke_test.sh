#!/bin/bash
# //pytorch:overhead at a tiny size: it runs, on 2 gloo ranks, and reports.
set -euo pipefail
out="${TEST_TMPDIR:-/tmp}/overhead.json"
pytorch/overhead --smoke --out="$out" | tee "${TEST_TMPDIR:-/tmp}/log"
grep -q "^overhead " "${TEST_TMPDIR:-/tmp}/log"
/usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert r['steps'] == 6 and r['plain_mean_ms'] > 0 and r['recorded_mean_ms'] > 0, r
print('overhead smoke: OK')" "$out"
