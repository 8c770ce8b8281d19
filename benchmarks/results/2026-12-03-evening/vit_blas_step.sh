#!/bin/bash
# A vit_mini training step on the BLAS Debian's alternatives choose against
# the reference BLAS (forced with LD_LIBRARY_PATH), two runs each, 1 rank x 2
# threads, 5 steps; prints the median step after the first and the BLAS each
# trace recorded. ~4 min (the reference BLAS is slow). Quiet machine.
#   benchmarks/results/2026-12-03-evening/vit_blas_step.sh [OUT]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
O=$(realpath -m "${1:-$REPO/out/vit_blas}")
cd "$REPO"
bazel build //train //benchmarks:trace_json
mkdir -p "$O"
for lib in default reference; do
  for r in 1 2; do
    d="$O/${lib}_$r"
    rm -rf "$d"
    env=()
    [[ $lib == reference ]] && env=(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas)
    env "${env[@]}" bazel-bin/train/train --model=vit_mini --data=fashion_mnist \
      --classes=5,6,7,8,9 --train_limit=640 --test_limit=64 --epochs=1 --max_steps=5 \
      --batch_size=64 --ranks=1 --threads=2 --checkpoints=false --out="$d" > "$d.log" 2>&1
    bazel-bin/benchmarks/trace_json "$d/trace.pb" > "$d/trace.json"
  done
done
/usr/bin/python3 - "$O" <<'PY'
import json, statistics, sys
for lib in ("default", "reference"):
  for r in (1, 2):
    d = json.load(open(f"{sys.argv[1]}/{lib}_{r}/trace.json"))
    steps = [s["phases"]["total_ns"] / 1e6 for s in d["steps"][1:]]
    blas = [l["version"] for l in d["header"].get("libraries", []) if l.get("name") == "blas"]
    print(lib, r, "median step ms", round(statistics.median(steps), 1), blas)
PY
