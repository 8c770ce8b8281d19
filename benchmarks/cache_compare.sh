#!/bin/bash
# End-to-end effect of the activation cache, side by side in one invocation:
# no freezing, the study's 4 child units frozen (static:4: conv1, bn1, layer1,
# layer2), and static:4 with the cache, on ResNet-18 / Fashion-MNIST classes
# 5-9, 2 ranks x 1 thread, batch 64 per rank. The three runs are interleaved
# in ROUNDS rounds (other load on a shared machine hits all of them alike) and
# every number is a median over steps (max over ranks of the step's time,
# from the trace).
#
#   benchmarks/cache_compare.sh                  # K=1 and K=4, 1 round
#   VARIANTS="2" ROUNDS=2 benchmarks/cache_compare.sh
#
# K = --augment_variants: each sample has K fixed augmentations and an epoch
# uses one of them, so the cache is warm from epoch 2 with K=1 and fills over
# the epochs with K>1 (epoch e hits with probability about 1-(1-1/K)^(e-1)).
# Prints, per K: median step time per epoch, total training time, and the
# speed-ups. Outputs under OUT (default /tmp/cache_compare).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/cache_compare}
ROUNDS=${ROUNDS:-1}
VARIANTS=${VARIANTS:-"1 4"}
EPOCHS=${EPOCHS:-3}
TRAIN_LIMIT=${TRAIN_LIMIT:-2048}

bazel build //train:train //trace:trace_tool >&2
BIN=$(bazel info bazel-bin 2>/dev/null)
TRAIN="$BIN/train/train"
TRACE_TOOL="$BIN/trace/trace_tool"

COMMON=(--data=fashion_mnist --classes=5,6,7,8,9 --train_limit="$TRAIN_LIMIT"
        --test_limit=256 --epochs="$EPOCHS" --batch_size=64 --ranks=2
        --threads=1 --model=resnet18 --freeze_unit=child --seed=1
        --log_every=100000)

declare -A FLAGS=(
  [none]="--policy=none"
  [static4]="--policy=static:4"
  [static4_cache]="--policy=static:4 --cache"
)
CONFIGS=(none static4 static4_cache)

rm -rf "$OUT"
for k in $VARIANTS; do
  for ((r = 0; r < ROUNDS; ++r)); do
    for c in "${CONFIGS[@]}"; do
      dir="$OUT/k$k/$c/round$r"
      echo "== K=$k round $r: $c" >&2
      mkdir -p "$(dirname "$dir")"
      # shellcheck disable=SC2086
      "$TRAIN" "${COMMON[@]}" --augment_variants="$k" ${FLAGS[$c]} \
        --out="$dir" > "$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
      "$TRACE_TOOL" to-csv "$dir/trace.pb" > /dev/null
    done
  done
done

python3 - "$OUT" "$VARIANTS" "$ROUNDS" "${CONFIGS[@]}" <<'EOF'
import csv, json, statistics, sys
out, variants, rounds, configs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4:]
print("ResNet-18 child units, Fashion-MNIST 5-9, 2 ranks x 1 thread, batch 64/rank;"
      " median step time (max over ranks) in ms")
for k in variants:
    rows = {}
    for c in configs:
        per_epoch, total_s, hits, misses, saved = {}, [], 0, 0, 0
        for r in range(rounds):
            d = f"{out}/k{k}/{c}/round{r}"
            with open(f"{d}/trace.steps.csv") as f:
                for s in csv.DictReader(f):
                    per_epoch.setdefault(int(s["epoch"]), []).append(
                        int(s["max_rank_total_ns"]) / 1e6)
            summary = json.load(open(f"{d}/summary.json"))
            total_s.append(summary["total_time_s"])
            hits += summary["cache"]["hits"]
            misses += summary["cache"]["misses"]
            saved += summary["cache"]["forward_saved_s"]
        allsteps = [x for v in per_epoch.values() for x in v]
        rows[c] = dict(epochs={e: statistics.median(v) for e, v in sorted(per_epoch.items())},
                       all=statistics.median(allsteps),
                       total=statistics.median(total_s), hits=hits, misses=misses,
                       saved=saved / rounds)
    epochs = sorted(rows[configs[0]]["epochs"])
    print(f"\nK={k} (--augment_variants={k})")
    print(f"{'config':<15}" + "".join(f"{'epoch ' + str(e + 1):>10}" for e in epochs)
          + f"{'all':>10}{'total s':>10}{'hits':>8}{'misses':>8}")
    for c in configs:
        r = rows[c]
        print(f"{c:<15}" + "".join(f"{r['epochs'][e]:>10.1f}" for e in epochs)
              + f"{r['all']:>10.1f}{r['total']:>10.2f}{r['hits']:>8}{r['misses']:>8}")
    last = epochs[-1]
    def ratio(a, b, key):
        x, y = rows[a], rows[b]
        return (x["epochs"][last] / y["epochs"][last]) if key == "last" else x[key] / y[key]
    for a, b in [("none", "static4"), ("none", "static4_cache"), ("static4", "static4_cache")]:
        print(f"speed-up {b} vs {a}: last epoch {ratio(a, b, 'last'):.2f}x,"
              f" all steps {ratio(a, b, 'all'):.2f}x, total time {ratio(a, b, 'total'):.2f}x")
EOF
