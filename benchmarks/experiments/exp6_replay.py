"""Experiment 6: replay fidelity and what-if predictions for larger worlds.

No training: it reads the runs of experiments 1, 2, 4 and 5 (their
OUT/results.json and OUT/runs/*/trace.pb) and asks the simulator
(`//replay`), from the run *without freezing* of each experiment only, to
predict the training time of every other real run of that experiment, then
compares with what was measured:
  exp1  none -> static:K                            (network `recorded`)
  exp2  none -> each adaptive policy's spec         (`recorded`)
  exp4  none -> static:4, static:4 + cache, adaptive, adaptive + cache, per
        round (`recorded`; `--cache` for the cached runs)
  exp5  each network's K=0 run -> static:K on that network (`recorded`);
        and across networks: the shared-memory K=0 run -> every run on
        another 2-rank network (the emulated cluster's links, or the
        loopback's of the earlier result), with the network given as that
        network's `comm:calibrate` file (`calibration:FILE`) and as the
        nearest documented preset (1gbe, 10gbe) when there is one
For adaptive policies the replayed schedule comes from the `none` run's
statistics and may differ from the schedule the real run took; both are
listed. Also the own-configuration check (`--validate`) of every run, and
the predictions of static:K and the adaptive policies for 2-64 ranks from
experiment 1's `none` trace (weak scaling) on the documented ring presets
(1gbe, 10gbe, 25gbe, ib100), on MPICH's own all-reduce with the same links
(`mpich:...`, --mpich_networks: reduce-scatter + all-gather over the
largest power of two, whole-vector steps for the rest; what MPICH runs when
nothing pins its ring) and on the calibrated 1 Gbit/s links of experiment 9
(several world sizes) or 5. With experiment 9's output (--exp9), its
validation on the emulated cluster (2 ranks recorded, 3 and 4 predicted and
measured) is summarised here too.

  bazel run //benchmarks:exp6_replay -- [--out=DIR]
  /usr/bin/python3 -m benchmarks.experiments.exp6_replay [--exp1=DIR ...]

Writes OUT/results.json, OUT/fidelity.csv, OUT/validate.csv, OUT/scale.csv,
OUT/cluster_validation.csv (with --exp9) and the figures
OUT/exp6_fidelity.png, exp6_scale.png. Takes about a minute.
"""

import json
import os
import sys

from benchmarks import harness
from benchmarks.experiments import common
from benchmarks.experiments import exp9_cluster

SIZES = {}
# The experiments whose output this one reads.
INPUTS = {"1": "exp1_static_sweep", "2": "exp2_adaptive", "4": "exp4_cache",
          "5": "exp5_comm", "9": "exp9_cluster"}
# The documented preset nearest to a network of experiment 5.
PRESET_OF = {"tcp_1gbit": "1gbe", "tcp_10gbit": "10gbe",
             "cluster_1gbit": "1gbe", "cluster_10gbit": "10gbe"}


def parse_args(argv=None):
  p = common.base_parser("exp6_replay", __doc__, SIZES, {}, {})
  exp_root = os.path.join(harness.REPO, "out", "experiments")
  for n, name in INPUTS.items():
    p.add_argument(f"--exp{n}", default=os.path.join(exp_root, name),
                   help=f"experiment {n}'s output folder ('' to leave out)")
  p.add_argument("--presets", default="1gbe,10gbe,25gbe,ib100")
  p.add_argument("--mpich_networks",
                 default="mpich:alpha_us=50,gbps=0.94;"
                 "mpich:alpha_us=20,gbps=9.4",
                 help="MPICH's own all-reduce beside the ring presets, ';' "
                 "between specs (default: the links of 1gbe and 10gbe, "
                 "sim/README.md's presets; '' for none)")
  # Powers of two and not: MPICH's all-reduce differs from a ring most at
  # the others (3 ranks: 2.25x the ring's bytes).
  p.add_argument("--world_sizes", default="2,3,4,6,8,12,16,24,32,48,64")
  args = p.parse_args(argv)
  for n in INPUTS:
    setattr(args, f"exp{n}", harness.user_path(getattr(args, f"exp{n}")))
  return common.resolve(args)


