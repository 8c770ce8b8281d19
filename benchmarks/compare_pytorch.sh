#!/bin/bash
# bazel run //benchmarks:compare_pytorch -- --out=DIR [flags of
# compare_pytorch.py]: runs benchmarks/compare_pytorch.py with Debian's python
# (which has torch and torchvision) on the binaries Bazel built for this
# target. Relative --out paths are taken from the folder bazel run started in.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
cd "${BUILD_WORKING_DIRECTORY:-.}"
exec /usr/bin/python3 "${runfiles}/benchmarks/compare_pytorch.py" \
  --train_bin="${runfiles}/train/train" \
  --trace_json_bin="${runfiles}/benchmarks/trace_json" "$@"
