"""Experiment 8: the study's questions on a Vision Transformer (issue 15).

vit_mini (torchvision's VisionTransformer: width 128, 6 encoder blocks, 4
heads, MLP 512; patch 4 on 32x32 images, 65 tokens), pre-trained on
--source_classes as the ResNet-18 source model of experiments 1-7 is (its
own source model, made once under out/experiments/pretrain_<data>_vit_mini
and reused), fine-tuned on --target_classes. Child units: embedding |
encoder_layer_0..5 | head. Parts (--parts):

  sweep     static:K for K in --ks (K=1: the embedding; K=2..7: it and the
            first K-1 blocks): training time, median step, bytes all-reduced
            per step, accuracy; beside experiment 1's ResNet-18 sweep when
            --exp1 holds one
  adaptive  the policies of --policies (as experiment 2) against none
  cache     for K in --cache_ks: none, static:K and static:K + --cache, all
            with --augment_variants=1 (the cache can hit from epoch 2): step
            time per epoch and end to end (experiment 4's tables)
  replay    the simulator's prediction (//replay, network `recorded`) of every
            sweep and adaptive run from the sweep's none run, against the
            measured training time: within 10%? (issue 15, item 5)
  and, from the none run's trace, where the time goes: per unit its share
  of parameters, of the bytes all-reduced and of the step's forward +
  backward time (the trainer's per-unit clocks), beside ResNet-18's (the
  none run of --exp1).

  bazel run //benchmarks:exp8_vit -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp8_vit [--out=DIR]

The replay check alone (none, three static:K, two adaptive policies; exits 1
when a prediction misses the measured training time by more than 10%):

  bazel run //benchmarks:exp8_vit -- --parts=sweep,adaptive,replay \\
      --ks=0,2,4,6 --policies='gradnorm:variant=prefix;autofreeze' \\
      --check_replay --out=out/experiments/exp8_replay_check

Writes OUT/results.json, OUT/static_sweep.csv, adaptive.csv, cache.csv,
cache_per_epoch.csv, replay.csv, where_time_goes.csv and the figures
OUT/exp8_where_time_goes.png, exp8_static_sweep.png, exp8_adaptive.png,
exp8_cache.png, exp8_replay.png. SGD at --lr=0.03 (the ResNets' 0.1 does
not train a ViT from scratch). Default sizes: 4096 training and 1000 test
samples, 4 epochs, 2 ranks, batch 64 per rank (32 steps per epoch): 19.4 min
here with OpenBLAS (tools/setup.sh installs libopenblas0-openmp; on Debian's
reference BLAS a vit_mini step took ~5 s instead of ~0.5 s: trace_tool info
names the BLAS a run used).
"""

import os
import sys

from benchmarks import harness
from benchmarks.experiments import common
from benchmarks.experiments import exp2_adaptive
from benchmarks.experiments import exp4_cache
from benchmarks.experiments import exp6_replay

SIZES = {"train_limit": 4096, "test_limit": 1000, "epochs": 4}
FULL = {"train_limit": 0, "test_limit": 0, "epochs": 30}
SMOKE = {"train_limit": 128, "test_limit": 32, "epochs": 2}

PARTS = ("sweep", "adaptive", "cache", "replay")
DEFAULT_POLICIES = ";".join([
    "gradnorm", "gradnorm:variant=prefix",
    "gradnorm:variant=prefix,interval={2T},warmup={epoch}", "autofreeze",
    "freezeout", "apf"])
REPLAY_TOLERANCE = 0.10


