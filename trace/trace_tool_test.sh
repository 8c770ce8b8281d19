#!/bin/bash
# trace_tool end to end on generated traces: every command's output parses,
# and bad input fails with a clear message and a non-zero exit.
# usage: trace_tool_test.sh TRACE_TOOL MAKE_TEST_TRACES CHROME_TRACE_CHECK
set -euo pipefail
TOOL="$PWD/$1"
MAKE="$PWD/$2"
CHECK="$PWD/$3"
# Debian's python3, not whatever python3 is first on PATH.
PYTHON=/usr/bin/python3
[[ -x "$PYTHON" ]] || { echo "FAIL: $PYTHON missing (tools/setup.sh)"; exit 1; }
T="${TEST_TMPDIR:-$(mktemp -d)}"
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

"$MAKE" --out_dir="$T"

# info
"$TOOL" info "$T/resnet18.trace" >"$T/info.txt"
for want in "state: complete" "model: resnet18" "units (10):" \
            "freeze events (3):" "final test accuracy:" \
            "step 20 (epoch 1, interval 1): freeze conv1, unfreeze none" \
            "epoch 2: last step 79"; do
  if grep -qF "$want" "$T/info.txt"; then ok "info has '$want'"; else bad "info lacks '$want'"; fi
done

# A relative FILE is taken from BUILD_WORKING_DIRECTORY (as under bazel run).
if (cd / && BUILD_WORKING_DIRECTORY="$T" "$TOOL" info resnet18.trace >/dev/null); then
  ok "relative path via BUILD_WORKING_DIRECTORY"
else
  bad "relative path via BUILD_WORKING_DIRECTORY"
fi

# The trace as --trace instead of an argument.
if "$TOOL" info --trace="$T/resnet18.trace" | grep -qF "model: resnet18"; then
  ok "info --trace=FILE"
else
  bad "info --trace=FILE"
fi

# --help: grouped, with examples, exit 0, nothing on stderr.
if "$TOOL" --help >"$T/help.txt" 2>"$T/help_err.txt" &&
   grep -q "^examples:" "$T/help.txt" && grep -q "^outputs:" "$T/help.txt" &&
   [[ ! -s "$T/help_err.txt" ]]; then
  ok "--help"
else
  bad "--help: $(cat "$T/help_err.txt")"
fi

# dump: one block per record.
"$TOOL" dump "$T/resnet18.trace" >"$T/dump.txt"
n=$(grep -c '^# record ' "$T/dump.txt")
if [[ "$n" == 96 ]]; then ok "dump has 96 records"; else bad "dump has $n records, want 96"; fi

# to-csv: both tables parse with a constant column count; --out's folder is
# created.
"$TOOL" to-csv "$T/resnet18.trace" --out="$T/csv"
if "$PYTHON" - "$T/csv/resnet18.steps.csv" "$T/csv/resnet18.intervals.csv" <<'PY'
import csv, sys
for path, rows_wanted in ((sys.argv[1], 81), (sys.argv[2], None)):
    rows = list(csv.reader(open(path, newline="")))
    assert all(len(r) == len(rows[0]) for r in rows), path
    assert rows_wanted is None or len(rows) == rows_wanted, (path, len(rows))
    for r in rows[1:]:
        float(r[0])
print("csv ok")
PY
then ok "to-csv tables parse"; else bad "to-csv tables"; fi

# to-chrome: parsed and checked by Python's json.
"$TOOL" to-chrome "$T/resnet18.trace" --out="$T/chrome.json"
if "$PYTHON" "$CHECK" "$T/chrome.json"; then ok "to-chrome resnet18"; else bad "to-chrome resnet18"; fi
"$TOOL" to-chrome "$T/died.trace" >"$T/died.json"
if "$PYTHON" "$CHECK" "$T/died.json"; then ok "to-chrome to stdout"; else bad "to-chrome to stdout"; fi

# Bad input: non-zero exit and a message naming the problem.
expect_fail() {  # expect_fail WANT_CODE WANT_TEXT ARGS...
  local code=$1 text=$2
  shift 2
  set +e
  "$TOOL" "$@" >"$T/out.txt" 2>"$T/err.txt"
  local got=$?
  set -e
  if [[ $got == "$code" ]] && grep -qF "$text" "$T/err.txt"; then
    ok "exit $code with '$text' for: $*"
  else
    bad "want exit $code with '$text' for: $* (got $got: $(cat "$T/err.txt"))"
  fi
}
expect_fail 2 "trace_tool: error: no trace" info
expect_fail 2 "trace_tool: error: unknown command" frobnicate "$T/tiny.trace"
expect_fail 2 "unexpected argument 'extra'" info "$T/tiny.trace" extra
expect_fail 2 "did you mean --out?" info "$T/tiny.trace" --otu=x.txt
expect_fail 2 "not both" info "$T/tiny.trace" --trace="$T/tiny.trace"
expect_fail 1 "trace_tool: error: trace $T/missing.trace: open: No such file" info "$T/missing.trace"
expect_fail 1 "truncated" info "$T/cut.trace"
expect_fail 1 "bad magic" info "$T/dump.txt"
: >"$T/empty.trace"
expect_fail 1 "empty file" to-chrome "$T/empty.trace"
if "$TOOL" info --allow_partial "$T/cut.trace" >/dev/null 2>&1; then
  ok "--allow_partial accepts a cut trace"
else
  bad "--allow_partial"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
