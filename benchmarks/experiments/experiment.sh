#!/bin/bash
# bazel run //benchmarks:<experiment> -- [flags]: runs
# benchmarks/experiments/<experiment>.py with Debian's python (numpy,
# matplotlib, torch) on the binaries Bazel built for the target; the
# experiment copies them into its output folder before it starts. Relative
# paths are taken from the folder `bazel run` was started in; outputs go to
# out/experiments/ in the checkout unless --out says otherwise.
# Usage (from the BUILD file): experiment.sh SCRIPT.py [flags]
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
script="$1"
shift
exec /usr/bin/python3 "${runfiles}/benchmarks/experiments/${script}" \
  --train_bin="${runfiles}/train/train" \
  --replay_bin="${runfiles}/replay/replay" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" \
  --calibrate_bin="${runfiles}/comm/calibrate" "$@"