class Replayer:
  def __init__(self, exp):
    self.exp = exp
    self.count = 0
    self.commands = []

  def __call__(self, trace, policies, network="recorded", world_sizes="recorded",
               cache=False, validate=False, extra=()):
    self.count += 1
    out = os.path.join(self.exp.out, "replays", f"r{self.count:03d}")
    result, cmd = harness.replay(self.exp.bins["replay"], out, trace, policies,
                                 network=network, world_sizes=world_sizes,
                                 cache=cache, validate=validate, extra=extra)
    self.commands.append(cmd)
    return result, cmd


def schedule_of_replay(result):
  parts = []
  for e in result["freeze_schedule"]:
    parts += [f"{u}@{e['step']}" for u in e["freeze"]]
    parts += [f"-{u}@{e['step']}" for u in e["unfreeze"]]
  return " ".join(parts)


def load_exp(folder):
  path = os.path.join(folder, "results.json")
  if not folder or not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def records_by_name(res):
  return {r["name"]: r for r in res["records"]}


def case_row(exp_name, group, rec, result, cmd, base_rec, note=""):
  meas = rec["summary"]["total_time_s"]
  pred = result["predicted_total_s"]
  measured_sched = common.schedule_text(
      [e for e in rec["summary"]["freeze_events"]])
  replay_sched = schedule_of_replay(result)
  return {
      "experiment": exp_name, "group": group, "run": rec["name"],
      "from_trace": base_rec["name"], "policy": result["policy"],
      "network": result["network"], "world_size": result["world_size"],
      "predicted_s": pred, "measured_s": meas,
      "error_frac": pred / meas - 1 if meas > 0 else float("nan"),
      "none_measured_s": base_rec["summary"]["total_time_s"],
      "predicted_saving": 1 - pred / base_rec["summary"]["total_time_s"],
      "measured_saving": 1 - meas / base_rec["summary"]["total_time_s"],
      "same_schedule": measured_sched == replay_sched,
      "measured_schedule": measured_sched, "replayed_schedule": replay_sched,
      "extrapolated_from_step": result["extrapolated_from_step"],
      "note": note, "command": cmd,
  }


