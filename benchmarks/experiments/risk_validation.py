"""Does replay's accuracy risk rank policies by the accuracy they cost?
(issue 13, item 3; sim/accuracy_risk.h)

  bazel run //benchmarks:risk_validation -- FOLDER [FOLDER ...] [--out=DIR]
  /usr/bin/python3 -m benchmarks.experiments.risk_validation FOLDER ...

Every FOLDER is an experiment's output with freezing runs and their `none`
runs on the same data (exp1_static_sweep, exp2_adaptive, exp3_votes,
exp4_cache; replay_runs.py says how runs are paired: the same command but
for --policy, --vote_rule, --cache and --out). For every freezing run:

  risk      replayed from its `none` twin's trace alone: the freezing run's
            policy and vote rule on the `none` run's statistics, every proxy
            (norm_share, unconverged, remaining_steps, lr) from one replay;
            with several `none` twins (experiment 4's rounds), their mean;
  drop      the measured accuracy drop: the mean final test accuracy of the
            `none` twins minus the run's, in points.

Then, per proxy, over all points and per folder: Spearman's rank correlation
of risk and drop (ties take their mean rank), with a 95% bootstrap
confidence interval (--bootstrap resamples of the points, seeded by --seed;
percentile interval). Issue 13's bar: 0.6. A risk that is n/a (nothing the
schedule froze was measured) leaves its point out of that proxy, a partial
one (a lower bound) is kept and counted. Writes OUT/risk_validation.json,
OUT/risk_points.csv and OUT/risk_correlation.csv, prints a markdown table.

--repeats=A,B names folders (by their base names) that repeat one experiment
with another seed (e.g. exp3_votes,exp3_votes_seed2): then also
  test-retest  Spearman between the repeats' measured drops of the runs they
               share by name (A against B): how reproducible the measured
               drop itself is, which bounds what any proxy can reach;
  (all, repeats averaged)  the correlations over every point, the repeats'
               replaced by one point per run name (its mean risk and mean
               drop over the repeats).
"""

import argparse
import json
import os
import random
import sys

from benchmarks import harness
from benchmarks.experiments import common
from benchmarks.experiments import replay_runs

PROXIES = ("norm_share", "unconverged", "remaining_steps", "lr")


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("folders", nargs="+", help="experiment output folders")
  p.add_argument("--out", default="",
                 help="output folder (default: out/experiments/"
                 "risk_validation in the checkout)")
  p.add_argument("--bootstrap", type=int, default=10000,
                 help="bootstrap resamples for the confidence interval")
  p.add_argument("--seed", type=int, default=1, help="of the bootstrap")
  p.add_argument("--repeats", default="",
                 help="comma-separated base names of folders that repeat one "
                 "experiment with other seeds (see above)")
  harness.add_binary_flags(
      p, ("train", "replay", "trace_json", "calibrate", "cluster"))
  args = p.parse_args(argv)
  args.folders = [harness.user_path(f) for f in args.folders]
  args.out = os.path.abspath(harness.user_path(args.out) or os.path.join(
      harness.REPO, "out", "experiments", "risk_validation"))
  return args


# --------------------------------------------------------------------------
# Statistics.


def ranks(xs):
  """Ranks from 1, ties sharing their mean rank."""
  order = sorted(range(len(xs)), key=lambda i: xs[i])
  r = [0.0] * len(xs)
  i = 0
  while i < len(order):
    j = i
    while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
      j += 1
    for k in range(i, j + 1):
      r[order[k]] = (i + j) / 2 + 1
    i = j + 1
  return r


def pearson(xs, ys):
  n = len(xs)
  mx, my = sum(xs) / n, sum(ys) / n
  sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
  sxx = sum((x - mx) ** 2 for x in xs)
  syy = sum((y - my) ** 2 for y in ys)
  if sxx == 0 or syy == 0:
    return None  # a constant: no ranking to compare
  return sxy / (sxx * syy) ** 0.5


