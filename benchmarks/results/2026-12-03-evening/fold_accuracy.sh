#!/bin/bash
# Folded vs plain prefix: accuracy over 6 seeds (issue 17, item 2), one run at
# a time. Run from anywhere in the checkout on a quiet machine:
#   benchmarks/results/2026-12-03-evening/fold_accuracy.sh [OUT]   (~5 min)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
O=$(realpath -m "${1:-$REPO/out/fold17b}")
cd "$REPO"
bazel build //train
B=$(mktemp -d)
trap 'rm -rf "$B"' EXIT
cp "$(realpath bazel-bin/train/train)" "$B/train"   # rebuilds during the runs change nothing
mkdir -p "$O"
echo "=== fold17b start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$O/steps.log"
base=(--model=resnet18 --ranks=2 --data=fashion_mnist --classes=5,6,7,8,9
  --train_limit=4096 --test_limit=1000 --epochs=2 --batch_size=32
  --stats_interval=4 --stats_window=4 --policy=static:4 --log_every=1000 --checkpoints=false)
for seed in 1 2 3 4 5 6; do
  for fold in false true; do
    rc=0
    "$B/train" "${base[@]}" --seed=$seed --fold_frozen=$fold --out="$O/s${seed}_fold_${fold}" --overwrite \
      > "$O/s${seed}_fold_${fold}.log" 2>&1 || rc=$?
    echo "seed $seed fold $fold rc=$rc $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$O/steps.log"
  done
done
/usr/bin/python3 - "$O" <<'PY' | tee -a "$O/steps.log"
import json, statistics, sys
O = sys.argv[1]
rows = []
for seed in range(1, 7):
  a = {f: json.load(open(f"{O}/s{seed}_fold_{f}/summary.json")) for f in ("false", "true")}
  rows.append((seed, a["false"]["final_test_accuracy"], a["true"]["final_test_accuracy"],
               a["false"]["total_time_s"], a["true"]["total_time_s"]))
  print(f"seed {seed}: plain {rows[-1][1]:.4f} folded {rows[-1][2]:.4f}  time plain {rows[-1][3]:.2f} folded {rows[-1][4]:.2f}")
plain = [r[1] for r in rows]; fold = [r[2] for r in rows]; d = [f - p for p, f in zip(plain, fold)]
print(f"plain mean {statistics.mean(plain):.4f} sd {statistics.stdev(plain):.4f}; folded mean {statistics.mean(fold):.4f} sd {statistics.stdev(fold):.4f}")
m, sd = statistics.mean(d), statistics.stdev(d)
print(f"paired difference folded - plain: mean {100*m:+.2f} points, sd {100*sd:.2f}, t = {m / (sd / len(d) ** 0.5):.2f} over {len(d)} seeds")
PY
echo "=== fold17b done $(date -u +%H:%M:%S)" | tee -a "$O/steps.log"
