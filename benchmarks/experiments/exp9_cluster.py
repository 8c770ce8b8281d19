"""Experiment 9: world-size and network what-ifs, validated on an emulated
cluster (issue 12, item 4): record at 2 ranks, predict 3 and 4, run them.

For each link rate in --rates, on a cluster of its own (comm/README.md,
"Several hosts on one machine": max(--world_sizes) hosts, each a network
namespace with a full-duplex link of that rate; --cluster_name, brought down
after the rate whatever happens):
  1. calibrate: `comm:calibrate --world_sizes=2,...,P --cluster --op=both`
     (alpha and beta measured at every world size, blocking and
     non-blocking: replay's `calibration:FILE` uses the one of each world
     size and of the operation the trainer's buckets run);
  2. record: the `none` run at 2 ranks (ResNet-18, batch 16 per rank:
     --run_batch_size; --steps steps, one rank per host): small enough a
     batch that communication dominates the step, so that the 2 shared
     cores matter less;
  3. measure: every --policies policy at 2 ranks and at each of
     --world_sizes, for real (p hosts, one rank each, the same per-rank batch
     and steps);
  4. predict, from the recorded `none` trace only: `//replay
     --world_size=2,...,P --policies=... --scaling=same_steps` (the recorded
     steps, each on p ranks' batches: what the real runs do) on the
     `recorded` network and on the calibration (and on the `1gbe` / `10gbe`
     preset when the rate is 1 / 10 Gbit/s), once with
     `--shared_cores=C` (every rank on this machine's C cores: the emulated
     cluster's compute, whose per-rank speed falls as ranks are added) and
     once without (the prediction for real hosts, which bring their own
     cores; reported, not a validation here).
Then a straggler: a cluster of len(--straggler_rates) hosts with those links
(default 1gbit,1gbit,250mbit), a real `none` run on all of them, against the
first rate's uniform `none` trace replayed at that world size on
`hosts:gbps=G1/G2/...,alpha_us=A,algorithm=ring` (each host's rate as its
rate's calibration at 2 ranks measured it, else the first rate's scaled by
the ratio of the tc rates; A: the first rate's calibration at that world
size) with and without --shared_cores.

Every training pins MPICH's ring (`--allreduce_algorithm=ring`, what `auto`
picks across hosts: comm/allreduce_settings.h), so the trace, the
calibration and the models agree on the algorithm.

Table (OUT/validation.csv, printed): rate, world size, policy, network model,
cores (shared:C or own), predicted training time with replay's 90% interval,
measured, error (predicted / measured - 1), whether the measured time is
inside the interval, the compute share of the measured run (everything but
exposed gradient communication, from its trace; the interval-end all-reduce
of the statistics counts as compute there) and the machine's load around the
run (the cores other processes kept busy, the load average before). The row
of the recording itself (2 ranks, none, recorded network) is marked: its
replay reproduces it by construction, up to the steps in which the
recorded network's model exceeds what was measured (sim/README.md,
"recorded").

Needs root (network namespaces, links, qdiscs): without it the experiment
fails and says so (a test skips only with FREEZING_NO_CLUSTER=1:
//benchmarks:exp9_cluster_smoke_test).

  bazel run //benchmarks:exp9_cluster -- [--out=DIR] [--rates=1gbit,250mbit]
  /usr/bin/python3 -m benchmarks.experiments.exp9_cluster [--smoke]

Writes OUT/results.json, OUT/validation.csv, OUT/calibration_<rate>.json,
OUT/runs/*/ (logs, traces, summaries), OUT/replays/*/ and the figures
OUT/exp9_cluster.png (predicted and measured against the world size) and
OUT/exp9_errors.png. Default: 2 rates x (7 runs + calibration) + the
straggler's run, 25 steps each: about 35 minutes on 2 idle cores (most of it
at 250 Mbit/s); --full: 60 steps.
"""

import os
import sys

from benchmarks import harness
from benchmarks.experiments import cluster
from benchmarks.experiments import common

SIZES = {"steps": 25, "test_limit": 64}
FULL = {"steps": 60, "test_limit": 64}
SMOKE = {"steps": 6, "test_limit": 32}
# Lists whose smoke default is shorter.
LISTS = {
    "rates": ("1gbit,250mbit", "1gbit"),
    "world_sizes": ("3,4", "3"),
    "policies": ("none,static:4,static:5", "none,static:4"),
}
# The documented preset of a link rate (sim/README.md, "Presets").
PRESETS = {1e9: "1gbe", 1e10: "10gbe", 2.5e10: "25gbe"}
RECORDED_RANKS = 2


