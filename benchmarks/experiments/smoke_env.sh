# What the experiments' smoke tests share; sourced as
#   source "${RUNFILES_DIR:-$0.runfiles}/freezing/benchmarks/experiments/smoke_env.sh" NAME
# Sets runfiles, py (Debian's python with the benchmarks package from the
# runfiles, not from the current folder: -P), exp (the package of the
# experiments), out (TEST_TMPDIR/NAME, created), bins (every binary flag of
# the experiments), and bounds every mpiexec below Bazel's timeout.
runfiles="${RUNFILES_DIR:-$0.runfiles}/freezing"
export PYTHONPATH="${runfiles}${PYTHONPATH:+:${PYTHONPATH}}"
py=(/usr/bin/python3 -P -m)
exp=benchmarks.experiments
out="${TEST_TMPDIR:-$(mktemp -d)}/$1"
export MPLCONFIGDIR="${out}/mpl"
# mpiexec kills a hung job before Bazel's timeout does.
export MPIEXEC_TIMEOUT=$(( ${TEST_TIMEOUT:-900} > 120 ? ${TEST_TIMEOUT:-900} / 4 : 60 ))
mkdir -p "${out}"
bins=(--train_bin="${runfiles}/train/train"
      --replay_bin="${runfiles}/replay/replay"
      --trace_json_bin="${runfiles}/benchmarks/trace_json"
      --calibrate_bin="${runfiles}/comm/calibrate"
      --cluster_bin="${runfiles}/comm/cluster")
