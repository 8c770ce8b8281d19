#!/bin/bash
# Runs common_test.py (the experiments' run harness) with Debian's python.
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
exec /usr/bin/python3 "${runfiles}/benchmarks/experiments/common_test.py"
