#!/bin/bash
# //pytorch:finetune at a tiny size on 2 gloo ranks (static:4: the initial
# freeze and the DDP re-wrap), then its outputs; and bad flags exit 1 with
# the trainer's kind of message, before training.
set -euo pipefail
finetune="$PWD/pytorch/finetune"
trace_tool="$PWD/trace/trace_tool"
tmp="${TEST_TMPDIR:-/tmp}"
out="$tmp/ft"
common=(--data=synthetic --classes=0,1,2 --train_limit=64 --test_limit=16
  --batch_size=8 --epochs=2 --max_steps=6 --stats_interval=2
  --profile_repeats=1 --quiet)
"$finetune" --ranks=2 --policy=static:4 --out="$out" "${common[@]}"
for f in trace.pb summary.json config.json model.pt; do
  test -s "$out/$f" || { echo "missing $out/$f"; exit 1; }
done
"$trace_tool" info "$out/trace.pb" > "$tmp/info.txt"
grep -q "steps 6" "$tmp/info.txt"
grep -q "freeze events 1" "$tmp/info.txt"
/usr/bin/python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["steps"] == 6 and s["ranks"] == 2 and s["epochs"] == 2, s
assert [e["name"] for e in s["freeze_events"]] == \
    ["conv1", "bn1", "layer1", "layer2"], s["freeze_events"]
assert len(s["test_accuracy_per_epoch"]) == 2, s  # 4 + 2 steps
assert s["bytes_allreduced"] > 0
PY
# Bad flags: a message naming the flag, exit 1, nothing trained.
if "$finetune" --policy=gradnorm:bogus=1 --out="$tmp/bad" "${common[@]}" \
    2> "$tmp/err.txt"; then
  echo "a bad --policy was accepted"; exit 1
fi
grep -q "^finetune: error: --policy=gradnorm:bogus=1: policy spec 'gradnorm:bogus=1': unknown key 'bogus'" "$tmp/err.txt"
touch "$tmp/a_file"
if "$finetune" --ranks=2 --out="$tmp/a_file/run" "${common[@]}" \
    2> "$tmp/err.txt"; then
  echo "an unwritable --out was accepted"; exit 1
fi
grep -q "cannot write the output folder" "$tmp/err.txt"
echo "finetune smoke: OK"
