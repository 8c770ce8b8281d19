"""Experiment 2: adaptive freezing against full fine-tuning (the study's
Table 1 and Figure 6), for the gradient norm test and the other policies.

Fine-tunes the source model once per policy of --policies (freeze/README.md)
with the global vote rule: `none` (full fine-tuning), the study's `gradnorm`
(Algorithm 1: the unit with the smallest eta is frozen if every unit before
it is frozen), its `prefix` variant, the demo's setting of it (prefix,
interval 2T, no freezing in the first epoch), `autofreeze`, `threshold`,
`freezeout`, `pipetransformer`, `apf`, all with their defaults otherwise.
Reports the phase table of the study's Table 1 (average forward, backward,
optimizer and exposed communication time per epoch, total training time),
the saving against `none`, how much faster the backward pass was, accuracy,
and when each unit froze.

  bazel run //benchmarks:exp2_adaptive -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp2_adaptive [--out=DIR]

Writes OUT/results.json, OUT/table1.csv, OUT/accuracy_per_epoch.csv,
OUT/freeze_events.csv and the figures OUT/exp2_accuracy_per_epoch.png
(Figure 6: accuracy per epoch with the freeze points marked),
exp2_frozen_units.png (frozen units over the steps), exp2_tradeoff.png
(saving against accuracy). Default sizes as experiment 1 (8000 / 2000
samples, 8 epochs, 2 ranks; about 24 minutes on 2 idle cores).
"""

import os
import sys

from benchmarks.experiments import common

SIZES = {"train_limit": 8000, "test_limit": 2000, "epochs": 8}
FULL = {"train_limit": 0, "test_limit": 0, "epochs": 50}
SMOKE = {"train_limit": 256, "test_limit": 64, "epochs": 2}

# {epoch}: the steps of one epoch (known after the `none` run).
DEFAULT_POLICIES = ";".join([
    "none", "gradnorm", "gradnorm:variant=prefix",
    "gradnorm:variant=prefix,interval={2T},warmup={epoch}", "autofreeze",
    "threshold", "freezeout", "pipetransformer", "apf"])


def parse_args(argv=None):
  p = common.base_parser("exp2_adaptive", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--policies", default=DEFAULT_POLICIES,
                 help="';'-separated freeze/ specs; the first must be none; "
                 "{epoch} is replaced by the steps of one epoch, {2T} by "
                 "twice --stats_interval")
  p.add_argument("--vote_rule", default="global")
  return common.resolve(p.parse_args(argv))


def run_name(spec):
  return (spec.replace(":", "_").replace(",", "_").replace("=", "")
          .replace(".", "p"))


def run(exp):
  args = exp.args
  specs = [s for s in args.policies.split(";") if s]
  base_flags = exp.finetune_flags() + [f"--vote_rule={args.vote_rule}"]
  recs, steps_per_epoch = [], None
  for spec in specs:
    if "{epoch}" in spec and steps_per_epoch is None:
      raise SystemExit("--policies: run none first (it fixes {epoch})")
    spec = common.fill_policy(spec, args, steps_per_epoch)
    rec = exp.run_train(run_name(spec), base_flags + [f"--policy={spec}"])
    rec["spec"] = spec
    steps_per_epoch = int(rec["config"]["steps_per_epoch"])
    recs.append(rec)
  return exp.write_results(summarise(recs, steps_per_epoch) | {
      "records": [common.strip(r) for r in exp.records]})


def summarise(recs, steps_per_epoch):
  rows, curves, events, timelines = [], [], [], []
  base = next((r for r in recs if r["spec"] == "none"), None)
  b = common.run_row(base) if base else None
  for rec in recs:
    row = dict(spec=rec["spec"], **common.run_row(rec))
    if b:
      row["saved_total_frac"] = 1 - row["total_time_s"] / b["total_time_s"]
      row["saved_step_frac"] = 1 - row["median_step_ms"] / b["median_step_ms"]
      row["backward_faster_frac"] = 1 - (row["bwd_per_epoch_s"] /
                                         b["bwd_per_epoch_s"])
      row["accuracy_drop_pts"] = 100 * (b["final_test_accuracy"] -
                                        row["final_test_accuracy"])
    evs = rec["summary"]["freeze_events"]
    row["first_freeze_step"] = min((e["step"] for e in evs), default=None)
    rows.append(row)
    for e, acc in enumerate(rec["summary"]["test_accuracy_per_epoch"], 1):
      curves.append({"spec": rec["spec"], "epoch": e, "test_accuracy": acc})
    for e in evs:
      events.append({"spec": rec["spec"], "unit": e["name"], "step": e["step"],
                     "epoch": e["epoch"] + 1, "unfreeze": e["unfreeze"]})
    timelines.append({"spec": rec["spec"], "frozen": [
        s["frozen"] for s in rec["trace_data"]["steps"]]})
  return {"rows": rows, "curves": curves, "events": events,
          "timelines": timelines, "steps_per_epoch": steps_per_epoch}


