#!/usr/bin/python3
"""Does the replay predict a PyTorch job? (issue 14, item 4)

  bazel run //pytorch:validate -- --out=DIR [--policies=static:2,static:4,
      static:5,gradnorm] [--rounds=R] [finetune flags: --data=... --classes=
      --train_limit= --epochs= --batch_size= --stats_interval= ...]

For each round: records `none` with //pytorch:finetune on 2 ranks, replays
its trace with //replay for every policy (--network=recorded, the recorded
world size), runs every policy for real with //pytorch:finetune (the same
flags), then prints predicted against measured total training time
(summary.json total_time_s, the quantity replay's predicted_total_s models)
and the error, per round and over the rounds' means. Runs within a round
are in the order none, then the policies; rounds repeat that order, so a
load that drifts touches every configuration. Writes DIR/validation.json and
keeps every run's folder (DIR/roundN/POLICY, DIR/roundN/replay).

It measures: run it on a quiet machine, at full size. --smoke runs it at a
tiny size to check that it works (no number it prints means anything).
"""

import argparse
import json
import os
import subprocess
import sys
import time

RUNFILES = os.environ.get("FREEZING_RUNFILES", "")


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", required=True)
  p.add_argument("--policies", default="static:2,static:4,static:5,gradnorm",
                 help="specs separated by ';' or by ',' before a name")
  p.add_argument("--rounds", type=int, default=1)
  p.add_argument("--ranks", type=int, default=2)
  p.add_argument("--smoke", action="store_true",
                 help="tiny synthetic runs, to check the tooling only")
  return p.parse_known_args(argv)


def split_policies(text):
  """'static:2,static:4,gradnorm:interval=40,norm=l1' -> three specs: a
  piece that reads key=value continues the previous spec (as //replay)."""
  specs = []
  for chunk in text.split(";"):
    for piece in chunk.split(","):
      piece = piece.strip()
      if not piece:
        continue
      if specs and "=" in piece and ":" not in piece.split("=")[0]:
        specs[-1] += "," + piece
      else:
        specs.append(piece)
  return specs


def folder_name(spec):
  return spec.replace(":", "_").replace(",", "_").replace("=", "")


def run(cmd, log):
  log(" ".join(cmd))
  t0 = time.time()
  done = subprocess.run(cmd, capture_output=True, text=True)
  if done.returncode != 0:
    sys.stderr.write(done.stdout + done.stderr)
    raise SystemExit(f"validate: error: {cmd[0]} exited "
                     f"{done.returncode}")
  log(f"  ({time.time() - t0:.0f} s)")
  return done.stdout


def main(argv=None):
  args, finetune_flags = parse_args(argv)
  cwd = os.environ.get("BUILD_WORKING_DIRECTORY", "")
  out = args.out if os.path.isabs(args.out) or not cwd else os.path.join(
      cwd, args.out)
  os.makedirs(out, exist_ok=True)
  policies = split_policies(args.policies)
  if args.smoke:
    finetune_flags = ["--data=synthetic", "--classes=0,1,2",
                      "--train_limit=64", "--test_limit=16", "--batch_size=8",
                      "--epochs=1", "--stats_interval=2",
                      "--profile_repeats=1"] + finetune_flags
  python = [sys.executable, "-P"]
  finetune = python + [os.path.join(RUNFILES, "pytorch/finetune.py"),
                       f"--ranks={args.ranks}", "--quiet"] + finetune_flags
  replay = os.path.join(RUNFILES, "replay/replay")

  def log(line):
    print(line, flush=True)

  rounds = []
  for r in range(args.rounds):
    base = os.path.join(out, f"round{r}")
    none_dir = os.path.join(base, "none")
    run(finetune + ["--policy=none", f"--out={none_dir}"], log)
    replay_dir = os.path.join(base, "replay")
    run([replay, f"--trace={none_dir}/trace.pb",
         "--policies=" + ";".join(["none"] + policies),
         "--network=recorded",
         f"--out={replay_dir}"], log)
    with open(os.path.join(replay_dir, "replay.json")) as f:
      predicted = {res["policy"]: res["predicted_total_s"]
                   for res in json.load(f)["results"]}
    measured = {}
    for spec in ["none"] + policies:
      folder = none_dir if spec == "none" else os.path.join(
          base, folder_name(spec))
      if spec != "none":
        run(finetune + [f"--policy={spec}", f"--out={folder}"], log)
      with open(os.path.join(folder, "summary.json")) as f:
        s = json.load(f)
      measured[spec] = {"total_time_s": s["total_time_s"],
                        "freeze_events": s["freeze_events"],
                        "final_test_accuracy": s["final_test_accuracy"]}
    rounds.append({"predicted": predicted, "measured": measured})

  rows = []
  log("")
  log(f"{'policy':<28} {'predicted s':>12} {'measured s':>12} {'error':>8}"
      "   (means over rounds; per round: error)")
  for spec in ["none"] + policies:
    pred = [rd["predicted"].get(spec) for rd in rounds]
    meas = [rd["measured"][spec]["total_time_s"] for rd in rounds]
    if any(p is None for p in pred):
      log(f"{spec:<28} replay did not predict it")
      continue
    p_mean, m_mean = sum(pred) / len(pred), sum(meas) / len(meas)
    err = p_mean / m_mean - 1 if m_mean > 0 else float("nan")
    per_round = [p / m - 1 if m > 0 else float("nan")
                 for p, m in zip(pred, meas)]
    rows.append({"policy": spec, "predicted_s": pred, "measured_s": meas,
                 "predicted_mean_s": p_mean, "measured_mean_s": m_mean,
                 "error_of_means": err, "error_per_round": per_round})
    log(f"{spec:<28} {p_mean:12.3f} {m_mean:12.3f} {err * 100:+7.1f}%   " +
        " ".join(f"{e * 100:+.1f}%" for e in per_round))
  result = {"command": " ".join(sys.argv), "finetune_flags": finetune_flags,
            "ranks": args.ranks, "rounds": rounds, "rows": rows,
            "smoke": args.smoke,
            "loadavg_at_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
  with open(os.path.join(out, "validation.json"), "w") as f:
    json.dump(result, f, indent=1)
  log(f"\n{out}/validation.json")
  return 0


if __name__ == "__main__":
  sys.exit(main())