def spearman(xs, ys):
  """Spearman's rho (Pearson on ranks); None under 3 points or a constant."""
  if len(xs) < 3:
    return None
  return pearson(ranks(xs), ranks(ys))


def bootstrap_ci(xs, ys, resamples, seed, level=0.95):
  """Percentile interval of Spearman's rho over resampled points; None when
  there are too few points or too few resamples have a defined rho."""
  if len(xs) < 3 or resamples <= 0:
    return None
  rng = random.Random(seed)
  n = len(xs)
  rhos = []
  for _ in range(resamples):
    idx = [rng.randrange(n) for _ in range(n)]
    rho = spearman([xs[i] for i in idx], [ys[i] for i in idx])
    if rho is not None:
      rhos.append(rho)
  if len(rhos) < resamples / 2:
    return None
  rhos.sort()
  lo = rhos[int((1 - level) / 2 * (len(rhos) - 1))]
  hi = rhos[int((1 + level) / 2 * (len(rhos) - 1))]
  return [lo, hi]


# --------------------------------------------------------------------------
# Points.


def points(runs, replays):
  """One point per freezing run with a `none` twin."""
  out = []
  for group in replay_runs.twins(runs).values():
    bases = [r for r in group if r.policy_name == "none"]
    targets = [r for r in group if r.policy_name != "none"]
    if not bases or not targets:
      continue
    specs = [f"{t.policy}@{t.vote_rule}" for t in targets]
    per_base = []
    for b in bases:
      res = replays.ask(b.trace, specs,
                        network=replay_runs.own_network(b),
                        world_sizes="recorded")["results"]
      per_base.append(res)
    base_acc = [b.accuracy for b in bases if b.accuracy is not None]
    for k, t in enumerate(targets):
      if t.accuracy is None or not base_acc:
        continue
      p = {"folder": t.group, "run": t.name, "policy": t.policy,
           "vote_rule": t.vote_rule, "none_runs": [b.name for b in bases],
           "accuracy": t.accuracy,
           "none_accuracy": sum(base_acc) / len(base_acc),
           "partial": any(res[k]["accuracy_risk_partial"]
                          for res in per_base)}
      p["drop_pts"] = 100 * (p["none_accuracy"] - t.accuracy)
      for proxy in PROXIES:
        vals = [res[k]["accuracy_risks"][proxy] for res in per_base]
        p[proxy] = (None if any(v is None for v in vals)
                    else sum(vals) / len(vals))
      out.append(p)
  return out


def averaged_repeats(pts, repeats):
  """The points with those of the `repeats` folders replaced by one point per
  run name: mean risk per proxy (n/a when any is) and mean drop."""
  keep = [p for p in pts if p["folder"] not in repeats]
  by_run = {}
  for p in pts:
    if p["folder"] in repeats:
      by_run.setdefault(p["run"], []).append(p)
  for name, group in sorted(by_run.items()):
    q = {"folder": "+".join(sorted({p["folder"] for p in group})),
         "run": name, "repeats": len(group),
         "drop_pts": sum(p["drop_pts"] for p in group) / len(group),
         "partial": any(p["partial"] for p in group)}
    for proxy in PROXIES:
      vals = [p[proxy] for p in group]
      q[proxy] = (None if any(v is None for v in vals)
                  else sum(vals) / len(vals))
    keep.append(q)
  return keep