def parse_args(argv=None):
  p = common.base_parser("exp9_cluster", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--run_batch_size", type=int, default=16,
                 help="per-rank batch of this experiment's runs (--batch_size "
                 "is the source model's, shared with the other experiments)")
  for key, (default, smoke) in LISTS.items():
    p.add_argument(f"--{key}", default=None,
                   help=f"default {default} (--smoke: {smoke})")
  p.add_argument("--straggler_rates", default="1gbit,1gbit,250mbit",
                 help="one link rate per host of the straggler's cluster; the "
                 "first must be one of --rates ('' leaves the straggler out)")
  p.add_argument("--shared_cores", type=int, default=0,
                 help="replay's --shared_cores (0: this machine's cores)")
  p.add_argument("--cluster_name", default="exp9c",
                 help="the emulated clusters' name (hosts NAME1, NAME2, ...); "
                 "one that is already up is refused")
  p.add_argument("--calibrate_args", default="--max_bytes=33554432",
                 help="extra comm:calibrate flags (space separated; the "
                 "largest gradient bucket is 25 MiB)")
  args = p.parse_args(argv)
  for key, (default, smoke) in LISTS.items():
    if getattr(args, key) is None:
      setattr(args, key, smoke if args.smoke else default)
  args.rates = [r for r in args.rates.split(",") if r]
  args.world_sizes = sorted({int(w) for w in args.world_sizes.split(",")
                             if w} - {RECORDED_RANKS})
  args.policies = [x for x in args.policies.split(",") if x]
  if "none" not in args.policies:
    args.policies.insert(0, "none")
  args.straggler_rates = [r for r in args.straggler_rates.split(",") if r]
  for r in args.rates + args.straggler_rates:
    cluster.rate_bits(r)
  cluster.check_name(args.cluster_name)
  if args.straggler_rates and args.straggler_rates[0] not in args.rates:
    raise SystemExit(f"--straggler_rates: the first host's rate "
                     f"({args.straggler_rates[0]}) must be one of --rates: "
                     "its uniform cluster's trace is the one replayed")
  if not args.shared_cores:
    args.shared_cores = len(os.sched_getaffinity(0))
  return common.resolve(args)


def policy_tag(policy):
  return policy.replace(":", "").replace(",", "_").replace("=", "")


def train_flags(exp, policy):
  """The flags of every run: the same per-rank batch and steps at every
  world size (each rank's shard holds at least --steps batches at the
  largest world size), the ring pinned, one epoch, the smallest
  evaluation."""
  a = exp.args
  hosts = max([RECORDED_RANKS] + a.world_sizes + [len(a.straggler_rates)])
  limit = hosts * a.run_batch_size * a.steps + 4
  flags = exp.finetune_flags(train_limit=limit, epochs=1)
  return [f for f in flags if not f.startswith("--batch_size=")] + [
      f"--batch_size={a.run_batch_size}", f"--max_steps={a.steps}",
      "--cluster", "--allreduce_algorithm=ring", f"--policy={policy}"]


def calibrate(exp, rate, c):
  a = exp.args
  path = os.path.join(exp.out, f"calibration_{rate}.json")
  sizes = ",".join(str(p) for p in [RECORDED_RANKS] + a.world_sizes)
  cmd = [exp.bins["calibrate"], f"--world_sizes={sizes}", "--cluster",
         "--op=both", f"--out={path}"] + (
             ["--max_bytes=262144", "--min_repeats=3",
              "--seconds_per_size=0.01"] if a.smoke else
             a.calibrate_args.split())
  log_path = os.path.join(exp.out, f"calibration_{rate}.log")
  command = harness.command_text(cmd, c["env"])
  if a.resume and os.path.exists(path):
    harness.log(f"calibration {rate}: kept from an earlier run (--resume)")
    meas = None
  else:
    meas = harness.run_command_retrying_exit_hang(cmd, log_path, a.timeout_s,
                                                  env=c["env"])
  fits = cluster.calibrations(path)
  for f in fits:
    harness.log(f"calibration {rate} p={f['world_size']} {f['operation']}: "
                f"alpha {f['alpha_us']:.1f} us, beta "
                f"{f['beta_ns_per_byte']:.3f} ns/byte")
  return {"file": path, "fits": fits, "command": command, "measured": meas}


def measure(exp, rate, c, runs):
  """Every policy at every world size on cluster `c` (rate `rate`), into
  runs[(rate, p, policy)]."""
  a = exp.args
  for p in [RECORDED_RANKS] + a.world_sizes:
    for pol in a.policies:
      runs[(rate, p, pol)] = exp.run_train(
          f"{rate}_p{p}_{policy_tag(pol)}", train_flags(exp, pol),
          env=c["env"], ranks=p, environment={"link_rates": rate})


