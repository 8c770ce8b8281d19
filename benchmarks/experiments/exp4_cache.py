"""Experiment 4: activation caching: no freezing vs freezing vs freezing +
cache, time per epoch and end to end.

Configurations (all with --augment_variants=K fixed augmentations per
sample, K = --variants, so that every configuration sees the same data and
the cache can hit): `none`; `static:4` (the study's 4 groups: conv1, bn1,
layer1, layer2); `static:4` + `--cache`; the adaptive --policy; the adaptive
policy + `--cache`. The configurations run interleaved in --rounds rounds,
the order rotated every round, so that load from other processes spreads
over all of them. Per epoch: the median step time (slowest rank, from the
trace) and the epoch's training time; end to end: the trainer's
total_time_s. Tables show the median over rounds and the best round (other
load only ever adds time).

  bazel run //benchmarks:exp4_cache -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp4_cache [--out=DIR]

Writes OUT/results.json, OUT/cache.csv, OUT/cache_per_epoch.csv and the
figures OUT/exp4_time_per_epoch.png, exp4_end_to_end.png. Default sizes:
4096 training and 1000 test samples, 4 epochs, 2 ranks, 2 rounds of 5
configurations (about 10 minutes on 2 idle cores).
"""

import os
import sys

from benchmarks import harness
from benchmarks.experiments import common

SIZES = {"train_limit": 4096, "test_limit": 1000, "epochs": 4}
FULL = {"train_limit": 0, "test_limit": 0, "epochs": 50}
SMOKE = {"train_limit": 512, "test_limit": 64, "epochs": 2}


def parse_args(argv=None):
  p = common.base_parser("exp4_cache", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--variants", type=int, default=1,
                 help="--augment_variants K of every run")
  p.add_argument("--rounds", type=int, default=None,
                 help="default 2 (--smoke 1)")
  p.add_argument("--policy",
                 default="gradnorm:variant=prefix,interval={2T},warmup={epoch}",
                 help="the adaptive policy ({epoch}: steps of one epoch, "
                 "{2T}: twice --stats_interval)")
  return common.resolve(p.parse_args(argv))


def configs(args, steps_per_epoch):
  adaptive = common.fill_policy(args.policy, args, steps_per_epoch)
  return [
      ("none", ["--policy=none"]),
      ("static4", ["--policy=static:4"]),
      ("static4_cache", ["--policy=static:4", "--cache"]),
      ("adaptive", [f"--policy={adaptive}"]),
      ("adaptive_cache", [f"--policy={adaptive}", "--cache"]),
  ]


def per_epoch(rec):
  steps = rec["trace_data"]["steps"]
  out = []
  for e in rec["trace_data"]["epochs"]:
    st = [s for s in steps if s["epoch"] == e["epoch"]]
    # The first steps of the first epoch warm the allocator.
    if e["epoch"] == 0 and len(st) > 6:
      st = st[3:]
    out.append({
        "epoch": e["epoch"] + 1,
        "median_step_ms": 1e3 * harness.median(s["max_rank_total_s"] or
                                              s["total_s"] for s in st),
        "train_s": e["train_s"],
        "cache_hits": sum(s["cache_hits"] for s in st),
        "cache_misses": sum(s["cache_misses"] for s in st),
        "frozen": st[-1]["frozen"] if st else 0,
        "test_accuracy": e["test_accuracy"],
    })
  return out


def run(exp):
  args = exp.args
  rounds = args.rounds or (1 if args.smoke else 2)
  base = exp.finetune_flags() + [f"--augment_variants={args.variants}"]
  # The epoch's steps, for the adaptive policy's warm-up: IID shards.
  n = args.train_limit or 30000
  spe = (n // args.ranks) // args.batch_size
  cfgs = configs(args, spe)
  runs = []
  for r in range(rounds):
    order = cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]
    for name, flags in order:
      rec = exp.run_train(f"{name}_round{r}", base + flags)
      if int(rec["config"]["steps_per_epoch"]) != spe:
        raise SystemExit(f"steps per epoch {rec['config']['steps_per_epoch']}"
                         f" != {spe} assumed for the policy's warm-up")
      row = dict(config=name, round=r, **common.run_row(rec))
      row["cache_hits"] = rec["summary"]["cache"]["hits"]
      row["cache_misses"] = rec["summary"]["cache"]["misses"]
      row["forward_saved_s"] = rec["summary"]["cache"]["forward_saved_s"]
      row["cache_disabled"] = rec["summary"]["cache"]["disabled"]
      runs.append({"row": row, "epochs": per_epoch(rec)})
  return exp.write_results({
      "configs": [c[0] for c in cfgs],
      "commands": {c[0]: " ".join(base + c[1]) for c in cfgs},
      "rounds": rounds, "runs": runs,
      "records": [common.strip(r) for r in exp.records]})


