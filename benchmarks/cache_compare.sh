#!/bin/bash
# End-to-end effect of the activation cache, side by side in one invocation:
# no freezing, the study's 4 child units frozen (static:4: conv1, bn1, layer1,
# layer2), and static:4 with the cache, on ResNet-18 / Fashion-MNIST classes
# 5-9, 2 ranks x 1 thread, batch 64 per rank. The three runs are interleaved
# in ROUNDS rounds, the order rotated every round. Step time is the max over
# ranks (from the trace), its median taken over the steps of an epoch in one
# round; the tables show the best round of each configuration (load from other
# jobs only ever adds time: on the shared VM whole runs were 1.5x slower than
# the next one) and list every round's last-epoch median.
#
#   benchmarks/cache_compare.sh                  # K=1 and K=4, 3 rounds
#   VARIANTS="2" ROUNDS=5 benchmarks/cache_compare.sh
#
# K = --augment_variants: each sample has K fixed augmentations and an epoch
# uses one of them, so the cache is warm from epoch 2 with K=1 and fills over
# the epochs with K>1 (epoch e hits with probability about 1-(1-1/K)^(e-1)).
# Prints, per K: step time per epoch, total training time (best round), and
# the speed-ups. Outputs under OUT (default /tmp/cache_compare; about 1 MB per
# run once the checkpoints are removed).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/cache_compare}
ROUNDS=${ROUNDS:-3}
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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for k in $VARIANTS; do
  for ((r = 0; r < ROUNDS; ++r)); do
    for ((i = 0; i < ${#CONFIGS[@]}; ++i)); do
      c=${CONFIGS[$(((i + r) % ${#CONFIGS[@]}))]}
      dir="$OUT/k$k/$c/round$r"
      echo "== K=$k round $r: $c" >&2
      mkdir -p "$(dirname "$dir")"
      # shellcheck disable=SC2086
      "$TRAIN" "${COMMON[@]}" --augment_variants="$k" ${FLAGS[$c]} \
        --out="$dir" > "$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
      "$TRACE_TOOL" to-csv "$dir/trace.pb" > /dev/null 2>&1
      # Checkpoints are ~0.9 GB per run (model, momentum and statistics per
      # rank and epoch): keep only the trace, summary and config.
      rm -rf "$dir/checkpoint" "$dir/model.pt"
    done
  done
done

echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" "$VARIANTS" "$ROUNDS" "${CONFIGS[@]}" <<'EOF'
import csv, json, statistics, sys
out, variants, rounds, configs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4:]
print(f"ResNet-18 child units, Fashion-MNIST 5-9, 2 ranks x 1 thread, batch 64/rank,"
      f" {rounds} round(s).\nStep time = max over ranks (trace), median over the"
      f" steps of an epoch in one round; the table shows the best round (other"
      f" jobs only ever add time), the per-round values follow.")
for k in variants:
    rows = {}
    for c in configs:
        per_round, totals, hits, misses = [], [], 0, 0
        for r in range(rounds):
            d = f"{out}/k{k}/{c}/round{r}"
            epochs = {}
            with open(f"{d}/trace.steps.csv") as f:
                for s in csv.DictReader(f):
                    epochs.setdefault(int(s["epoch"]), []).append(
                        int(s["max_rank_total_ns"]) / 1e6)
            per_round.append({e: statistics.median(v) for e, v in epochs.items()})
            summary = json.load(open(f"{d}/summary.json"))
            totals.append(summary["total_time_s"])
            hits += summary["cache"]["hits"]
            misses += summary["cache"]["misses"]
        epochs = sorted(per_round[0])
        rows[c] = dict(best={e: min(p[e] for p in per_round) for e in epochs},
                       rounds=per_round, total=min(totals), totals=totals,
                       hits=hits, misses=misses)
    epochs = sorted(rows[configs[0]]["best"])
    last = epochs[-1]
    print(f"\nK={k} (--augment_variants={k}); step times in ms")
    print(f"{'config':<15}" + "".join(f"{'epoch ' + str(e + 1):>10}" for e in epochs)
          + f"{'total s':>10}{'hits':>8}{'misses':>8}   last epoch per round")
    for c in configs:
        r = rows[c]
        print(f"{c:<15}" + "".join(f"{r['best'][e]:>10.1f}" for e in epochs)
              + f"{r['total']:>10.2f}{r['hits']:>8}{r['misses']:>8}   "
              + " ".join(f"{p[last]:.0f}" for p in r["rounds"]))
    for a, b in [("none", "static4"), ("none", "static4_cache"), ("static4", "static4_cache")]:
        x, y = rows[a], rows[b]
        print(f"speed-up {b} vs {a}: last epoch {x['best'][last] / y['best'][last]:.2f}x,"
              f" total time {x['total'] / y['total']:.2f}x")
EOF
