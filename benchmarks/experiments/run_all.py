"""Runs the study's experiments one after another (never two at once: they
would distort each other's timings), then optionally publishes the figures
and compact tables for docs/RESULTS.md.

  bazel run //benchmarks:experiments_all -- [--out=DIR] [--full] [--publish]
  /usr/bin/python3 -m benchmarks.experiments.run_all [--only=1,2,...]

Order: 1, 2, 3, 4, 5, 7, 8 (the ViT; it reads experiment 1 for ResNet-18
beside it), then 6 (it replays the traces of 1, 2, 4 and 5).
All of them use the same binaries (built once and copied into OUT/bin) and
the same source model (pre-trained once; experiment 8's ViT has its own).
Writes OUT/run_all.json with each experiment's command, wall time, exit
status and the load average before and after. With --publish: the PNG figures go to docs/figures/ and the CSV
tables (plus each results.json without its per-run records) to
benchmarks/results/experiments/ in the checkout.

Default sizes take about an hour on 2 idle cores (51 min on 2026-11-25,
experiments 1-7) plus experiment 8's ViT runs; --full (the study's 50 epochs
on all samples) takes days.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from benchmarks import harness

EXPERIMENTS = {
    "1": "exp1_static_sweep",
    "2": "exp2_adaptive",
    "3": "exp3_votes",
    "4": "exp4_cache",
    "5": "exp5_comm",
    "7": "exp7_pytorch",
    "8": "exp8_vit",
    "6": "exp6_replay",
}
# Small tables that docs/RESULTS.md quotes (the traces and per-run records
# stay under OUT).
PUBLISH_FILES = ["*.csv", "calibration_*.json"]


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--out", default="",
                 help="output root (default: out/experiments in the checkout)")
  p.add_argument("--only", default="1,2,3,4,5,7,8,6",
                 help="experiments to run, in this order")
  p.add_argument("--full", action="store_true")
  p.add_argument("--smoke", action="store_true")
  p.add_argument("--data", default="fashion_mnist")
  p.add_argument("--pretrain_dir", default="")
  p.add_argument("--resume", action="store_true",
                 help="passed on: keep runs already measured")
  p.add_argument("--publish", action="store_true",
                 help="copy figures to docs/figures and tables to "
                 "benchmarks/results/experiments")
  p.add_argument("--publish_only", action="store_true")
  for n in EXPERIMENTS:
    p.add_argument(f"--args{n}", default="",
                   help=f"extra flags of experiment {n} (space separated)")
  harness.add_binary_flags(p, harness.BAZEL_TARGETS)
  a = p.parse_args(argv)
  a.out = os.path.abspath(harness.user_path(a.out) or os.path.join(
      harness.REPO, "out", "experiments"))
  a.pretrain_dir = harness.user_path(a.pretrain_dir)
  return a


def publish(a, names):
  figs = os.path.join(harness.REPO, "docs", "figures")
  tables = os.path.join(harness.REPO, "benchmarks", "results", "experiments")
  os.makedirs(figs, exist_ok=True)
  for name in names:
    src = os.path.join(a.out, name)
    if not os.path.exists(os.path.join(src, "results.json")):
      continue
    for png in glob.glob(os.path.join(src, "*.png")):
      shutil.copy2(png, figs)
    dst = os.path.join(tables, name)
    os.makedirs(dst, exist_ok=True)
    for pat in PUBLISH_FILES:
      for f in glob.glob(os.path.join(src, pat)):
        shutil.copy2(f, dst)
    with open(os.path.join(src, "results.json")) as f:
      res = json.load(f)
    # The per-run records hold every run's summary; keep their commands and
    # load only.
    recs = res.pop("records", [])
    res["runs"] = res.get("runs") if name == "exp4_cache" else None
    res["run_commands"] = [
        {"name": r["name"], "command": r["command"],
         "wall_s": round(r["measured"]["wall_s"], 1),
         "loadavg_before": r["measured"]["loadavg_before"],
         "loadavg_after": r["measured"]["loadavg_after"],
         "others_busy_cores": round(r["measured"]["others_busy_cores"], 3)}
        for r in recs]
    for k in ("timelines",):
      res.pop(k, None)
    with open(os.path.join(dst, "results_summary.json"), "w") as f:
      json.dump(res, f, indent=1)
  harness.log(f"published figures to {figs} and tables to {tables}")


def python_module(module):
  """The command that runs `module` of this package with this interpreter
  (and its -P: the package comes from PYTHONPATH, not the current folder)."""
  return [sys.executable] + (["-P"] if sys.flags.safe_path else []) + [
      "-m", module]


def main(argv=None):
  harness.install_signal_handlers()
  a = parse_args(argv)
  os.makedirs(a.out, exist_ok=True)
  order = [n for n in a.only.split(",") if n]
  names = [EXPERIMENTS[n] for n in order]
  if a.publish_only:
    publish(a, names)
    return 0
  # One build and one copy of the binaries for every experiment.
  bins = harness.prepare_binaries(
      os.path.join(a.out, "bin"),
      harness.given_binaries(a, harness.BAZEL_TARGETS))
  common_flags = [f"--data={a.data}"] + [
      f"--{b}_bin={p}" for b, p in bins.items()]
  if a.full:
    common_flags.append("--full")
  if a.smoke:
    common_flags.append("--smoke")
  if a.resume:
    common_flags.append("--resume")
  if a.pretrain_dir:
    common_flags.append(f"--pretrain_dir={a.pretrain_dir}")
  log_path = os.path.join(a.out, "run_all.json")
  entries = []
  status = 0
  for n in order:
    name = EXPERIMENTS[n]
    cmd = python_module(f"benchmarks.experiments.{name}") + [
        f"--out={os.path.join(a.out, name)}"] + common_flags
    if n == "6":
      cmd = [c for c in cmd if not c.startswith(("--data=", "--pretrain_dir"))]
      cmd += [f"--exp{k}={os.path.join(a.out, EXPERIMENTS[k])}"
              for k in ("1", "2", "4", "5")]
    if n == "8":  # ResNet-18 beside the ViT: experiment 1 of this root
      cmd.append(f"--exp1={os.path.join(a.out, EXPERIMENTS['1'])}")
    cmd += [x for x in getattr(a, f"args{n}").split() if x]
    harness.log(f"=== experiment {n}: {' '.join(cmd)}")
    load0, t0 = harness.loadavg(), time.time()
    rc = subprocess.run(cmd).returncode
    entry = {"experiment": n, "name": name, "command": " ".join(cmd),
             "exit": rc, "wall_s": time.time() - t0, "loadavg_before": load0,
             "loadavg_after": harness.loadavg(),
             "finished": datetime.datetime.now().isoformat(timespec="seconds")}
    entries.append(entry)
    with open(log_path, "w") as f:
      json.dump({"machine": harness.machine_info(),
                 "revision": harness.git_revision(), "experiments": entries},
                f, indent=1)
    harness.log(f"=== experiment {n}: exit {rc} after "
               f"{entry['wall_s'] / 60:.1f} min")
    if rc != 0:
      status = 1
  if a.publish:
    publish(a, names)
  for e in entries:
    print(f"experiment {e['experiment']} ({e['name']}): exit {e['exit']}, "
          f"{e['wall_s'] / 60:.1f} min, load {e['loadavg_before'][0]:.2f} -> "
          f"{e['loadavg_after'][0]:.2f}")
  return status


if __name__ == "__main__":
  sys.exit(main())
