#!/usr/bin/python3
"""Our trainer against the study's own stack (PyTorch DDP over gloo), side by side.

For every (ranks, K) in --ranks x --frozen, runs //train (--policy=static:K)
and benchmarks/ddp_baseline.py with the same data, batch per rank, threads
per rank (cores / ranks), model and frozen groups, interleaved on a shared
machine: --rounds rounds, each visiting every configuration once, with the
order of the two stacks alternating between rounds (ours, theirs | theirs,
ours). Per-step times come from rank 0 of each run (our trace's steps table,
the baseline's own clocks); the first --warmup steps of every run are
dropped and medians are taken over the remaining steps of all rounds. Our
trainer's step clock stops before its end-of-step all-gather and trace write:
their mean per step (epoch wall time - evaluation - step totals, / steps) is
added to every step of ours, so both stacks are timed start to start.

Prints and writes (under --out):
  ratios.csv       median step time ours / PyTorch per (ranks, K)
  efficiency.csv   freezing efficiency of our trainer per (ranks, K)
  results.json     everything, with every run's per-step times and commands
  runs/            each run's output folder (ours: summary.json, trace.pb)

Freezing efficiency (docs/PERFORMANCE.md has the derivation): from our K=0
runs at the same rank count, with medians over their measured steps,
  saving(K)       = S(0) - S(K), S = median step time
  frozen work     W(K) = sum over frozen units u of [F_u + B_u]
                         + optimizer share + exposed-communication share
                   F_u, B_u: median in-step forward / backward of unit u at
                   K=0 (unit 0's backward has no input gradient there);
                   optimizer share = optimizer(K=0) x frozen params / params;
                   communication share = exposed comm(K=0) x frozen bytes /
                   bytes
  limit(K)        = W(K) / S(0): the frozen units' share of the step, the
                   physical limit of the saving (DESIGN.md)
  efficiency(K)   = saving(K) / W(K)              (target >= 0.9)
  savable V(K)    = W(K) minus what freezing without caching must still
                   pay: the frozen units' no-grad forward (F_u x
                   forward_nograd / forward of the start-up profile), plus
                   the input gradient of the first trainable unit that
                   freezing also saves (B_K x (1 - backward_no_input_grad /
                   backward) of the profile)
  efficiency_savable(K) = saving(K) / V(K)

Run with Debian's python:
  /usr/bin/python3 benchmarks/compare_pytorch.py --out=/tmp/compare
(it builds //train and //benchmarks:trace_json with bazel and copies the
binaries into OUT/bin, so rebuilds by others during the run change nothing),
or `bazel run //benchmarks:compare_pytorch -- --out=/tmp/compare`.
"""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UNITS = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--ranks", default="1,2")
  p.add_argument("--frozen", default="0,2,4,6", help="K values (0 needed "
                 "for the efficiency)")
  p.add_argument("--rounds", type=int, default=2)
  p.add_argument("--steps", type=int, default=20,
                 help="measured steps per run")
  p.add_argument("--warmup", type=int, default=5,
                 help="steps dropped at the start of every run")
  p.add_argument("--batch_size", type=int, default=64, help="per rank")
  p.add_argument("--classes", default="5,6,7,8,9")
  p.add_argument("--cores", type=int, default=0,
                 help="cores to share among ranks (0: this machine's)")
  p.add_argument("--model", default="resnet18")
  p.add_argument("--seed", type=int, default=1)
  p.add_argument("--stacks", default="ours,pytorch",
                 help="which stacks to run (ours,pytorch)")
  p.add_argument("--train_bin", default="",
                 help="the //train binary (default: bazel build and copy)")
  p.add_argument("--trace_json_bin", default="",
                 help="the //benchmarks:trace_json binary")
  p.add_argument("--python", default="/usr/bin/python3",
                 help="python with torch and torchvision for the baseline")
  p.add_argument("--train_args", default="",
                 help="extra flags for //train (space separated)")
  p.add_argument("--baseline_args", default="",
                 help="extra flags for ddp_baseline.py (space separated)")
  p.add_argument("--timeout_s", type=int, default=900, help="per run")
  return p.parse_args(argv)


def log(msg):
  print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def run_cmd(cmd, log_path, timeout_s, env=None):
  """Runs `cmd` in its own process group; kills that group on timeout."""
  with open(log_path, "w") as logf:
    logf.write(" ".join(cmd) + "\n")
    logf.flush()
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    try:
      rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
      raise RuntimeError(f"timed out after {timeout_s} s: {' '.join(cmd)}")
    except BaseException:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
      raise
  if rc != 0:
    with open(log_path) as f:
      tail = f.read()[-3000:]
    raise RuntimeError(f"exit {rc}: {' '.join(cmd)}\n{tail}")


