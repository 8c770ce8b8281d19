"""Experiment 3: weighted votes across workers, IID and non-IID data (the
study's future work).

For every partition of --partitions (IID shards; Dirichlet non-IID shards
with alpha 0.1, 1 and 100: small alpha gives each rank few classes) it
fine-tunes once without freezing (the reference for time and accuracy) and
once per vote rule of --rules with the adaptive --policy: `global` (one
policy on the averaged gradient, what a single node would decide),
`majority`, `samples` (weighted by the rank's sample count), `loss` (by the
inverse of its mean loss) and `snr` (by the agreement of its local gradient
with the global one): each rank runs the policy on its own local gradient
norms and votes; a unit changes when the weighted yes outweighs the no (ties
keep it). Reports when each rule froze what, time saved and accuracy.

  bazel run //benchmarks:exp3_votes -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp3_votes [--out=DIR]

Dirichlet partitions get min_size = train_limit / (2 x ranks) so that no
shard is too small for a few steps per epoch (every rank runs the smallest
shard's steps). Writes OUT/results.json, OUT/votes.csv, OUT/freeze_events.csv
and the figures OUT/exp3_frozen_units.png (frozen units over the steps, per
partition and rule) and exp3_time_accuracy.png. Default sizes: 4096 training
and 2000 test samples, 4 epochs, 2 ranks, 24 runs (about 18 minutes on 2
idle cores).
"""

import os
import sys

from benchmarks.experiments import common

SIZES = {"train_limit": 4096, "test_limit": 2000, "epochs": 4}
FULL = {"train_limit": 0, "test_limit": 0, "epochs": 50}
SMOKE = {"train_limit": 512, "test_limit": 64, "epochs": 2}

FASHION_TARGET_TRAIN = 30000  # Fashion-MNIST: 6000 per class, 5 classes


def parse_args(argv=None):
  p = common.base_parser("exp3_votes", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--partitions",
                 default="iid;dirichlet:alpha=0.1;dirichlet:alpha=1;"
                 "dirichlet:alpha=100", help="';'-separated --partition specs")
  p.add_argument("--rules", default="global,majority,samples,loss,snr")
  p.add_argument("--policy",
                 default="gradnorm:variant=prefix,interval={2T},warmup={epoch}",
                 help="the adaptive policy ({epoch}: the steps of one epoch "
                 "of the partition, from its reference run; {2T}: twice "
                 "--stats_interval); default: the demo's gradient norm test")
  return common.resolve(p.parse_args(argv))


def with_min_size(spec, args):
  if not spec.startswith("dirichlet") or "min_size" in spec:
    return spec
  n = args.train_limit or FASHION_TARGET_TRAIN
  return f"{spec},min_size={n // (2 * args.ranks)}"


def tag(spec):
  return spec.replace("dirichlet:alpha=", "dir").split(",")[0].replace(
      ".", "p")


def run(exp):
  args = exp.args
  rules = [r for r in args.rules.split(",") if r]
  base_flags = exp.finetune_flags()
  rows, events, timelines = [], [], []
  for part in [p for p in args.partitions.split(";") if p]:
    spec = with_min_size(part, args)
    flags = base_flags + [f"--partition={spec}"]
    ref = exp.run_train(f"{tag(part)}_none", flags + ["--policy=none"])
    spe = int(ref["config"]["steps_per_epoch"])
    policy = common.fill_policy(args.policy, args, spe)
    ref_row = common.run_row(ref)
    rows.append(dict(partition=part, rule="(none)", **ref_row,
                     shard_sizes=ref["config"]["shard_sizes"],
                     steps_per_epoch=spe))
    for rule in rules:
      rec = exp.run_train(f"{tag(part)}_{rule}", flags + [
          f"--policy={policy}", f"--vote_rule={rule}"])
      row = dict(partition=part, rule=rule, **common.run_row(rec),
                 shard_sizes=rec["config"]["shard_sizes"],
                 steps_per_epoch=spe)
      row["saved_total_frac"] = 1 - row["total_time_s"] / ref_row["total_time_s"]
      row["saved_step_frac"] = 1 - (row["median_step_ms"] /
                                    ref_row["median_step_ms"])
      row["accuracy_drop_pts"] = 100 * (ref_row["final_test_accuracy"] -
                                        row["final_test_accuracy"])
      evs = rec["summary"]["freeze_events"]
      row["first_freeze_step"] = min((e["step"] for e in evs), default=None)
      rows.append(row)
      for e in evs:
        events.append({"partition": part, "rule": rule, "unit": e["name"],
                       "step": e["step"], "epoch": e["epoch"] + 1,
                       "unfreeze": e["unfreeze"]})
      timelines.append({"partition": part, "rule": rule, "steps_per_epoch": spe,
                        "frozen": [s["frozen"]
                                   for s in rec["trace_data"]["steps"]]})
  return exp.write_results({
      "policy": args.policy, "rows": rows, "events": events,
      "timelines": timelines,
      "records": [common.strip(r) for r in exp.records]})


