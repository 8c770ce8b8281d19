#!/bin/bash
# bazel run //benchmarks:<experiment> -- [flags]: runs the module
# benchmarks.experiments.<experiment> with Debian's python (numpy,
# matplotlib, torch) on the binaries Bazel built for the target; the
# experiment copies them into its output folder before it starts. Relative
# paths are taken from the folder `bazel run` was started in; outputs go to
# out/experiments/ in the checkout unless --out says otherwise.
# Usage (from the BUILD file): experiment.sh MODULE [flags]
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
module="$1"
shift
# The package comes from the runfiles (PYTHONPATH), not from the current
# folder (-P); run_all.py's experiments inherit both.
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
exec /usr/bin/python3 -P -m "benchmarks.experiments.${module}" \
  --train_bin="${runfiles}/train/train" \
  --replay_bin="${runfiles}/replay/replay" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" \
  --calibrate_bin="${runfiles}/comm/calibrate" \
  --cluster_bin="${runfiles}/comm/cluster" "$@"