def prepare_binaries(args, bin_dir):
  os.makedirs(bin_dir, exist_ok=True)
  train_bin, tj_bin = args.train_bin, args.trace_json_bin
  if not train_bin or not tj_bin:
    log("bazel build //train //benchmarks:trace_json")
    subprocess.run(["bazel", "build", "//train", "//benchmarks:trace_json"],
                   cwd=REPO, check=True)
    train_bin = train_bin or os.path.join(REPO, "bazel-bin/train/train")
    tj_bin = tj_bin or os.path.join(REPO, "bazel-bin/benchmarks/trace_json")
  out = {}
  for name, path in (("train", train_bin), ("trace_json", tj_bin)):
    dst = os.path.join(bin_dir, name)
    shutil.copy2(os.path.realpath(path), dst)
    os.chmod(dst, 0o755)
    out[name] = dst
  rev = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                       capture_output=True, text=True).stdout.strip()
  out["revision"] = rev or "unknown"
  return out


def median(xs):
  return statistics.median(xs) if xs else float("nan")


def i64(x):
  return int(x) if x not in (None, "") else 0


def run_ours(args, bins, ranks, k, threads, train_limit, run_dir):
  cmd = [
      bins["train"], "--data=fashion_mnist", f"--classes={args.classes}",
      f"--train_limit={train_limit}", "--test_limit=256", "--epochs=1",
      f"--max_steps={args.warmup + args.steps}",
      f"--batch_size={args.batch_size}", f"--ranks={ranks}",
      f"--threads={threads}", f"--model={args.model}",
      f"--policy=static:{k}", f"--seed={args.seed}", f"--out={run_dir}",
  ] + [a for a in args.train_args.split() if a]
  os.makedirs(run_dir, exist_ok=True)
  run_cmd(cmd, os.path.join(run_dir, "log.txt"), args.timeout_s)
  res = subprocess.run([bins["trace_json"], os.path.join(run_dir, "trace.pb")],
                       capture_output=True, text=True, check=True)
  trace = json.loads(res.stdout)
  steps = []
  for s in trace["steps"]:
    ph = s["phases"]
    steps.append({
        "step": i64(s["step"]),
        "data_s": i64(ph["data_ns"]) * 1e-9,
        "forward_s": i64(ph["forward_ns"]) * 1e-9,
        "backward_s": i64(ph["backward_ns"]) * 1e-9,
        "comm_exposed_s": i64(ph["comm_exposed_ns"]) * 1e-9,
        "optimizer_s": i64(ph["optimizer_ns"]) * 1e-9,
        "stats_s": i64(ph["stats_ns"]) * 1e-9,
        "total_s": i64(ph["total_ns"]) * 1e-9,
        "unit_forward_s": [i64(x) * 1e-9 for x in s["unit_forward_ns"]],
        "unit_backward_s": [i64(x) * 1e-9 for x in s["unit_backward_ns"]],
        "bytes_allreduced": i64(s["bytes_allreduced"]),
    })
  header = trace["header"]
  # Per step, the trainer's clocks stop before the step's end-of-step
  # all-gather (loss, times), the trace write and the progress line; the
  # epoch's wall time minus evaluation minus the step totals is that time,
  # spread over the steps (its mean is added to our step times below, so
  # that both stacks are timed from one step's start to the next's).
  untimed_s = 0.0
  if trace.get("epochs") and steps:
    e = trace["epochs"][0]
    untimed_s = max(0.0, (i64(e["wall_ns"]) - i64(e["eval_ns"]) -
                          i64(e["train_ns"])) * 1e-9 / len(steps))
  for st in steps:
    st["timed_total_s"] = st["total_s"]
    st["total_s"] = st["timed_total_s"] + untimed_s
  return {
      "command": " ".join(cmd),
      "untimed_per_step_s": untimed_s,
      "steps": steps,
      "profile": trace["profile"],
      "units": [{"name": u["name"], "params": i64(u["params"])}
                for u in header["units"]],
      "threads": header["machine"]["threads_per_rank"],
  }


