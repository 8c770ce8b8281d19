#!/bin/bash
# Runs a unittest module of the benchmarks package with Debian's python:
#   python_test.sh MODULE   (from the BUILD file, e.g. benchmarks.harness_test)
# The package comes from the runfiles (PYTHONPATH), not from the current
# folder (-P).
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
exec /usr/bin/python3 -P -m "$1"
