"""Experiment 7: the study's own stack side by side: PyTorch DDP over gloo
(benchmarks/ddp_baseline.py: torchvision resnet18, the Debian python3-torch
build of the same libtorch) against our trainer, same data, batch per rank,
threads per rank, optimizer and frozen groups; ratio of median step times.

A thin wrapper over benchmarks/compare_pytorch.py (docs/PERFORMANCE.md
describes its method: interleaved rounds, the order of the two stacks
alternating, groups redone when other processes load the machine, both
stacks timed from one step's start to the next's). It runs it into
OUT/compare/, then writes OUT/results.json, OUT/ratios.csv and the figure
OUT/exp7_pytorch.png.

  bazel run //benchmarks:exp7_pytorch -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp7_pytorch [--out=DIR]

Default: ranks 1 and 2, K in {0, 2, 4, 6}, 3 rounds of 12 measured steps
after 4 warm-up steps (about 12 minutes on 2 idle cores); --full: the
driver's own defaults (5 rounds, with our trainer's activation cache as a
third stack). Fashion-MNIST only (the baseline reads its IDX files).
"""

import json
import os
import sys

from benchmarks import compare_pytorch
from benchmarks import harness
from benchmarks.experiments import common

SIZES = {"rounds": 3, "steps": 12, "warmup": 4}
FULL = {"rounds": 5, "steps": 12, "warmup": 4}
SMOKE = {"rounds": 1, "steps": 2, "warmup": 1}


def parse_args(argv=None):
  p = common.base_parser("exp7_pytorch", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--rank_counts", default="1,2")
  p.add_argument("--frozen", default="0,2,4,6")
  p.add_argument("--stacks", default=None,
                 help="default ours,pytorch (--full: ours,pytorch,ours_cache)")
  return common.resolve(p.parse_args(argv))


def run(exp):
  a = exp.args
  if not a.data.startswith("fashion_mnist"):
    raise SystemExit("exp7: the PyTorch baseline reads Fashion-MNIST only "
                     "(benchmarks/ddp_baseline.py); use --data=fashion_mnist")
  stacks = a.stacks or ("ours,pytorch,ours_cache" if a.full
                        else "ours,pytorch")
  argv = [f"--out={os.path.join(exp.out, 'compare')}",
          f"--ranks={a.rank_counts}", f"--frozen={a.frozen}",
          f"--rounds={a.rounds}", f"--steps={a.steps}", f"--warmup={a.warmup}",
          f"--classes={a.target_classes}", f"--seed={a.seed}",
          f"--stacks={stacks}", f"--train_bin={exp.bins['train']}",
          f"--trace_json_bin={exp.bins['trace_json']}",
          f"--replay_bin={exp.bins['replay']}"]
  if a.smoke:
    argv += ["--batch_size=4", "--quiet_wait_s=0", "--retries=0",
             "--train_args=--profile_repeats=1"]
  else:
    argv += [f"--batch_size={a.batch_size}"]
  harness.log("compare_pytorch.py " + " ".join(argv))
  rc = compare_pytorch.main(argv)
  if rc:
    raise SystemExit(f"compare_pytorch.py failed ({rc})")
  with open(os.path.join(exp.out, "compare", "results.json")) as f:
    cmp = json.load(f)
  runs = cmp["runs"]
  kept = [r for r in runs if not r.get("discarded")]
  return exp.write_results({
      "compare_command": "/usr/bin/python3 -m benchmarks.compare_pytorch " +
                         " ".join(argv),
      "ratios": cmp["ratios"], "efficiency": cmp["efficiency"],
      "compare_machine": cmp["machine"], "compare_wall_s": cmp["wall_s"],
      "runs_total": len(runs), "runs_kept": len(kept),
      "runs_loaded": sum(1 for r in kept if r.get("loaded")),
      "others_busy_cores": [r["others_cores_during"] for r in kept]})


def report(exp, res):
  out = exp.out
  rows = res["ratios"]
  common.write_csv(os.path.join(out, "ratios.csv"), rows, [
      "ranks", "threads", "K", "ours_ms", "pytorch_ms", "ratio",
      "ratio_per_round", "ours_forward_ms", "ours_backward_ms",
      "ours_comm_exposed_ms", "ours_optimizer_ms", "pytorch_forward_ms",
      "pytorch_backward_ms", "pytorch_optimizer_ms"])
  print()
  print(f"{res['runs_kept']} runs kept of {res['runs_total']} "
        f"({res['runs_loaded']} ran while other processes loaded the machine)")
  print("| ranks | threads/rank | K | ours ms | PyTorch ms | ours/PyTorch | "
        "per round |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['ranks']} | {r['threads']} | {r['K']} | {r['ours_ms']:.1f} | "
          f"{r['pytorch_ms']:.1f} | {r['ratio']:.3f} | "
          f"{' '.join(f'{x:.3f}' for x in r['ratio_per_round'])} |")

  plt = common.pyplot()
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
  labels = [f"{r['ranks']}r K={r['K']}" for r in rows]
  xs = range(len(rows))
  a1.bar(xs, [r["ratio"] for r in rows], color="tab:blue")
  for i, r in enumerate(rows):
    a1.plot([i] * len(r["ratio_per_round"]), r["ratio_per_round"], "k.", ms=4)
  a1.axhline(1.0, color="k", lw=0.8)
  a1.set_xticks(list(xs))
  a1.set_xticklabels(labels, fontsize=7)
  a1.set_ylabel("median step time, ours / PyTorch DDP")
  a1.set_title("ratio (bars: median over rounds, dots: rounds)", fontsize=8)
  width = 0.38
  phases = [("forward", "tab:blue"), ("backward", "tab:orange"),
            ("comm_exposed", "tab:red"), ("optimizer", "tab:green")]
  for side, off in (("ours", -width / 2), ("pytorch", width / 2)):
    bottom = [0.0] * len(rows)
    for ph, color in phases:
      key = f"{side}_{ph}_ms"
      vals = [r.get(key, 0.0) or 0.0 for r in rows]
      vals = [0.0 if v != v else v for v in vals]
      a2.bar([i + off for i in xs], vals, width, bottom=bottom, color=color,
             alpha=1.0 if side == "ours" else 0.55,
             label=f"{ph}" if side == "ours" else None,
             edgecolor="k", linewidth=0.3)
      bottom = [b + v for b, v in zip(bottom, vals)]
  a2.set_xticks(list(xs))
  a2.set_xticklabels(labels, fontsize=7)
  a2.set_ylabel("median ms per step")
  a2.set_title("phases: left ours, right PyTorch (its backward includes the "
               "DDP wait)", fontsize=8)
  a2.legend(fontsize=7)
  m = res["machine"]
  fig.suptitle(f"Exp. 7: our trainer vs PyTorch DDP (gloo), resnet18, batch "
               f"{res['settings']['batch_size']}/rank, {m['cores']} cores",
               fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp7_pytorch.png"), exp.args.dpi)


def main(argv=None):
  # The efficiency table asks the simulator (//replay) what freezing can
  # save without the cache.
  return common.main(parse_args(argv), run, report,
                     binaries=("train", "trace_json", "replay"))


if __name__ == "__main__":
  sys.exit(main())