def parse_args(argv=None):
  p = common.base_parser("exp8_vit", __doc__, SIZES, FULL, SMOKE)
  p.set_defaults(model="vit_mini")
  p.add_argument("--parts", default=",".join(PARTS),
                 help="which parts to run: " + ", ".join(PARTS) + " (replay "
                 "needs sweep's K=0 run)")
  p.add_argument("--ks", default="0,1,2,3,4,5,6,7",
                 help="static:K of the sweep (0: none, needed)")
  p.add_argument("--policies", default=DEFAULT_POLICIES,
                 help="';'-separated adaptive freeze/ specs; {epoch}: the "
                 "steps of one epoch, {2T}: twice --stats_interval")
  p.add_argument("--cache_ks", default="4",
                 help="K of the cache part's static:K (empty: no cache part)")
  p.add_argument("--lr", type=float, default=0.03,
                 help="SGD learning rate of every run, pre-training included")
  p.add_argument("--patch_size", type=int, default=None,
                 help="default: the model's (4 at 32x32); --smoke: 8")
  p.add_argument("--exp1", default=os.path.join(
      harness.REPO, "out", "experiments", "exp1_static_sweep"),
                 help="experiment 1's output folder, for ResNet-18 beside the "
                 "ViT ('' to leave out)")
  p.add_argument("--check_replay", action="store_true",
                 help="exit 1 when a replayed prediction misses the measured "
                 f"training time by more than {100 * REPLAY_TOLERANCE:.0f}%%")
  args = p.parse_args(argv)
  args.exp1 = harness.user_path(args.exp1)
  if args.patch_size is None and args.smoke:
    args.patch_size = 8  # 17 tokens: seconds per run in the smoke test
  args.model_flags = [f"--lr={args.lr}"] + (
      [f"--patch_size={args.patch_size}"] if args.patch_size else [])
  return common.resolve(args)


def parts(args):
  chosen = [x for x in args.parts.split(",") if x]
  for x in chosen:
    if x not in PARTS:
      raise SystemExit(f"--parts: unknown part {x!r}; valid: "
                       f"{', '.join(PARTS)}")
  return chosen


# --------------------------------------------------------------------------
# Runs.


def sweep(exp, ks):
  base_flags = exp.finetune_flags()
  recs = {}
  for k in ks:
    recs[k] = exp.run_train(
        f"static_{k}", base_flags + [f"--policy={common.static_policy(k)}"])
  return recs


def sweep_rows(recs):
  rows = []
  base = recs.get(0)
  for k, rec in sorted(recs.items()):
    row = dict(K=k, **common.run_row(rec))
    units = rec["trace_data"]["units"]
    total = sum(u["params"] for u in units)
    row["frozen_units"] = "+".join(u["name"] for u in units[:k]) or "-"
    row["frozen_params_frac"] = sum(u["params"] for u in units[:k]) / total
    if base:
      b = common.run_row(base)
      row["saved_total_frac"] = 1 - row["total_time_s"] / b["total_time_s"]
      row["saved_step_frac"] = 1 - row["median_step_ms"] / b["median_step_ms"]
      row["saved_bytes_frac"] = (1 - row["bytes_per_step"] / b["bytes_per_step"]
                                 if b["bytes_per_step"] else float("nan"))
      row["accuracy_drop_pts"] = 100 * (b["final_test_accuracy"] -
                                        row["final_test_accuracy"])
    rows.append(row)
  return rows


def adaptive(exp, base_rec):
  """The adaptive policies, summarised as experiment 2 does (with the
  sweep's none run as its reference)."""
  args = exp.args
  spe = int(base_rec["config"]["steps_per_epoch"])
  base_flags = exp.finetune_flags()
  recs = [dict(base_rec, spec="none")]
  for spec in [s for s in args.policies.split(";") if s]:
    spec = common.fill_policy(spec, args, spe)
    rec = exp.run_train("adaptive_" + exp2_adaptive.run_name(spec),
                        base_flags + [f"--policy={spec}"])
    rec["spec"] = spec
    recs.append(rec)
  return recs, exp2_adaptive.summarise(recs, spe)


