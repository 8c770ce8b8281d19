#!/bin/bash
# The entry point of every binary and test of pytorch/: target NAME runs
# pytorch/NAME.py [ARGS...] with Debian's python
# (python3-torch; the python3 on PATH may lack torch), the freezing_torch
# package of this target's runfiles on PYTHONPATH.
set -euo pipefail
if [ -n "${RUNFILES_DIR:-}" ]; then
  runfiles="$RUNFILES_DIR/freezing"
elif [ -d "$0.runfiles/freezing" ]; then
  runfiles="$0.runfiles/freezing"
else
  runfiles="$PWD"  # bazel test runs from the runfiles root
fi
script="$(basename "$0").py"
export PYTHONPATH="$runfiles/pytorch${PYTHONPATH:+:$PYTHONPATH}"
export FREEZING_RUNFILES="$runfiles"
# -P: not the script's real folder (the source tree, without the extension).
exec /usr/bin/python3 -P "$runfiles/pytorch/$script" "$@"