COLUMNS = ["spec", "policy", "total_time_s", "saved_total_frac",
           "median_step_ms", "saved_step_frac", "fwd_per_epoch_s",
           "bwd_per_epoch_s", "backward_faster_frac", "opt_per_epoch_s",
           "comm_exposed_per_epoch_s", "stats_per_epoch_s",
           "total_per_epoch_s", "final_test_accuracy", "best_test_accuracy",
           "accuracy_drop_pts", "first_freeze_step", "frozen_at_end",
           "freeze_events", "bytes_per_step", "loadavg_before",
           "loadavg_after", "others_busy_cores", "wall_s"]


def report(exp, res):
  out = exp.out
  rows = res["rows"]
  common.write_csv(os.path.join(out, "table1.csv"), rows, COLUMNS)
  common.write_csv(os.path.join(out, "accuracy_per_epoch.csv"), res["curves"])
  common.write_csv(os.path.join(out, "freeze_events.csv"), res["events"],
                   ["spec", "unit", "step", "epoch", "unfreeze"])
  print()
  print("Table 1 layout: average seconds per epoch (rank 0), total training "
        "time, saving against none")
  print("| policy | forward | backward | optimizer | comm (exposed) | "
        "total s | saved | backward faster | final acc | freeze events "
        "(unit@step) | load before->after |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['spec']} | {r['fwd_per_epoch_s']:.2f} | "
          f"{r['bwd_per_epoch_s']:.2f} | {r['opt_per_epoch_s']:.2f} | "
          f"{r['comm_exposed_per_epoch_s']:.2f} | {r['total_time_s']:.1f} | "
          f"{100 * r.get('saved_total_frac', 0):.1f}% | "
          f"{100 * r.get('backward_faster_frac', 0):.1f}% | "
          f"{r['final_test_accuracy']:.4f} | {r['freeze_events'] or '-'} | "
          f"{r['loadavg_before']:.2f}->{r['loadavg_after']:.2f} |")

  plt = common.pyplot()
  cap = common.caption(res)
  spe = res["steps_per_epoch"]
  specs = [r["spec"] for r in rows]
  n = len(specs)
  cols = 3
  nrows = (n + cols - 1) // cols
  # Figure 6: accuracy per epoch, freeze points marked, none as reference.
  fig, axes = plt.subplots(nrows, cols, figsize=(9, 2.4 * nrows + 0.6),
                           sharex=True, sharey=True, squeeze=False)
  base = [c for c in res["curves"] if c["spec"] == "none"]
  for i, spec in enumerate(specs):
    ax = axes[i // cols][i % cols]
    pts = [c for c in res["curves"] if c["spec"] == spec]
    if base and spec != "none":
      ax.plot([c["epoch"] for c in base],
              [100 * c["test_accuracy"] for c in base], "-", color="0.6",
              lw=1, label="none")
    ax.plot([c["epoch"] for c in pts], [100 * c["test_accuracy"] for c in pts],
            "o-", ms=3, color="tab:blue", label=spec)
    for e in [e for e in res["events"] if e["spec"] == spec]:
      # A freeze applied at step s takes effect inside epoch s / spe.
      x = e["step"] / spe
      ax.axvline(x, color="tab:red" if not e["unfreeze"] else "tab:green",
                 lw=0.8, alpha=0.7)
    nev = sum(1 for e in res["events"] if e["spec"] == spec)
    ax.set_title(f"{spec} ({nev} events)", fontsize=8)
    if i % cols == 0:
      ax.set_ylabel("test acc. (%)")
    if i // cols == nrows - 1:
      ax.set_xlabel("epoch (red: a unit freezes)")
  for j in range(n, nrows * cols):
    axes[j // cols][j % cols].axis("off")
  fig.suptitle(f"Exp. 2: accuracy per epoch with freeze points (grey: none)"
               f"\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp2_accuracy_per_epoch.png"),
                  exp.args.dpi)
  # Frozen units over the steps.
  fig, ax = plt.subplots(figsize=(7, 3.8))
  for t in res["timelines"]:
    if t["spec"] == "none":
      continue
    ax.step([s / spe for s in range(len(t["frozen"]))], t["frozen"],
            where="post", label=t["spec"], lw=1.2)
  ax.set_xlabel("epoch")
  ax.set_ylabel("frozen units (of 6)")
  ax.set_ylim(-0.2, 6.2)
  ax.legend(fontsize=7, ncol=2)
  ax.set_title(f"Exp. 2: frozen units over training\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp2_frozen_units.png"),
                  exp.args.dpi)
  # Saving against accuracy.
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for r in rows:
    ax.plot(100 * r.get("saved_total_frac", 0), 100 * r["final_test_accuracy"],
            "o")
    ax.annotate(r["spec"], (100 * r.get("saved_total_frac", 0),
                            100 * r["final_test_accuracy"]), fontsize=6,
                xytext=(3, 3), textcoords="offset points")
  ax.set_xlabel("training time saved against none (%)")
  ax.set_ylabel("final test accuracy (%)")
  ax.set_title(f"Exp. 2: time saved vs accuracy\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp2_tradeoff.png"), exp.args.dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report)


if __name__ == "__main__":
  sys.exit(main())