def cache(exp, ks):
  """none, static:K, static:K + cache with fixed augmentations, in
  experiment 4's layout (one round)."""
  base = exp.finetune_flags() + ["--augment_variants=1"]
  cfgs = [("none", ["--policy=none"])]
  for k in ks:
    cfgs += [(f"static{k}", [f"--policy=static:{k}"]),
             (f"static{k}_cache", [f"--policy=static:{k}", "--cache"])]
  runs = []
  for name, flags in cfgs:
    rec = exp.run_train(f"fixed_{name}", base + flags)
    row = dict(config=name, round=0, **common.run_row(rec))
    c = rec["summary"]["cache"]
    row.update(cache_hits=c["hits"], cache_misses=c["misses"],
               forward_saved_s=c["forward_saved_s"],
               cache_disabled=c["disabled"])
    runs.append({"row": row, "epochs": exp4_cache.per_epoch(rec)})
  return {"configs": [c[0] for c in cfgs],
          "commands": {c[0]: " ".join(base + c[1]) for c in cfgs},
          "rounds": 1, "runs": runs}


def replay(exp, base_rec, targets):
  """Predictions of every target run from the none run's trace."""
  if not targets:
    return []
  rep, cmd = harness.replay(
      exp.bins["replay"], os.path.join(exp.out, "replays", "from_none"),
      base_rec["trace"], [t["config"]["policy"] for t in targets],
      network="recorded", world_sizes="recorded")
  rows = []
  for t, res in zip(targets, rep["results"]):
    group = "static" if t["name"].startswith("static_") else "adaptive"
    row = exp6_replay.case_row("exp8", group, t, res, cmd, base_rec)
    row["within_tolerance"] = abs(row["error_frac"]) <= REPLAY_TOLERANCE
    rows.append(row)
  return rows


# --------------------------------------------------------------------------
# Where the time goes.


def unit_shares(trace, model, skip=3):
  """Per unit of a no-freezing run's trace: share of parameters, of bytes
  and of the step's per-unit forward + backward time (medians over the
  steps after `skip`)."""
  units = trace["header"]["units"]
  steps = trace["steps"][skip:] if len(trace["steps"]) > skip + 2 else \
      trace["steps"]
  fwd = [harness.median(harness.i64(s["unit_forward_ns"][u]) * 1e-6
                        for s in steps) for u in range(len(units))]
  bwd = [harness.median(harness.i64(s["unit_backward_ns"][u]) * 1e-6
                        for s in steps) for u in range(len(units))]
  params = [harness.i64(u["params"]) for u in units]
  nbytes = [harness.i64(u.get("bytes")) for u in units]
  time = sum(fwd) + sum(bwd)
  rows = []
  for i, u in enumerate(units):
    rows.append({
        "model": model, "unit": i, "name": u["name"],
        "params": params[i], "params_frac": params[i] / max(1, sum(params)),
        "bytes_frac": nbytes[i] / max(1, sum(nbytes)),
        "forward_ms": fwd[i], "backward_ms": bwd[i],
        "time_frac": (fwd[i] + bwd[i]) / time if time > 0 else float("nan"),
        "output_floats": harness.i64(u.get("output_elements_per_sample")),
    })
  return rows


def resnet_reference(exp):
  """Experiment 1's results and its none run's unit shares, when present."""
  res = exp6_replay.load_exp(exp.args.exp1)
  if not res:
    return None, []
  base = next((r for r in res["records"] if r["name"] == "static_0"), None)
  shares = []
  if base and os.path.exists(base["trace"]) and "trace_json" in exp.bins:
    shares = unit_shares(harness.trace_json(exp.bins["trace_json"],
                                            base["trace"]),
                         res["settings"]["model"])
  return res, shares


# --------------------------------------------------------------------------
# The experiment.


