"""Validates replay's straggler model (--straggler=RANK:FACTOR,
sim/rank_skew.h) against real 2-rank runs where one rank is slowed down
(issue 13, item 5; target: within 10%).

  bazel run //benchmarks:straggler_validation -- [--out=DIR] [--mode=hog]
  /usr/bin/python3 -m benchmarks.experiments.straggler_validation [...]

--mode=hog (default): both ranks pinned one core each (mpiexec -bind-to
core: rank r on core r) with one thread each, and a CPU hog (a busy Python
loop, `taskset -c CORE`) sharing one rank's core. Three runs:
  baseline     no hog;
  hog_rank0    the hog on rank 0's core: rank 0's own trace shows how much
               slower its work became, FACTOR = median over steps (after the
               first 3) of (total - exposed communication) against the
               baseline's;
  hog_rank1    the hog on rank 1's core: rank 0 now waits for rank 1 at
               every collective (the case the model is for; rank 0's trace
               never shows rank 1's work).
Predictions, from the baseline trace alone: --straggler=1:FACTOR against
hog_rank1's measured total (the validation), and --straggler=0:FACTOR
against hog_rank0's (a consistency check: FACTOR came from it).

--mode=threads: rank 1 runs fewer threads (--threads_slow) than rank 0
(--threads_fast), launched as MPMD (mpiexec -n 1 train ... --threads=A :
-n 1 train ... --threads=B), unpinned. Runs: baseline (both fast), slow_rank0
(FACTOR, as above) and slow_rank1 (the validation). If the trainer refuses
ranks with different --threads, a per-rank thread flag in train/ is needed.

Every run: the experiments' fine-tuning flags (benchmarks/experiments/
common.py) at --train_limit/--epochs, 2 ranks. Writes OUT/results.json and
OUT/straggler.csv; prints a markdown table. Run it on a quiet machine: the
hog makes one core busy on purpose, any other load is error.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

from benchmarks import harness
from benchmarks.experiments import common

SIZES = {"train_limit": 2048, "test_limit": 500, "epochs": 2}
FULL = {"train_limit": 8000, "test_limit": 2000, "epochs": 4}
SMOKE = {"train_limit": 256, "test_limit": 64, "epochs": 1}
WARM_UP_STEPS = 3


def parse_args(argv=None):
  p = common.base_parser("straggler_validation", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--mode", default="hog", choices=("hog", "threads"))
  p.add_argument("--threads_fast", type=int, default=2,
                 help="--mode=threads: rank 0's threads (and the baseline's)")
  p.add_argument("--threads_slow", type=int, default=1,
                 help="--mode=threads: the slow rank's threads")
  p.add_argument("--network", default="recorded",
                 help="the replay network (the baseline's own by default)")
  args = p.parse_args(argv)
  args.ranks = 2
  return common.resolve(args)


def start_hog(core):
  """A busy loop on `core`, in its own process group (stop_hog ends it)."""
  return subprocess.Popen(
      ["taskset", "-c", str(core), sys.executable, "-c", "while True: pass"],
      start_new_session=True, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)


def stop_hog(hog):
  if hog is not None and hog.poll() is None:
    os.killpg(hog.pid, signal.SIGTERM)
    hog.wait()


def launch(args, bins, flags, run_dir, slow_rank=None):
  """The mpiexec command of one run (see the module's docstring)."""
  mpiexec = shutil.which("mpiexec")
  if mpiexec is None:
    raise SystemExit("mpiexec is not on PATH (tools/setup.sh installs MPICH)")
  train = [bins["train"]] + flags + ["--ranks=2", f"--out={run_dir}"]
  if args.mode == "hog":
    return [mpiexec, "-bind-to", "core", "-n", "2"] + train + ["--threads=1"]
  per_rank = []
  for r in range(2):
    threads = args.threads_slow if r == slow_rank else args.threads_fast
    per_rank += ([":"] if r else []) + ["-n", "1"] + train + [
        f"--threads={threads}"]
  return [mpiexec] + per_rank


def run_one(exp, name, flags, hog_core=None, slow_rank=None):
  """Runs one training (with the hog on `hog_core`, or rank `slow_rank` on
  fewer threads); returns its record."""
  a = exp.args
  run_dir = os.path.join(exp.runs_dir, name)
  shutil.rmtree(run_dir, ignore_errors=True)
  os.makedirs(run_dir)
  cmd = launch(a, exp.bins, flags, run_dir, slow_rank)
  harness.log(f"{name}: {' '.join(cmd[:6])} ...")
  hog = start_hog(hog_core) if hog_core is not None else None
  try:
    meas = harness.run_command(cmd, os.path.join(run_dir, "log.txt"),
                               a.timeout_s,
                               done_file=os.path.join(run_dir, "summary.json"))
  finally:
    stop_hog(hog)
  trace = os.path.join(run_dir, "trace.pb")
  data = common.read_trace(exp.bins, trace)
  steps = data["steps"][WARM_UP_STEPS:] or data["steps"]
  local = harness.median(s["total_s"] - s["comm_exposed_s"] for s in steps)
  with open(os.path.join(run_dir, "summary.json")) as f:
    summary = json.load(f)
  return {"name": name, "command": " ".join(cmd), "trace": trace,
          "hog_core": hog_core, "slow_rank": slow_rank, "measured": meas,
          "total_time_s": summary["total_time_s"],
          "median_local_step_s": local}


def predict(exp, base, rank, factor):
  out = os.path.join(exp.out, "replays", f"straggler_{rank}")
  res, cmd = harness.replay(
      exp.bins["replay"], out, base["trace"], ["none"],
      network=exp.args.network, world_sizes="recorded",
      extra=[f"--straggler={rank}:{factor:.6f}"])
  r = res["results"][0]
  return {"predicted_s": r["predicted_total_s"],
          "predicted_interval_s": r["predicted_interval_s"], "command": cmd}


def run(exp):
  a = exp.args
  flags = [f for f in exp.finetune_flags() if not f.startswith("--threads=")]
  flags.append("--policy=none")
  if a.mode == "hog":
    base = run_one(exp, "baseline", flags)
    slow0 = run_one(exp, "hog_rank0", flags, hog_core=0)
    slow1 = run_one(exp, "hog_rank1", flags, hog_core=1)
  else:
    base = run_one(exp, "baseline", flags)
    slow0 = run_one(exp, "slow_rank0", flags, slow_rank=0)
    slow1 = run_one(exp, "slow_rank1", flags, slow_rank=1)
  factor = slow0["median_local_step_s"] / base["median_local_step_s"]
  rows = []
  for rank, target, role in ((1, slow1, "validation"),
                             (0, slow0, "consistency (factor from it)")):
    p = predict(exp, base, rank, factor)
    rows.append(dict(p, rank=rank, run=target["name"], role=role,
                     factor=factor, measured_s=target["total_time_s"],
                     baseline_s=base["total_time_s"],
                     error_frac=p["predicted_s"] / target["total_time_s"] - 1))
  return exp.write_results({"mode": a.mode, "factor": factor, "rows": rows,
                            "runs": [base, slow0, slow1]})


def report(exp, res):
  common.write_csv(os.path.join(exp.out, "straggler.csv"), res["rows"],
                   ["run", "role", "rank", "factor", "baseline_s",
                    "measured_s", "predicted_s", "predicted_interval_s",
                    "error_frac"])
  print(f"\nmode {res['mode']}: slow rank's work x{res['factor']:.3f}")
  print("| run | role | --straggler | baseline s | measured s | predicted s "
        "| 90% interval | error |")
  print("|---|---|---|---|---|---|---|---|")
  for r in res["rows"]:
    lo, hi = r["predicted_interval_s"]
    print(f"| {r['run']} | {r['role']} | {r['rank']}:{r['factor']:.3f} | "
          f"{r['baseline_s']:.2f} | {r['measured_s']:.2f} | "
          f"{r['predicted_s']:.2f} | [{lo:.2f}, {hi:.2f}] | "
          f"{100 * r['error_frac']:+.1f}% |")
  print("(issue 13's target: the validation row within 10%)")


def main(argv=None):
  return common.main(parse_args(argv), run, report,
                     binaries=("train", "replay", "trace_json"))


if __name__ == "__main__":
  sys.exit(main())