def aggregate(res):
  """Per configuration: medians and minima over rounds."""
  agg = []
  for c in res["configs"]:
    runs = [r for r in res["runs"] if r["row"]["config"] == c]
    tot = [r["row"]["total_time_s"] for r in runs]
    n_ep = len(runs[0]["epochs"])
    a = {"config": c,
         "total_time_s_median": harness.median(tot),
         "total_time_s_best": min(tot),
         "final_test_accuracy": harness.median(
             r["row"]["final_test_accuracy"] for r in runs),
         "cache_hits": sum(r["row"]["cache_hits"] for r in runs),
         "cache_misses": sum(r["row"]["cache_misses"] for r in runs),
         "freeze_events": runs[0]["row"]["freeze_events"],
         "rounds": len(runs),
         "loadavg_range": f"{min(r['row']['loadavg_before'] for r in runs):.2f}"
                          f"-{max(r['row']['loadavg_after'] for r in runs):.2f}",
         "others_busy_cores_max": max(r["row"]["others_busy_cores"]
                                      for r in runs)}
    for e in range(n_ep):
      a[f"epoch{e + 1}_step_ms"] = harness.median(
          r["epochs"][e]["median_step_ms"] for r in runs)
      a[f"epoch{e + 1}_step_ms_best"] = min(
          r["epochs"][e]["median_step_ms"] for r in runs)
      a[f"epoch{e + 1}_train_s"] = harness.median(
          r["epochs"][e]["train_s"] for r in runs)
    agg.append(a)
  by = {a["config"]: a for a in agg}
  for a in agg:
    for ref in ("none", "static4", "adaptive"):
      if ref in by and ref != a["config"]:
        a[f"speedup_vs_{ref}"] = (by[ref]["total_time_s_median"] /
                                  a["total_time_s_median"])
    last = len(res["runs"][0]["epochs"])
    if "none" in by:
      a["last_epoch_speedup_vs_none"] = (by["none"][f"epoch{last}_step_ms"] /
                                         a[f"epoch{last}_step_ms"])
  return agg


def report(exp, res):
  out = exp.out
  agg = aggregate(res)
  n_ep = len(res["runs"][0]["epochs"])
  common.write_csv(os.path.join(out, "cache.csv"), agg)
  common.write_csv(os.path.join(out, "cache_runs.csv"),
                   [dict(r["row"]) for r in res["runs"]])
  common.write_csv(os.path.join(out, "cache_per_epoch.csv"), [
      dict(config=r["row"]["config"], round=r["row"]["round"], **e)
      for r in res["runs"] for e in r["epochs"]])
  print()
  print(f"median step time per epoch (ms, slowest rank; median over "
        f"{res['rounds']} rounds), end-to-end training time (s, median and "
        "best round), speed-ups of the medians")
  head = "| config | " + " | ".join(f"epoch {e + 1}" for e in range(n_ep))
  print(head + " | total s (median) | best | vs none | vs static:4 | hits | "
        "misses | final acc |")
  print("|---" * (n_ep + 8) + "|")
  for a in agg:
    print(f"| {a['config']} | " + " | ".join(
        f"{a[f'epoch{e + 1}_step_ms']:.0f}" for e in range(n_ep)) +
          f" | {a['total_time_s_median']:.1f} | {a['total_time_s_best']:.1f} |"
          f" {a.get('speedup_vs_none', 1):.2f}x | "
          f"{a.get('speedup_vs_static4', 1):.2f}x | {a['cache_hits']} | "
          f"{a['cache_misses']} | {a['final_test_accuracy']:.4f} |")

  plt = common.pyplot()
  cap = common.caption(res)
  fig, ax = plt.subplots(figsize=(6.5, 3.8))
  for a in agg:
    ax.plot(range(1, n_ep + 1),
            [a[f"epoch{e + 1}_step_ms"] for e in range(n_ep)], "o-", ms=3,
            label=a["config"])
  ax.set_xlabel("epoch")
  ax.set_ylabel("median step time (ms)")
  ax.set_xticks(range(1, n_ep + 1))
  ax.set_ylim(bottom=0)
  ax.legend(fontsize=7)
  ax.set_title(f"Exp. 4: step time per epoch (K={res['settings']['variants']}"
               f" augmentation variants)\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp4_time_per_epoch.png"),
                  exp.args.dpi)
  fig, ax = plt.subplots(figsize=(6.5, 3.6))
  xs = range(len(agg))
  ax.bar(xs, [a["total_time_s_median"] for a in agg], color="tab:blue")
  for i, a in enumerate(agg):
    runs = [r["row"]["total_time_s"] for r in res["runs"]
            if r["row"]["config"] == a["config"]]
    ax.plot([i] * len(runs), runs, "k.", ms=4)
    ax.annotate(f"{a.get('speedup_vs_none', 1):.2f}x",
                (i, a["total_time_s_median"]), ha="center", va="bottom",
                fontsize=8)
  ax.set_xticks(list(xs))
  ax.set_xticklabels([a["config"] for a in agg], fontsize=8)
  ax.set_ylabel("training time (s)")
  ax.set_title(f"Exp. 4: end to end (bars: median, dots: rounds; "
               f"speed-up vs none)\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp4_end_to_end.png"), exp.args.dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report)


if __name__ == "__main__":
  sys.exit(main())