def run_pytorch(args, ranks, k, threads, train_limit, run_dir):
  os.makedirs(run_dir, exist_ok=True)
  out_json = os.path.join(run_dir, "ddp_baseline.json")
  cmd = [
      args.python, os.path.join(HERE, "ddp_baseline.py"),
      f"--classes={args.classes}", f"--train_limit={train_limit}",
      f"--batch_size={args.batch_size}", f"--ranks={ranks}",
      f"--threads={threads}", f"--frozen={k}", f"--steps={args.steps}",
      f"--warmup={args.warmup}", f"--seed={args.seed}", f"--out={out_json}",
      "--quiet",
  ] + [a for a in args.baseline_args.split() if a]
  run_cmd(cmd, os.path.join(run_dir, "log.txt"), args.timeout_s)
  with open(out_json) as f:
    r = json.load(f)
  return {"command": " ".join(cmd), "steps": r["steps"], "config": r["config"]}


def measured(run, warmup):
  return [s for s in run["steps"] if s["step"] >= warmup]


def pooled_median(runs, key, warmup):
  return median([s[key] for r in runs for s in measured(r, warmup)])


def efficiency_rows(ours_runs, ranks_list, ks, warmup):
  """Freezing efficiency of our trainer per (ranks, K); see the docstring."""
  rows = []
  for ranks in ranks_list:
    base = ours_runs.get((ranks, 0))
    if not base:
      continue
    s0 = pooled_median(base, "total_s", warmup)
    units = base[0]["units"]
    n = len(units)
    steps0 = [s for r in base for s in measured(r, warmup)]
    f_u = [median([s["unit_forward_s"][u] for s in steps0]) for u in range(n)]
    b_u = [median([s["unit_backward_s"][u] for s in steps0]) for u in range(n)]
    opt0 = median([s["optimizer_s"] for s in steps0])
    comm0 = median([s["comm_exposed_s"] for s in steps0])
    # Profile ratios (medians over the K=0 runs' start-up profiles).
    prof_units = [r["profile"]["units"] for r in base]
    def prof_ratio(u, num, den):
      vals = []
      for pu in prof_units:
        d = i64(pu[u][den])
        if d > 0:
          vals.append(i64(pu[u][num]) / d)
      return median(vals) if vals else 1.0
    total_params = sum(u["params"] for u in units)
    for k in ks:
      runs = ours_runs.get((ranks, k))
      if not runs:
        continue
      sk = pooled_median(runs, "total_s", warmup)
      frozen_params = sum(units[u]["params"] for u in range(k))
      share_p = frozen_params / total_params if total_params else 0.0
      fwd = sum(f_u[:k])
      bwd = sum(b_u[:k])
      opt = opt0 * share_p
      comm = comm0 * share_p
      w = fwd + bwd + opt + comm
      fwd_kept = sum(f_u[u] * prof_ratio(u, "forward_nograd_ns", "forward_ns")
                     for u in range(k))
      input_grad = 0.0
      if 0 < k < n:
        input_grad = b_u[k] * max(
            0.0, 1.0 - prof_ratio(k, "backward_no_input_grad_ns",
                                  "backward_ns"))
      v = w - fwd_kept + input_grad
      saving = s0 - sk
      rows.append({
          "ranks": ranks, "K": k,
          "frozen_units": "+".join(units[u]["name"] for u in range(k)) or "-",
          "step_K0_ms": s0 * 1e3, "step_K_ms": sk * 1e3,
          "saving_ms": saving * 1e3,
          "saving_frac": saving / s0 if s0 else float("nan"),
          "frozen_fwd_ms": fwd * 1e3, "frozen_bwd_ms": bwd * 1e3,
          "frozen_opt_ms": opt * 1e3, "frozen_comm_ms": comm * 1e3,
          "limit_frac": w / s0 if s0 else float("nan"),
          "efficiency": saving / w if w > 0 else float("nan"),
          "savable_ms": v * 1e3,
          "savable_frac": v / s0 if s0 else float("nan"),
          "efficiency_savable": saving / v if v > 0 else float("nan"),
      })
  return rows


def fmt(x, spec):
  return "n/a" if x != x else format(x, spec)


