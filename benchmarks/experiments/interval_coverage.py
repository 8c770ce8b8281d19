"""How often replay's 90% prediction intervals hold the measured time, and how
wide they are (issue 13, item 2; sim/prediction_interval.h).

  bazel run //benchmarks:interval_coverage -- FOLDER [FOLDER ...] [--out=DIR]
  /usr/bin/python3 -m benchmarks.experiments.interval_coverage FOLDER ...

Every FOLDER is an experiment's output (out/experiments/exp1_static_sweep,
exp2_adaptive, exp3_votes, exp4_cache, exp5_comm: OUT/results.json and
OUT/runs/NAME/trace.pb) or any folder of traces (testdata/); see
replay_runs.py. Two kinds of case:

  held_out   every run whose own configuration can be predicted: replay
             --validate fits a model on the first half of its steps (whole
             base intervals) and predicts the rest with an interval built
             from the first half alone (replay.json validation.held_out);
  cross_run  every static:K run with a `none` twin (the same command but for
             the freezing; --cross=all: every freezing run): the `none` run's
             trace replayed with that run's policy and vote rule, on the
             recorded network at the recorded world size (--cache when the
             run used the cache), against the run's measured total.

Per folder and kind, and over everything: the cases, the share of measured
totals inside their interval (issue 13's target: >= 85%), the median
half-width (half the interval over the prediction; target: < 15%) and the
median |error|. Writes OUT/interval_coverage.json and
OUT/interval_coverage_cases.csv (one row per case, with the replay command
behind it in the JSON), prints a markdown table. Deterministic: the same
traces give the same numbers.
"""

import argparse
import json
import os
import sys

from benchmarks import harness
from benchmarks.experiments import common
from benchmarks.experiments import replay_runs


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("folders", nargs="+",
                 help="experiment output folders or folders of traces")
  p.add_argument("--out", default="",
                 help="output folder (default: out/experiments/"
                 "interval_coverage in the checkout)")
  p.add_argument("--cross", default="static", choices=("static", "all"),
                 help="which freezing runs a `none` twin predicts")
  harness.add_binary_flags(
      p, ("train", "replay", "trace_json", "calibrate", "cluster"))
  args = p.parse_args(argv)
  args.folders = [harness.user_path(f) for f in args.folders]
  args.out = os.path.abspath(harness.user_path(args.out) or os.path.join(
      harness.REPO, "out", "experiments", "interval_coverage"))
  return args


def case(kind, run, predicted_s, interval_s, measured_s, base=None,
         inside=None):
  lo, hi = interval_s
  return {
      "folder": run.group, "kind": kind, "run": run.name,
      "from_run": base.name if base else run.name,
      "policy": run.policy, "vote_rule": run.vote_rule,
      "predicted_s": predicted_s, "low_s": lo, "high_s": hi,
      "measured_s": measured_s,
      "inside": bool(lo <= measured_s <= hi) if inside is None else inside,
      "half_width_frac": (hi - lo) / 2 / predicted_s if predicted_s else None,
      "error_frac": predicted_s / measured_s - 1 if measured_s else None,
  }


def held_out_cases(runs):
  out = []
  for r in runs:
    h = (r.facts.get("validation") or {}).get("held_out")
    if not h:
      continue
    out.append(case("held_out", r, h["predicted_total_s"],
                    h["predicted_interval_s"], h["measured_total_s"],
                    inside=h["measured_inside"]))
  return out


def cross_run_cases(runs, replays, which):
  out = []
  for group in replay_runs.twins(runs).values():
    bases = [r for r in group if r.policy_name == "none"]
    targets = [r for r in group if r.policy_name != "none" and
               (which == "all" or r.policy_name == "static")]
    for base in bases:
      for t in targets:
        spec = f"{t.policy}@{t.vote_rule}"
        res = replays.ask(base.trace, [spec], network=replay_runs.own_network(
            base), world_sizes="recorded", cache=t.cache)["results"][0]
        out.append(case("cross_run", t, res["predicted_total_s"],
                        res["predicted_interval_s"], t.measured_s, base))
  return out


def summarize(cases):
  if not cases:
    return {"cases": 0, "inside_share": None, "median_half_width_frac": None,
            "median_abs_error_frac": None}
  widths = [c["half_width_frac"] for c in cases
            if c["half_width_frac"] is not None]
  errors = [abs(c["error_frac"]) for c in cases if c["error_frac"] is not None]
  return {
      "cases": len(cases),
      "inside_share": sum(c["inside"] for c in cases) / len(cases),
      "median_half_width_frac": harness.median(widths) if widths else None,
      "median_abs_error_frac": harness.median(errors) if errors else None,
  }


def coverage(args):
  replays = replay_runs.Replays(args.replay_bin or _replay_bin(args),
                                os.path.join(args.out, "replays"))
  cases = []
  for folder in args.folders:
    runs = [replays.learn(r) for r in replay_runs.find_runs(folder)]
    harness.log(f"{folder}: {len(runs)} run(s)")
    cases += held_out_cases(runs)
    cases += cross_run_cases(runs, replays, args.cross)
  table = []
  for folder in sorted({c["folder"] for c in cases}):
    for kind in ("held_out", "cross_run"):
      sel = [c for c in cases if c["folder"] == folder and c["kind"] == kind]
      if sel:
        table.append(dict(folder=folder, kind=kind, **summarize(sel)))
  for kind in ("held_out", "cross_run"):
    table.append(dict(folder="(all)", kind=kind, **summarize(
        [c for c in cases if c["kind"] == kind])))
  table.append(dict(folder="(all)", kind="(all)", **summarize(cases)))
  return {"folders": args.folders, "cases": cases, "summary": table,
          "replay_commands": replays.commands}


def _replay_bin(args):
  return harness.prepare_binaries(os.path.join(args.out, "bin"),
                                  {"replay": ""})["replay"]


def pct(x):
  return "n/a" if x is None else f"{100 * x:.1f}%"


def report(res, out):
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "interval_coverage.json"), "w") as f:
    json.dump(res, f, indent=1)
  common.write_csv(os.path.join(out, "interval_coverage_cases.csv"),
                   res["cases"])
  print("| folder | kind | cases | inside 90% interval | median half-width "
        "| median abs error |")
  print("|---|---|---|---|---|---|")
  for r in res["summary"]:
    print(f"| {r['folder']} | {r['kind']} | {r['cases']} | "
          f"{pct(r['inside_share'])} | {pct(r['median_half_width_frac'])} | "
          f"{pct(r['median_abs_error_frac'])} |")
  print("(targets, issue 13: inside >= 85%, median half-width < 15%)")


def main(argv=None):
  args = parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  res = coverage(args)
  report(res, args.out)
  harness.log(f"outputs in {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
