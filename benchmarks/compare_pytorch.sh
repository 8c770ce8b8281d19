#!/bin/bash
# bazel run //benchmarks:compare_pytorch -- --out=DIR [flags of
# compare_pytorch.py]: runs the module benchmarks.compare_pytorch with
# Debian's python (which has torch and torchvision) on the binaries Bazel
# built for this target. Relative --out paths are taken from the folder bazel
# run started in.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
# The package comes from the runfiles (PYTHONPATH), not from the current
# folder (-P).
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
cd "${BUILD_WORKING_DIRECTORY:-.}"
exec /usr/bin/python3 -P -m benchmarks.compare_pytorch \
  --train_bin="${runfiles}/train/train" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" \
  --replay_bin="${runfiles}/replay/replay" "$@"