def main(argv=None):
  args = parse_args(argv)
  out = os.path.abspath(args.out)
  os.makedirs(out, exist_ok=True)
  ranks_list = [int(x) for x in args.ranks.split(",") if x]
  ks = [int(x) for x in args.frozen.split(",") if x]
  stacks = [s for s in args.stacks.split(",") if s]
  cores = args.cores or len(os.sched_getaffinity(0))
  bins = prepare_binaries(args, os.path.join(out, "bin")) if "ours" in stacks \
      else {"revision": "n/a"}
  started = time.time()
  load_start = os.getloadavg()
  configs = [(r, k) for r in ranks_list for k in ks]
  ours_runs, pt_runs, run_log = {}, {}, []
  for rnd in range(args.rounds):
    order = stacks if rnd % 2 == 0 else list(reversed(stacks))
    for ranks, k in configs:
      threads = max(1, cores // ranks)
      # Enough samples for warmup + steps full batches on every rank (the
      # IID shards differ by at most one sample).
      train_limit = args.batch_size * ranks * (args.warmup + args.steps) + \
          2 * ranks
      for stack in order:
        name = f"{stack}_r{ranks}_k{k}_round{rnd}"
        run_dir = os.path.join(out, "runs", name)
        load = os.getloadavg()
        t0 = time.time()
        if stack == "ours":
          res = run_ours(args, bins, ranks, k, threads, train_limit, run_dir)
          ours_runs.setdefault((ranks, k), []).append(res)
        else:
          res = run_pytorch(args, ranks, k, threads, train_limit, run_dir)
          pt_runs.setdefault((ranks, k), []).append(res)
        med = median([s["total_s"] for s in measured(res, args.warmup)])
        run_log.append({"name": name, "stack": stack, "ranks": ranks, "K": k,
                        "round": rnd, "loadavg_1m_before": load[0],
                        "wall_s": time.time() - t0, "median_step_s": med,
                        "command": res["command"]})
        log(f"{name}: median step {med * 1e3:.1f} ms (load {load[0]:.2f}, "
            f"{time.time() - t0:.0f} s)")

  # Ratio table.
  ratio_rows = []
  for ranks, k in configs:
    o = ours_runs.get((ranks, k), [])
    p = pt_runs.get((ranks, k), [])
    om = pooled_median(o, "total_s", args.warmup) if o else float("nan")
    pm = pooled_median(p, "total_s", args.warmup) if p else float("nan")
    row = {"ranks": ranks, "threads": max(1, cores // ranks), "K": k,
           "ours_ms": om * 1e3, "pytorch_ms": pm * 1e3,
           "ratio": om / pm if pm == pm and pm > 0 else float("nan")}
    # Per-round ratios (each round's pair ran next to each other).
    row["ratio_per_round"] = [
        median([s["total_s"] for s in measured(a, args.warmup)]) /
        median([s["total_s"] for s in measured(b, args.warmup)])
        for a, b in zip(o, p)]
    for phase in ("data_s", "forward_s", "backward_s", "optimizer_s"):
      row["ours_" + phase[:-2] + "_ms"] = (
          pooled_median(o, phase, args.warmup) * 1e3 if o else float("nan"))
      row["pytorch_" + phase[:-2] + "_ms"] = (
          pooled_median(p, phase, args.warmup) * 1e3 if p else float("nan"))
    row["ours_untimed_ms"] = (
        median([r["untimed_per_step_s"] for r in o]) * 1e3 if o
        else float("nan"))
    row["ours_comm_exposed_ms"] = (
        pooled_median(o, "comm_exposed_s", args.warmup) * 1e3 if o
        else float("nan"))
    if o:
      st = [s for r in o for s in measured(r, args.warmup)]
      row["ours_stats_mean_frac"] = (sum(s["stats_s"] for s in st) /
                                     sum(s["total_s"] for s in st))
    else:
      row["ours_stats_mean_frac"] = float("nan")
    ratio_rows.append(row)
  eff_rows = efficiency_rows(ours_runs, ranks_list, ks, args.warmup)
  # PyTorch's own saving per K, for comparison.
  pt_saving = {}
  for ranks in ranks_list:
    if (ranks, 0) in pt_runs:
      p0 = pooled_median(pt_runs[(ranks, 0)], "total_s", args.warmup)
      for k in ks:
        if (ranks, k) in pt_runs:
          pk = pooled_median(pt_runs[(ranks, k)], "total_s", args.warmup)
          pt_saving[(ranks, k)] = (p0 - pk) / p0
  for r in eff_rows:
    r["pytorch_saving_frac"] = pt_saving.get((r["ranks"], r["K"]),
                                             float("nan"))

  with open(os.path.join(out, "ratios.csv"), "w", newline="") as f:
    cols = [c for c in ratio_rows[0] if c != "ratio_per_round"]
    w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in ratio_rows:
      w.writerow({c: (f"{r[c]:.4f}" if isinstance(r[c], float) else r[c])
                  for c in cols})
  if eff_rows:
    with open(os.path.join(out, "efficiency.csv"), "w", newline="") as f:
      w = csv.DictWriter(f, fieldnames=list(eff_rows[0]))
      w.writeheader()
      for r in eff_rows:
        w.writerow({c: (f"{v:.4f}" if isinstance(v, float) else v)
                    for c, v in r.items()})
  result = {
      "command": " ".join([sys.executable] + sys.argv),
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
      "revision": bins["revision"],
      "machine": {"cores": cores, "cpu": _cpu_model(),
                  "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
      "settings": vars(args),
      "wall_s": time.time() - started,
      "ratios": ratio_rows,
      "efficiency": eff_rows,
      "runs": run_log,
      "ours": {f"r{r}_k{k}": v for (r, k), v in ours_runs.items()},
      "pytorch": {f"r{r}_k{k}": v for (r, k), v in pt_runs.items()},
  }
  with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(result, f, indent=1)

  loads = [r["loadavg_1m_before"] for r in run_log]
  print()
  print(f"Median step time, ours vs PyTorch DDP (gloo), resnet18, batch "
        f"{args.batch_size}/rank, {args.rounds} rounds x {args.steps} steps "
        f"(after {args.warmup} warm-up) per stack and configuration; "
        f"1-min load before runs {min(loads):.2f}..{max(loads):.2f}")
  print("| ranks | threads/rank | K | ours ms | PyTorch ms | ours/PyTorch "
        "| per round | target | stats share (ours) |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in ratio_rows:
    target = 0.9 if r["K"] == 0 else 1.0
    ok = "met" if r["ratio"] == r["ratio"] and r["ratio"] <= target \
        else "MISSED"
    if r["K"] != 0 and r["ratio"] == r["ratio"] and r["ratio"] >= 1.0:
      ok = "MISSED"
    per_round = " ".join(f"{x:.3f}" for x in r["ratio_per_round"])
    print(f"| {r['ranks']} | {r['threads']} | {r['K']} | "
          f"{fmt(r['ours_ms'], '.1f')} | {fmt(r['pytorch_ms'], '.1f')} | "
          f"{fmt(r['ratio'], '.3f')} | {per_round} | "
          f"{'<= 0.9' if r['K'] == 0 else '< 1'}: {ok} | "
          f"{fmt(100 * r['ours_stats_mean_frac'], '.2f')}% |")
  print()
  print("Phases (median ms): ours fwd/bwd/comm-exposed/opt/data/untimed "
        "(mean) vs PyTorch fwd/bwd(incl. DDP wait)/opt/data")
  print("| ranks | K | ours fwd | ours bwd | ours comm | ours opt | ours data "
        "| ours untimed | PT fwd | PT bwd | PT opt | PT data |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  for r in ratio_rows:
    print(f"| {r['ranks']} | {r['K']} | {fmt(r['ours_forward_ms'], '.1f')} | "
          f"{fmt(r['ours_backward_ms'], '.1f')} | "
          f"{fmt(r['ours_comm_exposed_ms'], '.1f')} | "
          f"{fmt(r['ours_optimizer_ms'], '.1f')} | "
          f"{fmt(r['ours_data_ms'], '.1f')} | "
          f"{fmt(r['ours_untimed_ms'], '.1f')} | "
          f"{fmt(r['pytorch_forward_ms'], '.1f')} | "
          f"{fmt(r['pytorch_backward_ms'], '.1f')} | "
          f"{fmt(r['pytorch_optimizer_ms'], '.1f')} | "
          f"{fmt(r['pytorch_data_ms'], '.1f')} |")
  if eff_rows:
    print()
    print("Freezing efficiency of our trainer (saving vs K=0 of the same run "
          "/ frozen units' share of the K=0 step)")
    print("| ranks | K | frozen | step K=0 ms | step K ms | saving | "
          "limit (frozen share) | efficiency | savable w/o cache | "
          "efficiency vs savable | PyTorch saving |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in eff_rows:
      if r["K"] == 0:
        continue
      print(f"| {r['ranks']} | {r['K']} | {r['frozen_units']} | "
            f"{r['step_K0_ms']:.1f} | {r['step_K_ms']:.1f} | "
            f"{100 * r['saving_frac']:.1f}% | "
            f"{100 * r['limit_frac']:.1f}% | {fmt(r['efficiency'], '.2f')} | "
            f"{100 * r['savable_frac']:.1f}% | "
            f"{fmt(r['efficiency_savable'], '.2f')} | "
            f"{fmt(100 * r['pytorch_saving_frac'], '.1f')}% |")
  print()
  print(f"wrote {out}/ratios.csv, efficiency.csv, results.json "
        f"({(time.time() - started) / 60:.1f} min)")
  return 0


def _cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "unknown"


if __name__ == "__main__":
  sys.exit(main())