def compute_share(rec):
  """Everything but exposed gradient communication, of the run's steps."""
  steps = rec["trace_data"]["steps"]
  total = sum(s["total_s"] for s in steps)
  return 1 - sum(s["comm_exposed_s"] for s in steps) / total if total else None


def network_label(spec):
  return "calibrated" if spec.startswith("calibration:") else (
      "hosts" if spec.startswith("hosts:") else spec)


def validation_rows(group, result, runs_of, cmd, cores):
  """One row per replayed case with the measured run of the same world size
  and policy (`runs_of(p, policy)`, None when there is none)."""
  rows = []
  for r in result["results"]:
    rec = runs_of(r["world_size"], r["policy"])
    pred = r["predicted_total_s"]
    lo, hi = r["predicted_interval_s"] or (pred, pred)
    row = {"rate": group, "world_size": r["world_size"],
           "policy": r["policy"], "network": network_label(r["network"]),
           "network_spec": r["network"],
           "cores": f"shared:{cores}" if cores else "own",
           "predicted_s": pred, "interval_low_s": lo, "interval_high_s": hi,
           "command": cmd}
    if rec is not None:
      meas = rec["summary"]["total_time_s"]
      m = rec["measured"]
      row.update(
          measured_s=meas, error_frac=pred / meas - 1 if meas else None,
          inside=lo <= meas <= hi, compute_share=compute_share(rec),
          run=rec["name"], others_busy_cores=m["others_busy_cores"],
          loadavg_before=m["loadavg_before"][0],
          recording=(r["world_size"] == RECORDED_RANKS and
                     r["policy"] == "none" and r["network"] == "recorded"))
    rows.append(row)
  return rows


def replay_both(exp, name, trace, policies, networks, world_sizes):
  """Replays with --shared_cores and without; yields (result, command,
  cores) for each (cores 0: real hosts)."""
  for cores in (exp.args.shared_cores, 0):
    out = os.path.join(exp.out, "replays",
                       f"{name}_{'shared' if cores else 'own'}")
    extra = ["--scaling=same_steps"] + (
        [f"--shared_cores={cores}"] if cores else [])
    result, cmd = harness.replay(
        exp.bins["replay"], out, trace, policies, network=";".join(networks),
        world_sizes=",".join(str(w) for w in world_sizes), extra=extra)
    yield result, cmd, cores


def predict(exp, rate, cal, runs):
  a = exp.args
  networks = ["recorded", f"calibration:{cal['file']}"]
  preset = PRESETS.get(cluster.rate_bits(rate))
  if preset:
    networks.append(preset)
  trace = runs[(rate, RECORDED_RANKS, "none")]["trace"]
  rows = []
  for result, cmd, cores in replay_both(
      exp, rate, trace, a.policies, networks,
      [RECORDED_RANKS] + a.world_sizes):
    rows += validation_rows(rate, result,
                            lambda p, pol: runs.get((rate, p, pol)), cmd,
                            cores)
  return rows


def hosts_spec(rates, cals, world_size):
  """`hosts:` of the straggler's links: each host's rate as its rate's
  calibration at 2 ranks measured it (else the first rate's, scaled), the
  first rate's alpha at `world_size`."""
  first = cals[rates[0]]["fits"]
  base = cluster.calibration_of(first, RECORDED_RANKS)
  gbps, sources = [], []
  for r in rates:
    fit = cluster.calibration_of(cals[r]["fits"], RECORDED_RANKS) \
        if r in cals else None
    if fit and fit["gbit_s"]:
      gbps.append(fit["gbit_s"])
      sources.append(f"{r}: calibrated at {RECORDED_RANKS} ranks")
    else:
      gbps.append(base["gbit_s"] * cluster.rate_bits(r) /
                  cluster.rate_bits(rates[0]))
      sources.append(f"{r}: {rates[0]}'s calibration x "
                     f"{cluster.rate_bits(r) / cluster.rate_bits(rates[0]):g}")
  at = cluster.calibration_of(first, world_size) or min(
      first, key=lambda f: abs(f["world_size"] - world_size))
  spec = (f"hosts:gbps={'/'.join(f'{g:.4g}' for g in gbps)},"
          f"alpha_us={at['alpha_us']:.4g},algorithm=ring")
  return spec, sources + [f"alpha: {rates[0]} at {at['world_size']} ranks"]


