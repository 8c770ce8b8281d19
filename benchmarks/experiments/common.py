"""What the study's experiments (issue 8, docs/RESULTS.md) share.

Every experiment script (expN_*.py in this folder) is one command that runs
real trainings with the project's own binaries, writes what it measured as
JSON and CSV into its output folder, and draws its figures (PNG) from that
JSON. This module holds what they have in common:

- the command line every experiment accepts (data, sizes, --full, binaries,
  source model, --resume, --plot_only, --smoke);
- the binaries of the experiment (prepared by the run harness,
  benchmarks/harness.py: copies in OUT/bin);
- the source model of the transfer (pre-training on the source classes,
  made once per recipe and reused by every experiment);
- running one training through the harness (command, timeout, log, the load
  of the machine around it), then its summary, the per-step times of the
  trace, cleanup of checkpoints and weights (0.05-0.5 GB per run);
- writing results (JSON, CSV) and figures (matplotlib, Agg).

Run the experiments with Debian's python (/usr/bin/python3: numpy,
matplotlib; torch for experiment 7), not the pyenv python on PATH:
`bazel run //benchmarks:expN_...`, or `/usr/bin/python3 -m
benchmarks.experiments.expN_...` from the checkout.
"""

import argparse
import csv
import datetime
import json
import os
import shutil
import sys
import time

from benchmarks import harness
from benchmarks.harness import REPO, i64, log, median, user_path


# --------------------------------------------------------------------------
# Command line.


def base_parser(name, description, sizes, full_sizes, smoke_sizes):
  """The flags every experiment accepts.

  `sizes`, `full_sizes`, `smoke_sizes`: dicts of the size flags (train_limit,
  test_limit, epochs, ...) for the default run, --full (the study's sizes)
  and --smoke (a seconds-long run for the tests). A size given on the command
  line wins over all three.
  """
  p = argparse.ArgumentParser(
      description=description,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--out", default="",
                 help=f"output folder (default: out/experiments/{name} in the "
                 "checkout; relative paths are taken from the current folder)")
  p.add_argument("--data", default="fashion_mnist",
                 help="fashion_mnist | fashion_mnist:DIR | cifar10:DIR "
                 "(CIFAR-10's binary version: data_batch_*.bin, "
                 "test_batch.bin)")
  p.add_argument("--source_classes", default="0,1,2,3,4",
                 help="classes of the pre-training (the source task)")
  p.add_argument("--target_classes", default="5,6,7,8,9",
                 help="classes of the fine-tuning (the target task)")
  p.add_argument("--init", default="",
                 help="source model for the fine-tuning (a run folder, "
                 "model.pt or a TorchScript export of torchvision, "
                 "tools/export_torchvision.py); default: pre-train one on "
                 "--source_classes (made once under --pretrain_dir, reused)")
  p.add_argument("--pretrain_dir", default="",
                 help="where the source model is made and reused (default: "
                 "out/experiments/pretrain_<data>[_full|_smoke])")
  p.add_argument("--full", action="store_true",
                 help="the study's sizes: all training and test samples of "
                 "the target classes, 50 epochs (hours per experiment)")
  p.add_argument("--smoke", action="store_true",
                 help="a tiny run (resnet_tiny, a few steps) that only "
                 "checks that the experiment works end to end")
  for key, default in sizes.items():
    p.add_argument("--" + key, type=type(default), default=None,
                   help=f"default {default}; --full {full_sizes.get(key, default)}")
  p.add_argument("--model", default=None, help="default resnet18 "
                 "(--smoke: resnet_tiny)")
  p.add_argument("--ranks", type=int, default=2, help="data-parallel ranks")
  p.add_argument("--threads", type=int, default=0,
                 help="torch threads per rank (0: cores / ranks)")
  p.add_argument("--batch_size", type=int, default=64, help="per rank")
  p.add_argument("--stats_interval", type=int, default=10,
                 help="base statistics interval T (steps)")
  p.add_argument("--seed", type=int, default=1)
  p.add_argument("--train_args", default="",
                 help="extra //train flags for every fine-tuning run "
                 "(space separated)")
  harness.add_binary_flags(
      p, ("train", "replay", "trace_json", "calibrate", "cluster"))
  p.add_argument("--timeout_s", type=int, default=7200, help="per run")
  p.add_argument("--resume", action="store_true",
                 help="keep runs that OUT/runs/ already holds with the same "
                 "command (after an interruption)")
  p.add_argument("--plot_only", action="store_true",
                 help="redraw the figures and tables from OUT/results.json")
  p.add_argument("--dpi", type=int, default=90, help="figure resolution")
  p.set_defaults(_name=name, _sizes=sizes, _full_sizes=full_sizes,
                 _smoke_sizes=smoke_sizes)
  return p