def fidelity(exp, rp):
  a = exp.args
  rows = []
  # Experiment 1: none -> static:K.
  e1 = load_exp(a.exp1)
  if e1:
    recs = records_by_name(e1)
    base = recs.get("static_0")
    targets = [r for n, r in recs.items() if n != "static_0"]
    if base and targets:
      pols = [t["config"]["policy"] for t in targets]
      rep, cmd = rp(base["trace"], pols)
      for t, res in zip(targets, rep["results"]):
        rows.append(case_row("exp1", "static", t, res, cmd, base))
  # Experiment 2: none -> adaptive policies.
  e2 = load_exp(a.exp2)
  if e2:
    base = next((r for r in e2["records"] if r["summary"]["policy"] == "none"),
                None)
    targets = [r for r in e2["records"] if r is not base]
    if base and targets:
      rep, cmd = rp(base["trace"], [t["config"]["policy"] for t in targets])
      for t, res in zip(targets, rep["results"]):
        rows.append(case_row("exp2", "adaptive", t, res, cmd, base))
  # Experiment 4: per round, none -> the others; cached runs with --cache.
  e4 = load_exp(a.exp4)
  if e4:
    recs = records_by_name(e4)
    for r in range(e4.get("rounds", 1)):
      base = recs.get(f"none_round{r}")
      if not base:
        continue
      for cache in (False, True):
        targets = [recs[n] for n in (
            (f"static4_cache_round{r}", f"adaptive_cache_round{r}") if cache
            else (f"static4_round{r}", f"adaptive_round{r}")) if n in recs]
        if not targets:
          continue
        rep, cmd = rp(base["trace"], [t["config"]["policy"] for t in targets],
                      cache=cache)
        for t, res in zip(targets, rep["results"]):
          rows.append(case_row("exp4", f"round{r}", t, res, cmd, base,
                               "cache" if cache else ""))
  # Experiment 5: per network K=0 -> static:K; and shm K=0 -> TCP networks.
  e5 = load_exp(a.exp5)
  if e5:
    recs = records_by_name(e5)
    nets = list(e5["networks"])
    for net in nets:
      base = recs.get(f"{net}_k0")
      targets = [r for n, r in sorted(recs.items())
                 if n.startswith(net + "_k") and n != f"{net}_k0"]
      if not base or not targets:
        continue
      one_rank = e5["networks"][net]["ranks"] == 1
      rep, cmd = rp(base["trace"], [t["config"]["policy"] for t in targets],
                    network="1gbe" if one_rank else "recorded")
      for t, res in zip(targets, rep["results"]):
        rows.append(case_row("exp5", net, t, res, cmd, base))
    shm = recs.get("shm_k0")
    for net in nets:
      if net == "shm" or e5["networks"][net]["ranks"] != 2 or not shm:
        continue
      targets = [r for n, r in sorted(recs.items()) if n.startswith(net + "_k")]
      cal = e5["calibrations"].get(net, {}).get("file")
      networks = ([f"calibration:{cal}"] if cal and os.path.exists(cal)
                  else []) + ([PRESET_OF[net]] if net in PRESET_OF else [])
      for network in networks:
        rep, cmd = rp(shm["trace"], [t["config"]["policy"] for t in targets],
                      network=network)
        for t, res in zip(targets, rep["results"]):
          rows.append(case_row(
              "exp5-cross", f"shm->{net}", t, res, cmd, shm,
              "calibrated" if network.startswith("calibration") else network))
  return rows


def validations(exp, rp):
  a = exp.args
  rows = []
  for name, folder in (("exp1", a.exp1), ("exp2", a.exp2), ("exp4", a.exp4),
                       ("exp5", a.exp5)):
    res = load_exp(folder)
    if not res:
      continue
    for rec in res["records"]:
      one_rank = rec["config"].get("ranks") == 1
      rep, cmd = rp(rec["trace"], ["none"], validate=True,
                    network="1gbe" if one_rank else "recorded",
                    cache=bool(rec["config"].get("cache")))
      v = rep["validation"]
      # Three checks (replay/README.md): the exact replay of the recorded
      # run (bookkeeping), held-out (fitted on the first half of the steps,
      # predicting the second) and model-only (start-up profile and network
      # model, no step's timing).
      ho = v.get("held_out") or {}
      mo = v.get("model_only") or {}
      rows.append({"experiment": name, "run": rec["name"],
                   "policy": v["policy"], "measured_s": v["measured_total_s"],
                   "exact_error_frac": v.get("exact_replay_error_fraction"),
                   "held_out_error_frac": ho.get("error_fraction"),
                   "held_out_drift_frac": ho.get("step_time_drift_fraction"),
                   "model_only_error_frac": mo.get("error_fraction"),
                   "schedule_matches": v["schedule_matches"], "command": cmd})
  return rows