def straggler(exp, cals, runs):
  a = exp.args
  rates = a.straggler_rates
  p = len(rates)
  with cluster.cluster_up(exp.bins["cluster"], a.cluster_name, p,
                          ",".join(rates), exp.out) as c:
    rec = exp.run_train(f"straggler_p{p}_none", train_flags(exp, "none"),
                        env=c["env"], ranks=p,
                        environment={"link_rates": ",".join(rates)})
  spec, sources = hosts_spec(rates, cals, p)
  networks = [spec, f"calibration:{cals[rates[0]]['file']}"]
  trace = runs[(rates[0], RECORDED_RANKS, "none")]["trace"]
  rows = []
  for result, cmd, cores in replay_both(exp, "straggler", trace, ["none"],
                                        networks, [p]):
    rows += validation_rows("straggler " + ",".join(rates), result,
                            lambda w, pol: rec, cmd, cores)
  return rows, {"spec": spec, "sources": sources, "run": rec["name"]}


def run(exp):
  a = exp.args
  hosts = max([RECORDED_RANKS] + a.world_sizes)
  runs, cals, rows, clusters = {}, {}, [], []
  for rate in a.rates:
    with cluster.cluster_up(exp.bins["cluster"], a.cluster_name, hosts, rate,
                            exp.out) as c:
      clusters.append({k: c[k] for k in ("rate", "hosts", "up_command",
                                          "status")})
      cals[rate] = calibrate(exp, rate, c)
      measure(exp, rate, c, runs)
  for rate in a.rates:
    rows += predict(exp, rate, cals[rate], runs)
  strag = None
  if a.straggler_rates:
    srows, strag = straggler(exp, cals, runs)
    rows += srows
  return exp.write_results({
      "rows": rows, "calibrations": cals, "clusters": clusters,
      "straggler": strag, "shared_cores": a.shared_cores,
      "records": [common.strip(r) for r in exp.records]})


COLUMNS = ["rate", "world_size", "policy", "network", "cores", "predicted_s",
           "interval_low_s", "interval_high_s", "measured_s", "error_frac",
           "inside", "compute_share", "recording", "others_busy_cores",
           "loadavg_before", "run", "network_spec"]


def summaries(rows):
  """Per (rate, network model, cores) of the rows that test a prediction
  (a measured run, not the recording): cases, median and largest |error|,
  how many within 10% and inside the interval. Rows of cores "own" (the
  real-hosts prediction) are compared with the emulated runs too, but that
  is not a validation: `validation` says which."""
  groups = {}
  for r in rows:
    if r.get("measured_s") is not None and not r.get("recording"):
      groups.setdefault((r["rate"], r["network"], r["cores"]), []).append(r)
  out = []
  for (rate, net, cores), sel in groups.items():
    errs = [abs(r["error_frac"]) for r in sel]
    out.append({"rate": rate, "network": net, "cores": cores,
                "cases": len(sel), "median_abs_error": harness.median(errs),
                "max_abs_error": max(errs),
                "within_10": sum(e <= 0.10 for e in errs),
                "inside": sum(bool(r["inside"]) for r in sel),
                "validation": cores != "own"})
  return out


def summary_text(s):
  return (f"{s['rate']}, {s['network']}, cores {s['cores']}: {s['cases']} "
          f"cases, median |error| {100 * s['median_abs_error']:.1f}%, max "
          f"{100 * s['max_abs_error']:.1f}%, within 10%: {s['within_10']}/"
          f"{s['cases']}, inside the interval: {s['inside']}/{s['cases']}" +
          ("" if s["validation"] else " (real-hosts prediction against the "
           "emulated runs: not a validation)"))