def test_retest(pts, repeats, resamples, seed):
  """Spearman between the first two repeat folders' drops, per run name."""
  if len(repeats) < 2:
    return None
  drops = [{p["run"]: p["drop_pts"] for p in pts if p["folder"] == f}
           for f in repeats[:2]]
  names = sorted(set(drops[0]) & set(drops[1]))
  xs = [drops[0][n] for n in names]
  ys = [drops[1][n] for n in names]
  diffs = sorted(abs(x - y) for x, y in zip(xs, ys))
  return {"folders": repeats[:2], "runs": len(names),
          "spearman": spearman(xs, ys),
          "ci95": bootstrap_ci(xs, ys, resamples, seed),
          "median_abs_difference_pts":
              diffs[len(diffs) // 2] if diffs else None}


def correlations(pts, resamples, seed, label=None):
  rows = []
  groups = ([label] if label else
            ["(all)"] + sorted({p["folder"] for p in pts}))
  for folder in groups:
    sel = [p for p in pts if folder in ("(all)", label) or
           p["folder"] == folder]
    for proxy in PROXIES:
      use = [p for p in sel if p[proxy] is not None]
      xs = [p[proxy] for p in use]
      ys = [p["drop_pts"] for p in use]
      rows.append({
          "folder": folder, "proxy": proxy, "points": len(use),
          "left_out_na": len(sel) - len(use),
          "partial": sum(p["partial"] for p in use),
          "spearman": spearman(xs, ys),
          "ci95": bootstrap_ci(xs, ys, resamples, seed),
      })
  return rows


def validate(args):
  replays = replay_runs.Replays(args.replay_bin or _replay_bin(args),
                                os.path.join(args.out, "replays"))
  pts = []
  for folder in args.folders:
    runs = [replays.learn(r) for r in replay_runs.find_runs(folder)]
    found = points(runs, replays)
    harness.log(f"{folder}: {len(runs)} run(s), {len(found)} pair(s)")
    pts += found
  repeats = [r for r in args.repeats.split(",") if r]
  labels = {p["folder"] for p in pts}
  for r in repeats:
    if r not in labels:
      raise SystemExit(f"--repeats: no points from a folder named {r!r}; "
                       f"the folders with points: {', '.join(sorted(labels))}")
  rows = correlations(pts, args.bootstrap, args.seed)
  if repeats:
    rows += correlations(averaged_repeats(pts, repeats), args.bootstrap,
                         args.seed, label="(all, repeats averaged)")
  return {"folders": args.folders, "bootstrap": args.bootstrap,
          "seed": args.seed, "points": pts, "repeats": repeats,
          "test_retest": test_retest(pts, repeats, args.bootstrap,
                                     args.seed),
          "correlations": rows,
          "replay_commands": replays.commands}


def _replay_bin(args):
  return harness.prepare_binaries(os.path.join(args.out, "bin"),
                                  {"replay": ""})["replay"]


def fmt(x, digits=3):
  return "n/a" if x is None else f"{x:.{digits}f}"


def report(res, out):
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "risk_validation.json"), "w") as f:
    json.dump(res, f, indent=1)
  common.write_csv(os.path.join(out, "risk_points.csv"), res["points"])
  common.write_csv(os.path.join(out, "risk_correlation.csv"),
                   res["correlations"])
  print("| folder | proxy | points | Spearman | 95% CI | n/a left out | "
        "partial |")
  print("|---|---|---|---|---|---|---|")
  for r in res["correlations"]:
    ci = r["ci95"]
    ci_text = "n/a" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"
    print(f"| {r['folder']} | {r['proxy']} | {r['points']} | "
          f"{fmt(r['spearman'], 2)} | {ci_text} | {r['left_out_na']} | "
          f"{r['partial']} |")
  print("(issue 13: improve the proxy if Spearman < 0.6)")
  t = res.get("test_retest")
  if t:
    ci = t["ci95"]
    ci_text = "n/a" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"
    print(f"test-retest of the measured drop, {t['folders'][0]} against "
          f"{t['folders'][1]} ({t['runs']} runs): Spearman "
          f"{fmt(t['spearman'], 2)} {ci_text}, median |difference| "
          f"{fmt(t['median_abs_difference_pts'], 1)} points")


def main(argv=None):
  args = parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  res = validate(args)
  report(res, args.out)
  harness.log(f"outputs in {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