def scale(exp, rp):
  a = exp.args
  e1 = load_exp(a.exp1)
  e2 = load_exp(a.exp2)
  if not e1:
    return [], None
  base = records_by_name(e1).get("static_0")
  if not base:
    return [], None
  pols = ["none"] + [r["config"]["policy"] for r in e1["records"]
                     if r["name"] != "static_0"]
  if e2:
    # The adaptive policies of experiment 2, when its statistics interval is
    # experiment 1's (a policy's interval must be a multiple of the trace's).
    pols += [r["config"]["policy"] for r in e2["records"]
             if r["summary"]["policy"] != "none" and
             r["config"]["stats_interval"] == base["config"]["stats_interval"]]
  networks = [n for n in a.presets.split(",") + a.mpich_networks.split(";")
              if n]
  labels = {}
  cal, label = calibrated_1gbit(a)
  if cal:
    networks.append(f"calibration:{cal}")
    labels[f"calibration:{cal}"] = label
  # Weak scaling (the recorded steps, each on N ranks' batches), as this
  # experiment has always reported it; replay's default is now same_data
  # (the recorded data set on N ranks: fewer steps).
  rep, cmd = rp(base["trace"], pols, network=";".join(networks),
                world_sizes=a.world_sizes, extra=["--scaling=same_steps"])
  rows = []
  for r in rep["results"]:
    rows.append({"policy": r["policy"], "network": r["network"],
                 "network_label": labels.get(r["network"], r["network"]),
                 "world_size": r["world_size"],
                 "predicted_s": r["predicted_total_s"],
                 "baseline_s": r["baseline_total_s"], "speedup": r["speedup"],
                 "saved_fraction": r["saved_fraction"],
                 "comm_exposed_s": r["comm_exposed_s"],
                 "gb_per_rank": r["bytes_allreduced_per_rank"] / 1e9,
                 "schedule": schedule_of_replay(r),
                 "extrapolated_from_step": r["extrapolated_from_step"]})
  return rows, cmd


def calibrated_1gbit(a):
  """The calibration of 1 Gbit/s links for the scale-out: experiment 9's
  (world sizes 2-4 on the emulated cluster), else experiment 5's (2 ranks;
  its cluster link, else the earlier shaped loopback). (file, label) or
  (None, None)."""
  e9 = load_exp(a.exp9)
  path = ((e9 or {}).get("calibrations") or {}).get("1gbit", {}).get("file")
  if path and os.path.exists(path):
    sizes = sorted({c["world_size"] for c in e9["calibrations"]["1gbit"]
                    ["fits"]})
    return path, ("calibrated 1 Gbit/s hosts (exp9, p="
                  f"{','.join(str(s) for s in sizes)})")
  e5 = load_exp(a.exp5)
  for net, label in (("cluster_1gbit", "calibrated 1 Gbit/s hosts (exp5)"),
                     ("tcp_1gbit", "calibrated shaped 1 Gbit/s loopback "
                      "(exp5)")):
    path = ((e5 or {}).get("calibrations") or {}).get(net, {}).get("file")
    if path and os.path.exists(path):
      return path, label
  return None, None


def cluster_validation(exp):
  """Experiment 9's table (predicted against measured on the emulated
  cluster), without its commands; [] without experiment 9."""
  e9 = load_exp(exp.args.exp9)
  return [{k: v for k, v in r.items() if k != "command"}
          for r in (e9 or {}).get("rows", [])]


def run(exp):
  rp = Replayer(exp)
  fid = fidelity(exp, rp)
  val = validations(exp, rp)
  sc, sc_cmd = scale(exp, rp)
  inputs = {}
  for n in INPUTS:
    res = load_exp(getattr(exp.args, f"exp{n}"))
    if res:
      inputs[f"exp{n}"] = {"folder": getattr(exp.args, f"exp{n}"),
                           "command": res["command"], "date": res["date"],
                           "revision": res["revision"],
                           "machine": res["machine"]}
  return exp.write_results({"inputs": inputs, "fidelity": fid,
                            "validation": val, "scale": sc,
                            "scale_command": sc_cmd,
                            "cluster_validation": cluster_validation(exp),
                            "replay_commands": rp.commands})


# Values the freeze/ spec parser fills in when a spec leaves them out
# (freeze/README.md); short_policy() drops them for labels.
SPEC_DEFAULTS = {
    "": {"warmup": "0", "max_frozen": "1"},
    "static": {"at": "0"},
    "gradnorm": {"norm": "l2", "variant": "single"},
    "autofreeze": {"percentile": "50", "norm": "l1"},
    "threshold": {"tau": "0.1", "patience": "3", "norm": "l2"},
    "freezeout": {"t0": "0.5", "cubic": "0"},
    "pipetransformer": {"alpha": "0.1"},
    "apf": {"ema": "0.9", "threshold": "0.2", "period": "1", "increase": "1",
            "decrease": "0.5", "norm": "l2"},
}