COLUMNS = ["partition", "rule", "shard_sizes", "steps_per_epoch", "policy",
           "first_freeze_step", "freeze_events", "frozen_at_end",
           "total_time_s", "saved_total_frac", "median_step_ms",
           "saved_step_frac", "final_test_accuracy", "accuracy_drop_pts",
           "bytes_per_step", "loadavg_before", "loadavg_after",
           "others_busy_cores", "wall_s"]


def report(exp, res):
  out = exp.out
  rows = res["rows"]
  common.write_csv(os.path.join(out, "votes.csv"), rows, COLUMNS)
  common.write_csv(os.path.join(out, "freeze_events.csv"), res["events"],
                   ["partition", "rule", "unit", "step", "epoch", "unfreeze"])
  print()
  print(f"policy {res['policy']}; saving and accuracy drop against the "
        "partition's run without freezing")
  print("| partition | shards | rule | first freeze (step) | frozen at end | "
        "freeze events | training s | saved | final acc | drop (pts) |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    shards = "/".join(str(x) for x in r["shard_sizes"])
    first = r.get("first_freeze_step")
    print(f"| {r['partition']} | {shards} | {r['rule']} | "
          f"{'-' if first is None else first} | {r['frozen_at_end']} | "
          f"{r['freeze_events'] or '-'} | {r['total_time_s']:.1f} | "
          f"{100 * r.get('saved_total_frac', 0):.1f}% | "
          f"{r['final_test_accuracy']:.4f} | "
          f"{r.get('accuracy_drop_pts', 0):+.1f} |")

  plt = common.pyplot()
  cap = common.caption(res)
  parts = []
  for r in rows:
    if r["partition"] not in parts:
      parts.append(r["partition"])
  rules = [r["rule"] for r in rows if r["partition"] == parts[0]
           and r["rule"] != "(none)"]
  fig, axes = plt.subplots(1, len(parts), figsize=(3.0 * len(parts), 3.2),
                           sharey=True, squeeze=False)
  for i, part in enumerate(parts):
    ax = axes[0][i]
    for j, t in enumerate([t for t in res["timelines"]
                           if t["partition"] == part]):
      spe = t["steps_per_epoch"]
      # Offset the lines a little so that equal schedules stay visible.
      ax.step([s / spe for s in range(len(t["frozen"]))],
              [f + 0.06 * (j - 2) for f in t["frozen"]], where="post",
              lw=1.2, label=t["rule"])
    ax.set_title(part.replace("dirichlet:", "Dirichlet "), fontsize=8)
    ax.set_xlabel("epoch")
    if i == 0:
      ax.set_ylabel("frozen units")
      ax.legend(fontsize=7)
  fig.suptitle(f"Exp. 3: when each vote rule freezes ({res['policy']})\n"
               f"{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp3_frozen_units.png"),
                  exp.args.dpi)
  # Saving and accuracy per partition and rule.
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
  width = 0.8 / max(1, len(rules))
  for j, rule in enumerate(rules):
    xs = [i + (j - (len(rules) - 1) / 2) * width for i in range(len(parts))]
    sel = [next(r for r in rows if r["partition"] == p and r["rule"] == rule)
           for p in parts]
    a1.bar(xs, [100 * r.get("saved_total_frac", 0) for r in sel], width,
           label=rule)
    a2.bar(xs, [r.get("accuracy_drop_pts", 0) for r in sel], width,
           label=rule)
  labels = [p.replace("dirichlet:alpha=", "Dir a=") for p in parts]
  for ax, yl in ((a1, "time saved vs no freezing (%)"),
                 (a2, "accuracy drop vs no freezing (points)")):
    ax.set_xticks(range(len(parts)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(yl)
    ax.axhline(0, color="k", lw=0.6)
  a1.legend(fontsize=7)
  fig.suptitle(f"Exp. 3: vote rules, IID and non-IID\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp3_time_accuracy.png"),
                  exp.args.dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report)


if __name__ == "__main__":
  sys.exit(main())
