#!/bin/bash
# Runs every performance benchmark of docs/PERFORMANCE.md once in a minimal
# mode, so that they keep working: the statistics-cost and step-overhead
# Google Benchmarks on a tiny model, and the side-by-side driver (our
# trainer with and without the activation cache, the PyTorch DDP baseline on
# 1 and 2 ranks, trace_json, the efficiency table with the simulator) with 2
# steps at batch 4, for ResNet-18 and for vit_mini. Asserts that the outputs
# exist and hold the expected rows; the numbers themselves are not checked (a
# test is no benchmark).
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
# The benchmarks package from the runfiles, not from the current folder (-P).
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
out="${TEST_TMPDIR:-$(mktemp -d)}/perf_smoke"
mkdir -p "${out}"

"${runfiles}/benchmarks/stats_cost_benchmark" --stats_model=resnet_tiny \
  --stats_batch=4 --stats_threads=1 --stats_intervals=1 --stats_warmup=1 \
  --benchmark_filter='BM_StatsCost/10/' \
  --benchmark_out="${out}/stats.json" --benchmark_out_format=json \
  > "${out}/stats.txt"
grep -q '"fraction_direct"' "${out}/stats.json" || {
  echo "stats_cost_benchmark wrote no fraction_direct counter" >&2
  cat "${out}/stats.txt" >&2
  exit 1
}

"${runfiles}/benchmarks/step_overhead_benchmark" --overhead_model=resnet_tiny \
  --overhead_batch=4 --overhead_threads=1 --overhead_steps=2 \
  --overhead_warmup=1 --benchmark_filter='BM_StepOverhead/4/' \
  --benchmark_out="${out}/overhead.json" --benchmark_out_format=json \
  > "${out}/overhead.txt"
grep -q '"runner_fwdbwd"' "${out}/overhead.json" || {
  echo "step_overhead_benchmark wrote no runner_fwdbwd counter" >&2
  cat "${out}/overhead.txt" >&2
  exit 1
}
"${runfiles}/benchmarks/stats_cost_benchmark" --stats_model=resnet_tiny \
  --stats_threads=1 --stats_intervals=1 --benchmark_filter=Fusion \
  > "${out}/fusion.txt"
grep -q 'acc_fused_ms' "${out}/fusion.txt" || { cat "${out}/fusion.txt" >&2; exit 1; }

/usr/bin/python3 -P -m benchmarks.compare_pytorch \
  --out="${out}/compare" --ranks=1,2 --frozen=0,2 --rounds=1 --steps=2 \
  --warmup=1 --batch_size=4 --train_args=--profile_repeats=1 \
  --stacks=ours,pytorch,ours_cache --quiet_wait_s=0 --retries=0 \
  --train_bin="${runfiles}/train/train" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" \
  --replay_bin="${runfiles}/replay/replay" > "${out}/compare.txt"
for f in ratios.csv efficiency.csv results.json; do
  [[ -s "${out}/compare/${f}" ]] || { echo "missing ${f}" >&2; exit 1; }
done
# Header + 4 configurations; efficiency rows for K=0 and K=2 on 2 rank counts.
[[ "$(wc -l < "${out}/compare/ratios.csv")" == 5 ]] || {
  cat "${out}/compare.txt" >&2; exit 1; }
[[ "$(wc -l < "${out}/compare/efficiency.csv")" == 5 ]] || {
  cat "${out}/compare.txt" >&2; exit 1; }

# The same for a ViT (the baseline runs torchvision's VisionTransformer of
# vit_mini's shape), patch 8 to keep it short: 1 rank, K = 0 and 2.
/usr/bin/python3 -P -m benchmarks.compare_pytorch \
  --out="${out}/compare_vit" --model=vit_mini --patch_size=8 --ranks=1 \
  --frozen=0,2 --rounds=1 --steps=2 --warmup=1 --batch_size=4 \
  --train_args=--profile_repeats=1 --stacks=ours,pytorch --quiet_wait_s=0 \
  --retries=0 --train_bin="${runfiles}/train/train" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" \
  --replay_bin="${runfiles}/replay/replay" > "${out}/compare_vit.txt"
[[ "$(wc -l < "${out}/compare_vit/ratios.csv")" == 3 ]] || {
  cat "${out}/compare_vit.txt" >&2; exit 1; }
grep -q "embedding+encoder_layer_0" "${out}/compare_vit/efficiency.csv" || {
  cat "${out}/compare_vit.txt" >&2; exit 1; }
grep -q "VisionTransformer" \
  "${out}"/compare_vit/runs/pytorch_r1_k2_round0_try0/ddp_baseline.json || {
  echo "the baseline did not run a ViT" >&2; exit 1; }
echo "PASS"