def run(exp):
  args = exp.args
  chosen = parts(args)
  ks = [int(k) for k in args.ks.split(",") if k]
  if any(p in chosen for p in ("adaptive", "replay")) and 0 not in ks:
    raise SystemExit("--ks: adaptive and replay need the none run (K=0)")
  recs = sweep(exp, ks)
  base = recs.get(0)
  out = {"rows": sweep_rows(recs)}
  if base:
    out["where_time_goes"] = unit_shares(
        harness.trace_json(exp.bins["trace_json"], base["trace"]), args.model)
  resnet, resnet_shares = resnet_reference(exp)
  out["resnet"] = {
      "from": args.exp1, "rows": resnet["rows"] if resnet else [],
      "where_time_goes": resnet_shares,
      "caption": common.caption(resnet) if resnet else ""}
  adaptive_recs = []
  if "adaptive" in chosen:
    adaptive_recs, out["adaptive"] = adaptive(exp, base)
  if "cache" in chosen:
    cache_ks = [int(k) for k in args.cache_ks.split(",") if k]
    if cache_ks:
      out["cache"] = cache(exp, cache_ks)
  if "replay" in chosen:
    targets = [r for k, r in sorted(recs.items()) if k > 0] + [
        r for r in adaptive_recs if r.get("spec") != "none"]
    out["replay"] = replay(exp, base, targets)
  return exp.write_results(
      out | {"records": [common.strip(r) for r in exp.records]})


SWEEP_COLUMNS = ["K", "frozen_units", "frozen_params_frac", "policy",
                 "total_time_s", "saved_total_frac", "median_step_ms",
                 "saved_step_frac", "bytes_per_step", "saved_bytes_frac",
                 "final_test_accuracy", "best_test_accuracy",
                 "accuracy_drop_pts", "fwd_per_epoch_s", "bwd_per_epoch_s",
                 "opt_per_epoch_s", "comm_exposed_per_epoch_s",
                 "loadavg_before", "loadavg_after", "others_busy_cores",
                 "wall_s"]
REPLAY_COLUMNS = ["group", "run", "policy", "predicted_s", "measured_s",
                  "error_frac", "within_tolerance", "predicted_saving",
                  "measured_saving", "same_schedule", "measured_schedule",
                  "replayed_schedule", "command"]