def print_table(res):
  rows = res["rows"]
  print()
  print("| rate | p | policy | network | cores | predicted s [90% interval] "
        "| measured s | error | inside | compute share | other load |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    meas = r.get("measured_s")
    print(f"| {r['rate']} | {r['world_size']} | {r['policy']} | "
          f"{r['network']} | {r['cores']} | {r['predicted_s']:.2f} "
          f"[{r['interval_low_s']:.2f}, {r['interval_high_s']:.2f}] | " +
          (f"{meas:.2f} | {100 * r['error_frac']:+.1f}%"
           f"{' (recording)' if r.get('recording') else ''} | "
           f"{'yes' if r['inside'] else 'no'} | "
           f"{100 * r['compute_share']:.0f}% | "
           f"{r['others_busy_cores']:.2f} |" if meas is not None
           else "- | - | - | - | - |"))
  print()
  for s in summaries(rows):
    print(summary_text(s))
  if res.get("straggler"):
    print(f"straggler network: {res['straggler']['spec']} "
          f"({'; '.join(res['straggler']['sources'])})")


def report(exp, res):
  common.write_csv(os.path.join(exp.out, "validation.csv"), res["rows"],
                   COLUMNS)
  print_table(res)
  plt = common.pyplot()
  rows = res["rows"]
  shared = f"shared:{res['shared_cores']}"
  rates = [r for r in dict.fromkeys(r["rate"] for r in rows)
           if not r.startswith("straggler")]
  pols = list(dict.fromkeys(r["policy"] for r in rows))
  if rates:
    fig, axes = plt.subplots(len(rates), len(pols), squeeze=False,
                             figsize=(3.2 * len(pols), 2.8 * len(rates)))
    nets = list(dict.fromkeys(r["network"] for r in rows
                              if r["rate"] in rates))
    colors = dict(zip(nets, ["tab:blue", "tab:orange", "tab:green",
                             "tab:red", "tab:purple"]))
    for i, rate in enumerate(rates):
      for j, pol in enumerate(pols):
        ax = axes[i][j]
        sel = [r for r in rows if r["rate"] == rate and r["policy"] == pol]
        meas = sorted({(r["world_size"], r["measured_s"]) for r in sel
                       if r.get("measured_s") is not None})
        ax.plot([m[0] for m in meas], [m[1] for m in meas], "ks-", ms=4,
                label="measured")
        for k, net in enumerate(nets):
          for cores, style in ((shared, "o"), ("own", "x")):
            pts = sorted((r["world_size"], r["predicted_s"],
                          r["interval_low_s"], r["interval_high_s"])
                         for r in sel if r["network"] == net and
                         r["cores"] == cores)
            if not pts:
              continue
            xs = [x + 0.06 * (k + 1) * (1 if cores == shared else -1)
                  for x, *_ in pts]
            ax.errorbar(xs, [q[1] for q in pts],
                        yerr=[[q[1] - q[2] for q in pts],
                              [q[3] - q[1] for q in pts]],
                        fmt=style, ms=3, color=colors[net], lw=0.8,
                        label=f"{net} ({'shared cores' if cores == shared else 'own cores'})")
        ax.set_title(f"{rate}, {pol}", fontsize=8)
        ax.set_xlabel("ranks (one per host)")
        ax.set_ylabel("training time (s)")
        ax.set_xticks(sorted({r["world_size"] for r in sel}))
    axes[0][0].legend(fontsize=5)
    st = res["settings"]
    fig.suptitle("Exp. 9: recorded at 2 ranks, predicted and measured at "
                 "more (emulated hosts, one rank each)\n"
                 f"{st['model']}, batch {st['run_batch_size']} per rank, "
                 f"{st['steps']} steps, {res['sizes']} sizes; bars: replay's "
                 "90% interval", fontsize=8)
    common.save_fig(fig, os.path.join(exp.out, "exp9_cluster.png"),
                    exp.args.dpi)
  val = [r for r in rows if r.get("measured_s") is not None and
         not r.get("recording") and r["cores"] == shared]
  if val:
    fig, ax = plt.subplots(figsize=(7, 0.16 * len(val) + 1.2))
    ax.barh(range(len(val)), [100 * r["error_frac"] for r in val],
            color=["tab:blue" if r["inside"] else "tab:orange" for r in val])
    ax.set_yticks(range(len(val)))
    ax.set_yticklabels([f"{r['rate']} p={r['world_size']} {r['policy']} "
                        f"{r['network']}" for r in val], fontsize=5)
    for x in (-10, 10):
      ax.axvline(x, color="k", lw=0.5, ls="--")
    ax.invert_yaxis()
    ax.set_xlabel(f"error (predicted / measured - 1, %), {shared}; orange: "
                  "outside the 90% interval")
    fig.suptitle("Exp. 9: prediction errors on the emulated cluster",
                 fontsize=9)
    common.save_fig(fig, os.path.join(exp.out, "exp9_errors.png"),
                    exp.args.dpi)


def main(argv=None):
  args = parse_args(argv)
  if not args.plot_only:
    try:
      cluster.check_available()
    except cluster.Unavailable as e:
      print(f"exp9_cluster: error: {e} (this experiment runs on an emulated "
            "cluster; nothing was run)", file=sys.stderr)
      return 2
  return common.main(args, run, report,
                     binaries=("train", "trace_json", "calibrate", "replay",
                               "cluster"))


if __name__ == "__main__":
  sys.exit(main())
