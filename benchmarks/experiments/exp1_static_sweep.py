"""Experiment 1: static freezing, K = 0..6 frozen groups (the study's
Figures 3, 4 and 5).

Fine-tunes the source model (pre-trained on --source_classes) on
--target_classes once per K with --policy=static:K (K=0: none): the first K
of the 7 child groups (conv1, bn1, layer1, layer2, layer3, layer4, fc) are
frozen from the first step. Measures total training time (the trainer's
total_time_s: the training steps, without start-up and evaluation), the
median step time, final and per-epoch test accuracy.

  bazel run //benchmarks:exp1_static_sweep -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp1_static_sweep [--out=DIR]

Writes OUT/results.json, OUT/static_sweep.csv, OUT/accuracy_per_epoch.csv
and the figures OUT/exp1_time.png, exp1_accuracy.png,
exp1_accuracy_per_epoch.png. Default sizes: 8000 training and 2000 test
samples, 8 epochs, 2 ranks (about 10 minutes on 2 idle cores); --full: all
samples of the target classes, 50 epochs.
"""

import os
import sys

from benchmarks.experiments import common

SIZES = {"train_limit": 8000, "test_limit": 2000, "epochs": 8}
FULL = {"train_limit": 0, "test_limit": 0, "epochs": 50}
SMOKE = {"train_limit": 256, "test_limit": 64, "epochs": 2}


def parse_args(argv=None):
  p = common.base_parser("exp1_static_sweep", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--ks", default="0,1,2,3,4,5,6",
                 help="numbers of frozen groups")
  return common.resolve(p.parse_args(argv))


def run(exp):
  args = exp.args
  ks = [int(k) for k in args.ks.split(",") if k]
  base_flags = exp.finetune_flags()
  rows, curves = [], []
  for k in ks:
    rec = exp.run_train(f"static_{k}",
                        base_flags + [f"--policy={common.static_policy(k)}"])
    row = dict(K=k, **common.run_row(rec))
    units = rec["trace_data"]["units"]
    total_params = sum(u["params"] for u in units)
    row["frozen_units"] = "+".join(u["name"] for u in units[:k]) or "-"
    row["frozen_params_frac"] = sum(u["params"] for u in units[:k]) / total_params
    rows.append(row)
    for e, acc in enumerate(rec["summary"]["test_accuracy_per_epoch"], 1):
      curves.append({"K": k, "epoch": e, "test_accuracy": acc})
  base = next((r for r in rows if r["K"] == 0), None)
  for r in rows:
    if base:
      r["saved_total_frac"] = 1 - r["total_time_s"] / base["total_time_s"]
      r["saved_step_frac"] = 1 - r["median_step_ms"] / base["median_step_ms"]
      r["accuracy_drop_pts"] = 100 * (base["final_test_accuracy"] -
                                      r["final_test_accuracy"])
  return exp.write_results({"rows": rows, "curves": curves,
                            "records": [common.strip(r) for r in exp.records]})


COLUMNS = ["K", "frozen_units", "frozen_params_frac", "policy",
           "total_time_s", "saved_total_frac", "median_step_ms",
           "saved_step_frac", "final_test_accuracy", "best_test_accuracy",
           "accuracy_drop_pts", "freeze_events", "fwd_per_epoch_s",
           "bwd_per_epoch_s",
           "opt_per_epoch_s", "comm_exposed_per_epoch_s", "bytes_per_step",
           "loadavg_before", "loadavg_after", "others_busy_cores", "wall_s"]


def report(exp, res):
  out = exp.out
  rows, curves = res["rows"], res["curves"]
  common.write_csv(os.path.join(out, "static_sweep.csv"), rows, COLUMNS)
  common.write_csv(os.path.join(out, "accuracy_per_epoch.csv"), curves)
  print()
  print("| K | frozen | params frozen | training s | saved | median step ms "
        "| saved/step | final acc | drop (pts) | load before->after | other "
        "cores |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['K']} | {r['frozen_units']} | "
          f"{100 * r['frozen_params_frac']:.1f}% | {r['total_time_s']:.1f} | "
          f"{100 * r.get('saved_total_frac', 0):.1f}% | "
          f"{r['median_step_ms']:.0f} | {100 * r.get('saved_step_frac', 0):.1f}%"
          f" | {r['final_test_accuracy']:.4f} | "
          f"{r.get('accuracy_drop_pts', 0):+.1f} | {r['loadavg_before']:.2f}"
          f"->{r['loadavg_after']:.2f} | {r['others_busy_cores']:.2f} |")

  plt = common.pyplot()
  cap = common.caption(res)
  ks = [r["K"] for r in rows]
  # Figure 3: training time per K.
  fig, ax = plt.subplots(figsize=(6, 3.6))
  ax.bar(ks, [r["total_time_s"] for r in rows], color="tab:blue",
         label="total training time (s)")
  for r in rows:
    if "saved_total_frac" in r and r["K"] > 0:
      ax.annotate(f"-{100 * r['saved_total_frac']:.0f}%",
                  (r["K"], r["total_time_s"]), ha="center", va="bottom",
                  fontsize=8)
  ax.set_xlabel("frozen groups K (conv1, bn1, layer1, ..., layer4)")
  ax.set_ylabel("training time (s)")
  ax.set_title(f"Exp. 1: training time vs frozen groups\n{cap}", fontsize=9)
  ax.set_xticks(ks)
  common.save_fig(fig, os.path.join(out, "exp1_time.png"), exp.args.dpi)
  # Figure 4: accuracy per K.
  fig, ax = plt.subplots(figsize=(6, 3.6))
  ax.plot(ks, [100 * r["final_test_accuracy"] for r in rows], "o-",
          label="final")
  ax.plot(ks, [100 * r["best_test_accuracy"] for r in rows], "s--",
          alpha=0.6, label="best epoch")
  ax.set_xlabel("frozen groups K")
  ax.set_ylabel("test accuracy (%)")
  ax.set_xticks(ks)
  ax.legend()
  ax.set_title(f"Exp. 1: test accuracy vs frozen groups\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp1_accuracy.png"), exp.args.dpi)
  # Figure 5: accuracy per epoch, one line per K.
  fig, ax = plt.subplots(figsize=(6, 3.8))
  for k in ks:
    pts = [c for c in curves if c["K"] == k]
    ax.plot([c["epoch"] for c in pts], [100 * c["test_accuracy"] for c in pts],
            "o-", ms=3, label=f"K={k}")
  ax.set_xlabel("epoch")
  ax.set_ylabel("test accuracy (%)")
  ax.legend(ncol=4, fontsize=8)
  ax.set_title(f"Exp. 1: test accuracy per epoch\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp1_accuracy_per_epoch.png"),
                  exp.args.dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report)


if __name__ == "__main__":
  sys.exit(main())