def print_tables(res):
  print()
  print("Static sweep: training time, bytes per step, accuracy (saved: "
        "against K=0)")
  print("| K | frozen | params frozen | training s | saved | median step ms "
        "| bytes/step saved | final acc | drop (pts) |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in res["rows"]:
    print(f"| {r['K']} | {r['frozen_units']} | "
          f"{100 * r['frozen_params_frac']:.1f}% | {r['total_time_s']:.1f} | "
          f"{100 * r.get('saved_total_frac', 0):.1f}% | "
          f"{r['median_step_ms']:.0f} | "
          f"{100 * r.get('saved_bytes_frac', 0):.1f}% | "
          f"{r['final_test_accuracy']:.4f} | "
          f"{r.get('accuracy_drop_pts', 0):+.1f} |")
  if res.get("where_time_goes"):
    print()
    print("Where the time goes (none run, per unit: share of parameters, of "
          "bytes, of forward + backward time)")
    print("| model | unit | params | bytes | fwd+bwd time | output floats |")
    print("|---|---|---|---|---|---|")
    for r in res["where_time_goes"] + res["resnet"]["where_time_goes"]:
      print(f"| {r['model']} | {r['name']} | {100 * r['params_frac']:.1f}% | "
            f"{100 * r['bytes_frac']:.1f}% | {100 * r['time_frac']:.1f}% | "
            f"{r['output_floats']} |")
  if res.get("replay"):
    print()
    print(f"Replay from the none run's trace (network recorded): predicted "
          f"vs measured training time, tolerance "
          f"{100 * REPLAY_TOLERANCE:.0f}%")
    print("| run | policy | predicted s | measured s | error | within | same "
          "schedule |")
    print("|---|---|---|---|---|---|---|")
    for r in res["replay"]:
      print(f"| {r['run']} | {r['policy']} | {r['predicted_s']:.1f} | "
            f"{r['measured_s']:.1f} | {100 * r['error_frac']:+.1f}% | "
            f"{'yes' if r['within_tolerance'] else 'NO'} | "
            f"{r['same_schedule']} |")


def report(exp, res):
  out = exp.out
  common.write_csv(os.path.join(out, "static_sweep.csv"), res["rows"],
                   SWEEP_COLUMNS)
  common.write_csv(os.path.join(out, "where_time_goes.csv"),
                   res.get("where_time_goes", []) +
                   res["resnet"]["where_time_goes"])
  if res.get("adaptive"):
    common.write_csv(os.path.join(out, "adaptive.csv"),
                     res["adaptive"]["rows"], exp2_adaptive.COLUMNS)
  if res.get("cache"):
    common.write_csv(os.path.join(out, "cache.csv"),
                     exp4_cache.aggregate(res["cache"]))
    common.write_csv(os.path.join(out, "cache_per_epoch.csv"), [
        dict(config=r["row"]["config"], **e) for r in res["cache"]["runs"]
        for e in r["epochs"]])
  if res.get("replay"):
    common.write_csv(os.path.join(out, "replay.csv"), res["replay"],
                     REPLAY_COLUMNS)
  print_tables(res)
  plots(exp, res)
  missed = [r for r in res.get("replay", []) if not r["within_tolerance"]]
  if missed:
    harness.log(f"replay: {len(missed)} of {len(res['replay'])} predictions "
                f"miss by more than {100 * REPLAY_TOLERANCE:.0f}%: " +
                ", ".join(f"{r['run']} ({100 * r['error_frac']:+.1f}%)"
                          for r in missed))
  if exp.args.check_replay and (missed or not res.get("replay")):
    raise SystemExit(1)


# --------------------------------------------------------------------------
# Figures.


def plot_where_time_goes(plt, res, cap, path, dpi):
  models = [(res["settings"]["model"], res.get("where_time_goes", []))]
  if res["resnet"]["where_time_goes"]:
    models.append((res["resnet"]["where_time_goes"][0]["model"],
                   res["resnet"]["where_time_goes"]))
  fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8),
                           squeeze=False)
  for ax, (name, rows) in zip(axes[0], models):
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [100 * r["params_frac"] for r in rows],
           0.4, label="parameters (= bytes)")
    ax.bar([x + 0.2 for x in xs], [100 * r["time_frac"] for r in rows], 0.4,
           label="forward + backward time")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["name"].replace("encoder_layer_", "blk")
                        for r in rows], rotation=45, fontsize=7)
    ax.set_ylabel("share (%)")
    ax.set_ylim(0, 1.3 * max([100 * max(r["params_frac"], r["time_frac"])
                              for r in rows] + [1]))
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
  fig.suptitle(f"Exp. 8: where the time goes, per unit (no freezing)\n{cap}",
               fontsize=9)
  common.save_fig(fig, path, dpi)


def plot_sweep(plt, res, cap, path, dpi):
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
  series = [(res["settings"]["model"], res["rows"], "-")]
  if res["resnet"]["rows"]:
    series.append(("resnet (exp. 1)", res["resnet"]["rows"], "--"))
  for name, rows, style in series:
    fr = [100 * r["frozen_params_frac"] for r in rows]
    a1.plot(fr, [100 * r.get("saved_total_frac", 0) for r in rows],
            "o" + style, ms=3, label=f"{name}: time saved")
    a1.plot(fr, [100 * (1 - r["bytes_per_step"] /
                        max(1e-9, rows[0]["bytes_per_step"])) for r in rows],
            "s" + style, ms=3, alpha=0.6, label=f"{name}: bytes saved")
    a2.plot([r["K"] for r in rows],
            [100 * r["final_test_accuracy"] for r in rows], "o" + style,
            ms=3, label=name)
  a1.set_xlabel("parameters frozen (%)")
  a1.set_ylabel("saved against K=0 (%)")
  a1.legend(fontsize=7)
  a2.set_xlabel("frozen units K")
  a2.set_ylabel("final test accuracy (%)")
  a2.legend(fontsize=7)
  fig.suptitle(f"Exp. 8: static freezing on a ViT\n{cap}", fontsize=9)
  common.save_fig(fig, path, dpi)


