#!/bin/bash
# The //train binary as users run it (issue 18): usage and configuration
# errors are one "train: error:" line with exit status 2, found before
# mpiexec (no MPI output) and before anything is written; a run into the
# folder of an earlier run is refused and leaves its trace byte-identical;
# --overwrite replaces it; a run too short for its policy warns; --resume
# --epochs=N+1 continues a finished run; --resume of a finished run changes
# nothing; --help is grouped, exit 0, nothing on stderr.
# usage: train_main_test.sh TRAIN
set -uo pipefail
train="$PWD/$1"
tmp="${TEST_TMPDIR:-/tmp}/train_main_test"
rm -rf "$tmp" && mkdir -p "$tmp"
fail=0
small=(--data=synthetic:n=128,test_n=32,classes=4 --model=resnet_tiny
       --batch_size=16 --threads=1 --profile_repeats=1)

# expect_error WANT ARGS...: exit 2, exactly one line on stderr,
# "train: error: ...WANT...", no MPI output, nothing written.
expect_error() {
  local want="$1"
  shift
  "$train" "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err.txt")
  if [[ $rc -ne 2 || $lines -ne 1 ]] ||
     ! grep -qF -- "train: error: " "$tmp/err.txt" ||
     ! grep -qF -- "$want" "$tmp/err.txt" ||
     grep -qiE "MPI_Abort|fatal|rank [0-9]" "$tmp/err.txt" "$tmp/out.txt" ||
     [[ -e "$tmp/bad" ]]; then
    echo "FAIL: train $* exited $rc: $(cat "$tmp/err.txt" "$tmp/out.txt")"
    echo "  (want exit 2, one line with '$want', no MPI output, no $tmp/bad)"
    fail=1
  else
    echo "ok: $* -> $(cat "$tmp/err.txt")"
  fi
}
bad=("${small[@]}" --ranks=2 --out="$tmp/bad")
expect_error "did you mean --augment=false?" "${bad[@]}" --augment false
expect_error "unexpected argument 'extra_junk'" "${bad[@]}" extra_junk
expect_error "did you mean --policy?" "${bad[@]}" --polcy=gradnorm
expect_error "--ranks=N" "${bad[@]}" --nproc_per_node=2
expect_error "valid names: none, static" "${bad[@]}" --policy=gradnrom
expect_error "--vote_rule=median" "${bad[@]}" --vote_rule=median
expect_error "resnet18" "${bad[@]}" --model=resnet19
expect_error "class 7" "${bad[@]}" --classes=2,7
expect_error "--init=$tmp/missing" "${bad[@]}" --init="$tmp/missing"
expect_error "--epochs: must be >= 1" "${bad[@]}" --epochs=0
expect_error "takes only --out" --demo --epochs=2 --out="$tmp/bad"

# --help: grouped, with examples; exit 0; nothing on stderr.
if "$train" --help >"$tmp/help.txt" 2>"$tmp/help_err.txt" &&
   [[ ! -s "$tmp/help_err.txt" ]] &&
   grep -q "^optimizer:" "$tmp/help.txt" &&
   grep -q "^distributed:" "$tmp/help.txt" &&
   grep -q "^examples:" "$tmp/help.txt" &&
   grep -q "(default: resnet18)" "$tmp/help.txt"; then
  echo "ok: --help"
else
  echo "FAIL: --help: $(cat "$tmp/help_err.txt")"
  fail=1
fi

# A run too short for its policy says so (8 steps, decisions every 20).
run="$tmp/run"
"$train" "${small[@]}" --policy=gradnorm --out="$run" >"$tmp/log1.txt" \
  2>"$tmp/err1.txt"
rc=$?
if [[ $rc -eq 0 ]] &&
   grep -qF "train: warning: policy gradnorm decides every 20 steps, and this run has 8 steps: it will make no decision" "$tmp/err1.txt"; then
  echo "ok: a too-short adaptive run warns"
else
  echo "FAIL: short run (exit $rc): $(cat "$tmp/err1.txt")"
  fail=1
fi
cp "$run/trace.pb" "$tmp/trace.before"

# Into the same folder again: refused naming --resume and --overwrite, the
# trace untouched.
"$train" "${small[@]}" --policy=gradnorm --out="$run" >/dev/null 2>"$tmp/err2.txt"
rc=$?
if [[ $rc -eq 2 ]] && grep -qF -- "--resume" "$tmp/err2.txt" &&
   grep -qF -- "--overwrite" "$tmp/err2.txt" &&
   cmp -s "$run/trace.pb" "$tmp/trace.before"; then
  echo "ok: a run into an earlier run's folder is refused, trace unchanged"
else
  echo "FAIL: refused run (exit $rc): $(cat "$tmp/err2.txt")"
  fail=1
fi

# --resume --epochs=2 continues the finished 1-epoch run.
"$train" "${small[@]}" --policy=gradnorm --out="$run" --resume --epochs=2 \
  >"$tmp/log3.txt" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q '"epochs": 2' "$run/summary.json" &&
   grep -q '"steps": 16' "$run/summary.json" &&
   grep -qF "epoch 2/2:" "$tmp/log3.txt"; then
  echo "ok: --resume --epochs=2 continues"
else
  echo "FAIL: resume with more epochs (exit $rc): $(cat "$tmp/log3.txt")"
  fail=1
fi

# Again with the same length: finished, nothing changes.
cp "$run/trace.pb" "$tmp/trace.2"
"$train" "${small[@]}" --policy=gradnorm --out="$run" --resume --epochs=2 \
  >"$tmp/log4.txt" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -qF "is finished (2 epochs); nothing to do" "$tmp/log4.txt" &&
   cmp -s "$run/trace.pb" "$tmp/trace.2"; then
  echo "ok: resuming a finished run changes nothing"
else
  echo "FAIL: finished run (exit $rc): $(cat "$tmp/log4.txt")"
  fail=1
fi

# A mismatch names only what differs.
expect_error "batch_size: 16 in the checkpoint, 8 now" "${small[@]}" \
  --policy=gradnorm --out="$run" --resume --epochs=3 --batch_size=8
if grep -qF "model" "$tmp/err.txt"; then
  echo "FAIL: the mismatch lists more than the difference"
  fail=1
fi

# --overwrite replaces the run.
"$train" "${small[@]}" --policy=static:2 --out="$run" --overwrite \
  >"$tmp/log5.txt" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q '"policy": "static:2"' "$run/summary.json" &&
   [[ ! -e "$run.overwrite" ]] && grep -qF "replaced the earlier run" "$tmp/log5.txt"; then
  echo "ok: --overwrite replaces the run"
else
  echo "FAIL: --overwrite (exit $rc): $(cat "$tmp/log5.txt")"
  fail=1
fi

[[ $fail -eq 0 ]] && echo PASS
exit $fail