def resolve(args):
  """Fills the sizes from --full / --smoke / defaults; normalises paths."""
  table = args._sizes
  if args.full:
    table = dict(args._sizes, **args._full_sizes)
  if args.smoke:
    table = dict(args._sizes, **args._smoke_sizes)
  for key, default in table.items():
    if getattr(args, key) is None:
      setattr(args, key, default)
  if args.model is None:
    args.model = "resnet_tiny" if args.smoke else "resnet18"
  args.out = os.path.abspath(user_path(args.out) or os.path.join(
      REPO, "out", "experiments", args._name))
  args.init = user_path(args.init)
  args.pretrain_dir = user_path(args.pretrain_dir)
  if args.data.startswith(("cifar10:", "fashion_mnist:")):
    kind, folder = args.data.split(":", 1)
    args.data = kind + ":" + os.path.abspath(user_path(folder))
  os.makedirs(args.out, exist_ok=True)
  return args


def size_mode(args):
  return "smoke" if args.smoke else ("full" if args.full else "default")


def is_vit(model):
  return model.startswith("vit_")


def model_flags(args):
  """//train flags an experiment sets for its model in every run, the
  source model's pre-training included (args.model_flags, e.g. experiment
  8's --lr and --patch_size for a ViT)."""
  return list(getattr(args, "model_flags", []))


def static_policy(k):
  """The --policy of K frozen groups from the first step (K=0: none)."""
  return "none" if k == 0 else f"static:{k}"


def fill_policy(spec, args, steps_per_epoch):
  """A policy template with {epoch} (the steps of one epoch) and {2T} (twice
  --stats_interval) replaced."""
  return spec.replace("{epoch}", str(steps_per_epoch)).replace(
      "{2T}", str(2 * args.stats_interval))


def read_trace(bins, path):
  """The trace as a compact dict: units, per-step times, epochs."""
  t = harness.trace_json(bins["trace_json"], path)
  steps = []
  for s in t["steps"]:
    ph = s["phases"]
    c = s.get("cache") or {}
    steps.append({
        "step": i64(s["step"]), "epoch": i64(s["epoch"]),
        **harness.seconds(ph, "total"),
        "max_rank_total_s": i64(s.get("max_rank_total_ns")) * 1e-9,
        **harness.seconds(ph, "data", "forward", "backward", "comm_exposed",
                          "comm_total", "optimizer", "stats"),
        "bytes": i64(s["bytes_allreduced"]),
        "buckets": s.get("buckets", 0),
        "frozen": sum(1 for x in s["trainable"] if not x),
        "cache_hits": i64(c.get("hits")),
        "cache_misses": i64(c.get("misses")),
    })
  epochs = [{"epoch": e["epoch"], "last_step": i64(e["last_step"]),
             "test_accuracy": e["test_accuracy"],
             **harness.seconds(e, "train", "eval", "wall")}
            for e in t["epochs"]]
  return {"units": harness.trace_units(t), "steps": steps, "epochs": epochs,
          "steps_per_epoch": i64(t["header"]["config"].get("steps_per_epoch"))}


# --------------------------------------------------------------------------
# The experiment: output folder, runs, results.