def plot_adaptive(plt, res, cap, path, dpi):
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for r in res["adaptive"]["rows"]:
    x, y = 100 * r.get("saved_total_frac", 0), 100 * r["final_test_accuracy"]
    ax.plot(x, y, "o")
    ax.annotate(r["spec"], (x, y), fontsize=6, xytext=(3, 3),
                textcoords="offset points")
  ax.set_xlabel("training time saved against none (%)")
  ax.set_ylabel("final test accuracy (%)")
  ax.set_title(f"Exp. 8: adaptive freezing on a ViT\n{cap}", fontsize=9)
  common.save_fig(fig, path, dpi)


def plot_cache(plt, res, cap, path, dpi):
  agg = exp4_cache.aggregate(res["cache"])
  n_ep = len(res["cache"]["runs"][0]["epochs"])
  fig, ax = plt.subplots(figsize=(6.5, 3.8))
  for a in agg:
    ax.plot(range(1, n_ep + 1),
            [a[f"epoch{e + 1}_step_ms"] for e in range(n_ep)], "o-", ms=3,
            label=f"{a['config']} ({a['total_time_s_median']:.0f} s)")
  ax.set_xlabel("epoch")
  ax.set_ylabel("median step time (ms)")
  ax.set_xticks(range(1, n_ep + 1))
  ax.set_ylim(bottom=0)
  ax.legend(fontsize=7)
  ax.set_title(f"Exp. 8: what the cache of tokens buys (1 fixed "
               f"augmentation per sample)\n{cap}", fontsize=9)
  common.save_fig(fig, path, dpi)


def plot_replay(plt, res, cap, path, dpi):
  rows = res["replay"]
  fig, ax = plt.subplots(figsize=(5.5, 4.5))
  hi = max(max(r["predicted_s"], r["measured_s"]) for r in rows) * 1.1
  ax.plot([0, hi], [0, hi], "k-", lw=0.8)
  ax.fill_between([0, hi], [0, hi * (1 - REPLAY_TOLERANCE)],
                  [0, hi * (1 + REPLAY_TOLERANCE)], color="0.9",
                  label=f"±{100 * REPLAY_TOLERANCE:.0f}%")
  for group, marker in (("static", "o"), ("adaptive", "s")):
    pts = [r for r in rows if r["group"] == group]
    ax.plot([r["measured_s"] for r in pts], [r["predicted_s"] for r in pts],
            marker, ls="", label=group)
    for r in pts:
      ax.annotate(r["policy"], (r["measured_s"], r["predicted_s"]),
                  fontsize=5, xytext=(2, 2), textcoords="offset points")
  ax.set_xlabel("measured training time (s)")
  ax.set_ylabel("predicted from the none run (s)")
  ax.legend(fontsize=7)
  ax.set_title(f"Exp. 8: replay on a ViT\n{cap}", fontsize=9)
  common.save_fig(fig, path, dpi)


def plots(exp, res):
  plt = common.pyplot()
  cap = common.caption(res)
  dpi = exp.args.dpi
  out = exp.out
  if res.get("where_time_goes"):
    plot_where_time_goes(plt, res, cap,
                         os.path.join(out, "exp8_where_time_goes.png"), dpi)
  plot_sweep(plt, res, cap, os.path.join(out, "exp8_static_sweep.png"), dpi)
  if res.get("adaptive"):
    plot_adaptive(plt, res, cap, os.path.join(out, "exp8_adaptive.png"), dpi)
  if res.get("cache"):
    plot_cache(plt, res, cap, os.path.join(out, "exp8_cache.png"), dpi)
  if res.get("replay"):
    plot_replay(plt, res, cap, os.path.join(out, "exp8_replay.png"), dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report,
                     binaries=("train", "trace_json", "replay"))


if __name__ == "__main__":
  sys.exit(main())