def short_policy(spec, base_interval=None):
  """'static:interval=10,k=4,at=0,warmup=0,max_frozen=1' -> 'static:4';
  drops parameters at their defaults (and the interval when it is the
  trace's base interval)."""
  name, _, params = spec.partition(":")
  defaults = dict(SPEC_DEFAULTS[""], **SPEC_DEFAULTS.get(name, {}))
  kept = []
  for kv in filter(None, params.split(",")):
    k, _, v = kv.partition("=")
    if defaults.get(k) == v:
      continue
    if k == "interval" and base_interval is not None and v == str(base_interval):
      continue
    kept.append((k, v))
  if name == "static" and [k for k, _ in kept] == ["k"]:
    return f"static:{kept[0][1]}"
  return name + (":" + ",".join(f"{k}={v}" for k, v in kept) if kept else "")


def report(exp, res):
  out = exp.out
  fid, val, sc = res["fidelity"], res["validation"], res["scale"]
  cols = ["experiment", "group", "run", "from_trace", "policy", "network",
          "predicted_s", "measured_s", "error_frac", "predicted_saving",
          "measured_saving", "same_schedule", "measured_schedule",
          "replayed_schedule", "extrapolated_from_step", "note"]
  common.write_csv(os.path.join(out, "fidelity.csv"), fid, cols)
  common.write_csv(os.path.join(out, "validate.csv"), val,
                   ["experiment", "run", "policy", "measured_s",
                    "exact_error_frac", "held_out_error_frac",
                    "held_out_drift_frac", "model_only_error_frac",
                    "schedule_matches"])
  common.write_csv(os.path.join(out, "scale.csv"), sc)
  cv = res.get("cluster_validation") or []
  common.write_csv(os.path.join(out, "cluster_validation.csv"), cv,
                   exp9_cluster.COLUMNS)
  print()
  print("Predictions from each experiment's run without freezing, against "
        "the measured runs")
  print("| exp | group | run | network | predicted s | measured s | error | "
        "saving pred/meas | same schedule |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in fid:
    net = r["network"] if not r["network"].startswith("calibration") \
        else "calibrated"
    print(f"| {r['experiment']} | {r['group']} | {r['run']} | {net} | "
          f"{r['predicted_s']:.3g} | {r['measured_s']:.3g} | "
          f"{100 * r['error_frac']:+.1f}% | "
          f"{100 * r['predicted_saving']:.0f}%/{100 * r['measured_saving']:.0f}%"
          f" | {'yes' if r['same_schedule'] else 'no'} |")
  by_exp = {}
  for r in fid:
    by_exp.setdefault(r["experiment"], []).append(abs(r["error_frac"]))
  for k, v in by_exp.items():
    print(f"{k}: {len(v)} cases, median |error| "
          f"{100 * harness.median(v):.1f}%, "
          f"max {100 * max(v):.1f}%, within 10%: "
          f"{sum(1 for x in v if x <= 0.10)}/{len(v)}")
  if val:
    print(f"own configuration (--validate), {len(val)} runs; schedules "
          f"reproduced {sum(r['schedule_matches'] for r in val)}/{len(val)}")
    for key in ("exact_error_frac", "held_out_error_frac",
                "model_only_error_frac"):
      errs = [abs(r[key]) for r in val if r[key] is not None]
      if errs:
        print(f"  {key}: {len(errs)} runs, median |error| "
              f"{100 * harness.median(errs):.2f}%, max {100 * max(errs):.2f}%")
  if cv:
    print("emulated cluster (experiment 9: recorded at 2 ranks, predicted "
          "and measured at more):")
    for summary in exp9_cluster.summaries(cv):
      print("  " + exp9_cluster.summary_text(summary))

  plt = common.pyplot()
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
  markers = {"exp1": "o", "exp2": "s", "exp4": "^", "exp5": "D",
             "exp5-cross": "x"}
  for name in markers:
    sel = [r for r in fid if r["experiment"] == name]
    if sel:
      a1.plot([r["measured_s"] for r in sel], [r["predicted_s"] for r in sel],
              markers[name], ms=4, label=name, alpha=0.8)
  if fid:
    lo = min(min(r["measured_s"], r["predicted_s"]) for r in fid) * 0.8
    hi = max(max(r["measured_s"], r["predicted_s"]) for r in fid) * 1.2
    xs = [lo, hi]
    a1.plot(xs, xs, "k-", lw=0.8)
    a1.fill_between(xs, [x * 0.9 for x in xs], [x * 1.1 for x in xs],
                    color="0.85", label="±10%")
    a1.set_xscale("log")
    a1.set_yscale("log")
  a1.set_xlabel("measured training time (s)")
  a1.set_ylabel("predicted from the none run (s)")
  a1.legend(fontsize=7)
  a1.set_title("replay prediction vs measurement", fontsize=9)
  labels = [f"{r['experiment']}:{r['run']}" +
            ("*" if r["note"] and r["note"] != "cache" else "") for r in fid]
  a2.barh(range(len(fid)), [100 * r["error_frac"] for r in fid],
          color=["tab:blue" if r["same_schedule"] else "tab:orange"
                 for r in fid])
  a2.set_yticks(range(len(fid)))
  a2.set_yticklabels(labels, fontsize=4)
  a2.axvline(10, color="k", lw=0.5, ls="--")
  a2.axvline(-10, color="k", lw=0.5, ls="--")
  a2.set_xlabel("error (predicted / measured - 1, %); orange: other schedule")
  a2.invert_yaxis()
  fig.suptitle("Exp. 6: replay fidelity (each experiment's none run -> its "
               "other runs)", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp6_fidelity.png"), exp.args.dpi)

  if sc:
    nets = []
    for r in sc:
      if r["network"] not in nets:
        nets.append(r["network"])
    # The trace's base interval: the smallest interval any spec names (a
    # policy's interval is a multiple of it).
    intervals = [int(kv.split("=")[1]) for r in sc if ":" in r["policy"]
                 for kv in r["policy"].split(":", 1)[1].split(",")
                 if kv.startswith("interval=")]
    base_interval = min(intervals) if intervals else None
    fig, (b1, b2) = plt.subplots(1, 2, figsize=(10, 4))
    for net in nets:
      sel = [r for r in sc if r["network"] == net and
             short_policy(r["policy"], base_interval) == "static:4"]
      lab = sel[0].get("network_label", net) if sel else net
      b1.plot([r["world_size"] for r in sel],
              [100 * r["saved_fraction"] for r in sel], "o-", ms=3, label=lab)
    b1.set_title("static:4: predicted saving vs world size", fontsize=8)
    b1.set_xscale("log", base=2)
    b1.set_xlabel("ranks")
    b1.set_ylabel("training time saved vs none (%)")
    b1.legend(fontsize=7)
    net0 = "1gbe" if "1gbe" in nets else nets[0]
    pols = []
    for r in sc:
      if r["policy"] not in pols and r["policy"] != "none":
        pols.append(r["policy"])
    for pol in pols:
      sel = [r for r in sc if r["network"] == net0 and r["policy"] == pol]
      b2.plot([r["world_size"] for r in sel],
              [100 * r["saved_fraction"] for r in sel], ".-", ms=3,
              label=short_policy(pol, base_interval)[:40])
    b2.set_title(f"every policy on {net0}: predicted saving", fontsize=8)
    b2.set_xscale("log", base=2)
    b2.set_xlabel("ranks")
    b2.legend(fontsize=5, ncol=2)
    fig.suptitle("Exp. 6: what-if for larger worlds (from experiment 1's none "
                 "trace; weak scaling, same per-rank batch)", fontsize=9)
    common.save_fig(fig, os.path.join(out, "exp6_scale.png"), exp.args.dpi)


def main(argv=None):
  return common.main(parse_args(argv), run, report,
                     binaries=("replay", "trace_json"))


if __name__ == "__main__":
  sys.exit(main())