class Experiment:
  """One experiment's output folder, binaries, source model and runs."""

  def __init__(self, args, binaries=("train", "trace_json")):
    self.args = args
    self.out = args.out
    self.runs_dir = os.path.join(self.out, "runs")
    os.makedirs(self.runs_dir, exist_ok=True)
    self.started = time.time()
    self.load_start = harness.loadavg()
    self.bins = {} if args.plot_only else harness.prepare_binaries(
        os.path.join(args.out, "bin"), harness.given_binaries(args, binaries))
    self.source = None
    self.records = []

  # ---- the transfer's source model

  def source_model(self):
    """The --init of the fine-tunings: given, or pre-trained once here."""
    if self.source is not None:
      return self.source["model"]
    a = self.args
    if a.init:
      self.source = {"model": a.init, "made_here": False}
      return a.init
    # The demo's recipe (train_main.cc DemoConfigs: 12 000 samples of
    # classes 0-4, 2 ranks), with 3 epochs instead of 1: one epoch leaves a
    # weak source model (63% test accuracy on classes 0-4).
    mode = size_mode(a)
    recipe = {
        "default": {"train_limit": 12000, "test_limit": 2000, "epochs": 3},
        "full": {"train_limit": 0, "test_limit": 0, "epochs": 10},
        "smoke": {"train_limit": 256, "test_limit": 64, "epochs": 1},
    }[mode]
    data_tag = a.data.split(":", 1)[0]
    # A ViT source model has its own folder, also beside a --pretrain_dir
    # that run_all gives every experiment (the ResNets' stays where it was).
    model_tag = f"_{a.model}" if is_vit(a.model) else ""
    folder = (a.pretrain_dir.rstrip("/") + model_tag if a.pretrain_dir else
              os.path.join(REPO, "out", "experiments",
                           f"pretrain_{data_tag}{model_tag}" +
                           ("" if mode == "default" else "_" + mode)))
    flags = [
        f"--data={a.data}", f"--classes={a.source_classes}",
        f"--train_limit={recipe['train_limit']}",
        f"--test_limit={recipe['test_limit']}",
        f"--epochs={recipe['epochs']}", f"--batch_size={a.batch_size}",
        f"--ranks={a.ranks}", f"--threads={a.threads}",
        f"--model={a.model}", "--policy=none", f"--seed={a.seed}",
        "--checkpoints=false", "--log_every=1000",
    ] + model_flags(a)
    cmd = [self.bins["train"]] + flags + [f"--out={folder}"]
    marker = os.path.join(folder, "pretrain.json")
    key = " ".join(flags)
    if os.path.exists(marker) and os.path.exists(
        os.path.join(folder, "model.pt")):
      with open(marker) as f:
        m = json.load(f)
      if m.get("flags") == key:
        log(f"source model: reusing {folder}/model.pt "
            f"(test accuracy {m['final_test_accuracy']:.4f} on classes "
            f"{a.source_classes})")
        self.source = m
        return m["model"]
    os.makedirs(folder, exist_ok=True)
    # A source model of other flags goes: //train refuses a folder that holds
    # a run (its files; anything else in the folder stays).
    for f in ("model.pt", "trace.pb", "summary.json", "config.json",
              "pretrain.json"):
      if os.path.exists(os.path.join(folder, f)):
        os.remove(os.path.join(folder, f))
    shutil.rmtree(os.path.join(folder, "checkpoint"), ignore_errors=True)
    log(f"source model: pre-training on classes {a.source_classes} into "
        f"{folder}")
    meas = harness.run_command(cmd, os.path.join(folder, "log.txt"),
                               a.timeout_s)
    with open(os.path.join(folder, "summary.json")) as f:
      s = json.load(f)
    m = {"model": os.path.join(folder, "model.pt"), "made_here": True,
         "command": " ".join(cmd), "flags": key,
         "final_test_accuracy": s["final_test_accuracy"],
         "total_time_s": s["total_time_s"], "measured": meas}
    with open(marker, "w") as f:
      json.dump(m, f, indent=1)
    log(f"source model: {s['final_test_accuracy']:.4f} test accuracy, "
        f"{meas['wall_s']:.0f} s")
    self.source = m
    return m["model"]

  # ---- fine-tuning runs

  def finetune_flags(self, train_limit=None, test_limit=None, epochs=None):
    """The flags of every fine-tuning run of the transfer."""
    a = self.args
    return [
        f"--data={a.data}", f"--classes={a.target_classes}",
        f"--train_limit={a.train_limit if train_limit is None else train_limit}",
        f"--test_limit={a.test_limit if test_limit is None else test_limit}",
        f"--epochs={a.epochs if epochs is None else epochs}",
        f"--batch_size={a.batch_size}", f"--threads={a.threads}",
        f"--model={a.model}", f"--init={self.source_model()}",
        # The head is the target task's: a fresh fc (a ViT's heads.head), as
        # when fine-tuning an ImageNet model on CIFAR-10.
        "--init_exclude=" + ("heads.head." if is_vit(a.model) else "fc."),
        f"--stats_interval={a.stats_interval}",
        f"--seed={a.seed}", "--checkpoints=false", "--log_every=1000",
    ] + model_flags(a) + [x for x in a.train_args.split() if x]

  def run_train(self, name, flags, env=None, ranks=None, keep_model=False,
                environment=None):
    """Runs //train with `flags` (plus --ranks, --out) as run `name`.

    `environment`: what the run ran on that its command does not say (e.g.
    experiment 9's link rate behind one cluster name), kept in the record
    so that runs on different links are not taken for twins
    (replay_runs.py).

    Returns the run's record: command, load, summary, per-step and per-epoch
    times from the trace. The trace stays (replay reads it); the model,
    checkpoints and activation cache files are deleted.
    """
    a = self.args
    run_dir = os.path.join(self.runs_dir, name)
    ranks = a.ranks if ranks is None else ranks
    cmd = [self.bins["train"]] + flags + [f"--ranks={ranks}",
                                          f"--out={run_dir}"]
    command = harness.command_text(cmd, env)
    rec_path = os.path.join(run_dir, "record.json")
    if a.resume and os.path.exists(rec_path):
      with open(rec_path) as f:
        rec = json.load(f)
      if rec.get("command") == command:
        log(f"{name}: kept from an earlier run (--resume)")
        self.records.append(rec)
        return rec
    if os.path.exists(run_dir):
      shutil.rmtree(run_dir)
    os.makedirs(run_dir)
    log(f"{name}: {' '.join(flags[-4:])} ...")
    meas = harness.run_command(cmd, os.path.join(run_dir, "log.txt"),
                               a.timeout_s, env=env,
                               done_file=os.path.join(run_dir, "summary.json"))
    with open(os.path.join(run_dir, "summary.json")) as f:
      summary = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
      config = json.load(f)
    trace = read_trace(self.bins, os.path.join(run_dir, "trace.pb"))
    shutil.rmtree(os.path.join(run_dir, "checkpoint"), ignore_errors=True)
    for f in os.listdir(run_dir):
      if (f == "model.pt" and not keep_model) or f.startswith(
          "activation_cache."):
        os.remove(os.path.join(run_dir, f))
    rec = {"name": name, "command": command, "dir": run_dir,
           "trace": os.path.join(run_dir, "trace.pb"), "measured": meas,
           "summary": summary,
           "config": {k: config.get(k) for k in (
               "policy", "vote_rule", "partition", "shard_sizes",
               "steps_per_epoch", "train_samples", "test_samples", "ranks",
               "threads", "comm_mode", "augment_variants", "cache",
               "stats_interval", "epochs", "init")},
           "trace_data": trace}
    if environment:
      rec["environment"] = environment
    with open(rec_path, "w") as f:
      json.dump(rec, f)
    log(f"{name}: {summary['total_time_s']:.1f} s training, accuracy "
        f"{summary['final_test_accuracy']:.4f}, "
        f"{len(summary['freeze_events'])} freeze event(s), median step "
        f"{1e3 * median_step(rec):.0f} ms, load {meas['loadavg_before'][0]:.2f}"
        f" -> {meas['loadavg_after'][0]:.2f}, other processes "
        f"{meas['others_busy_cores']:.2f} cores ({meas['wall_s']:.0f} s)")
    self.records.append(rec)
    return rec

  # ---- results

  def header(self):
    a = self.args
    return {
        "experiment": a._name,
        "command": " ".join([sys.executable] + sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "revision": harness.git_revision(),
        "machine": harness.machine_info(),
        "sizes": size_mode(a),
        "settings": {k: v for k, v in vars(a).items()
                     if not k.startswith("_")},
        "source_model": self.source,
        "loadavg_start": self.load_start,
        "loadavg_end": harness.loadavg(),
        "wall_s": time.time() - self.started,
    }

  def write_results(self, body):
    res = dict(self.header(), **body)
    path = os.path.join(self.out, "results.json")
    with open(path, "w") as f:
      json.dump(res, f, indent=1)
    return res

  def load_results(self):
    with open(os.path.join(self.out, "results.json")) as f:
      return json.load(f)


def strip(rec):
  """A run's record without its per-step table (kept in OUT/runs/NAME)."""
  return {k: v for k, v in rec.items() if k != "trace_data"}


def main(args, run, report, binaries=("train", "trace_json")):
  """Runs an experiment (or only redraws it with --plot_only)."""
  harness.install_signal_handlers()
  exp = Experiment(args, binaries)
  res = exp.load_results() if args.plot_only else run(exp)
  report(exp, res)
  log(f"{args._name}: done in {(time.time() - exp.started) / 60:.1f} min; "
      f"outputs in {exp.out}")
  return 0


def write_csv(path, rows, columns=None):
  if not rows:
    return
  columns = columns or list(rows[0])
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
      w.writerow({c: fmt_cell(r.get(c)) for c in columns})


def fmt_cell(v):
  if isinstance(v, float):
    return "" if v != v else f"{v:.6g}"
  if isinstance(v, (list, tuple)):
    return " ".join(str(fmt_cell(x)) for x in v)
  return v


def measured_steps(rec, skip=3):
  """Steps after the first `skip` (allocator warm-up, first all-reduces)."""
  steps = rec["trace_data"]["steps"]
  return steps[skip:] if len(steps) > skip + 2 else steps


def median_step(rec, key="total_s", skip=3):
  return median(s[key] for s in measured_steps(rec, skip))


def run_row(rec):
  """The columns every experiment's table shares, for one run."""
  s = rec["summary"]
  m = rec["measured"]
  ph = s["phase_per_epoch_s"]
  steps = rec["trace_data"]["steps"]
  return {
      "run": rec["name"],
      "policy": s["policy"],
      "total_time_s": s["total_time_s"],
      "median_step_ms": 1e3 * median_step(rec),
      "steps": s["steps"],
      "final_test_accuracy": s["final_test_accuracy"],
      "best_test_accuracy": max(s["test_accuracy_per_epoch"] or [0.0]),
      "fwd_per_epoch_s": ph["forward"],
      "bwd_per_epoch_s": ph["backward"],
      "opt_per_epoch_s": ph["optimizer"],
      "comm_exposed_per_epoch_s": ph["comm_exposed"],
      "stats_per_epoch_s": ph["stats"],
      "total_per_epoch_s": ph["total"],
      "bytes_allreduced": s["bytes_allreduced"],
      "bytes_per_step": s["bytes_allreduced"] / max(1, len(steps)),
      "freeze_events": schedule_text(s["freeze_events"]),
      "frozen_at_end": steps[-1]["frozen"] if steps else 0,
      "loadavg_before": m["loadavg_before"][0],
      "loadavg_after": m["loadavg_after"][0],
      "others_busy_cores": m["others_busy_cores"],
      "wall_s": m["wall_s"],
  }


def schedule_text(events):
  """Freeze events as replay prints them: unit@step, -unit@step to unfreeze."""
  return " ".join(("-" if e.get("unfreeze") else "") +
                  f"{e.get('name', e['unit'])}@{e['step']}" for e in events)


# --------------------------------------------------------------------------
# Figures.


def pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  plt.rcParams.update({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                       "figure.autolayout": True})
  return plt


def save_fig(fig, path, dpi):
  fig.savefig(path, dpi=dpi)
  import matplotlib.pyplot as plt
  plt.close(fig)
  log(f"wrote {path}")


def caption(res):
  """A one-line description of the setting for figure titles."""
  s = res["settings"]
  data = s["data"].split(":", 1)[0]
  return (f"{s['model']}, {data} {s['source_classes']} -> "
          f"{s['target_classes']}, {s['ranks']} ranks, "
          f"{res['sizes']} sizes")
