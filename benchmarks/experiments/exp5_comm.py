"""Experiment 5: communication: gradient bytes and exposed communication
per step against the number of frozen groups, over a real network stack.

Networks (--networks):
  single       1 rank using every core: no communication (the single-node
               run of the study's comparison)
  shm          2 ranks on this host, MPI through shared memory (MPICH/UCX's
               default on one host)
  tcp          2 ranks, MPI over TCP on the loopback (UCX_TLS=tcp,self), as
               between hosts
  tcp_10gbit   the same, loopback shaped to 10 Gbit/s
               (tc qdisc add dev lo root tbf rate 10gbit burst 2560kb
               latency 50ms)
  tcp_1gbit    the same at 1 Gbit/s (tbf rate 1gbit burst 256kb latency 50ms,
               comm/README.md)
Shaping needs root and `tc`; without them the shaped networks are skipped
(and said so in the output). The qdisc is removed after each network, also
on failure or interrupt; a loopback that already has a qdisc (someone
else's shaping) is left alone and the shaped networks are skipped. Shaping
applies to all loopback traffic of the machine while it is on.

For every network and K in --ks, one short fine-tuning (--steps steps of
batch 64 per rank, static:K), and for every 2-rank network one
`comm:calibrate` (the ring model's alpha and beta as this network delivers
them: replay's `calibration:FILE`, used by experiment 6). Per step (the
first 5 left out): gradient bytes all-reduced, exposed communication (what
backward did not hide), all-reduce time, step time; medians.

  bazel run //benchmarks:exp5_comm -- [--out=DIR] [--full]
  /usr/bin/python3 -m benchmarks.experiments.exp5_comm [--out=DIR]

Writes OUT/results.json, OUT/comm.csv, OUT/calibration_<network>.json and
the figure OUT/exp5_comm.png. Default: 30 steps per run, 5 networks x 7 K
(about 15 minutes on 2 idle cores); --full: 100 steps.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys

from benchmarks import harness
from benchmarks.experiments import common

SIZES = {"steps": 30, "test_limit": 256}
FULL = {"steps": 100, "test_limit": 256}
SMOKE = {"steps": 8, "test_limit": 64}

NETWORKS = {
    # name: (ranks, env, tc rate, tc burst)
    "single": (1, {}, None, None),
    "shm": (2, {}, None, None),
    "tcp": (2, {"UCX_TLS": "tcp,self"}, None, None),
    "tcp_10gbit": (2, {"UCX_TLS": "tcp,self"}, "10gbit", "2560kb"),
    "tcp_1gbit": (2, {"UCX_TLS": "tcp,self"}, "1gbit", "256kb"),
}
SKIP_STEPS = 5


class Skip(Exception):
  pass


def parse_args(argv=None):
  p = common.base_parser("exp5_comm", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--networks", default=",".join(NETWORKS))
  p.add_argument("--ks", default="0,1,2,3,4,5,6")
  p.add_argument("--calibrate", default="true", choices=["true", "false"])
  args = p.parse_args(argv)
  args.epochs = 1
  args.train_limit = None
  return common.resolve(args)


def lo_root_qdisc():
  r = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True,
                     text=True, check=True)
  return r.stdout.strip()


@contextlib.contextmanager
def shaped_loopback(rate, burst):
  """tc tbf on lo for the duration of the block; always removed after."""
  if rate is None:
    yield None
    return
  if os.geteuid() != 0:
    raise Skip("shaping the loopback needs root (tc qdisc); skipped")
  if not shutil.which("tc"):
    raise Skip("`tc` (iproute2) is not installed; skipped")
  before = lo_root_qdisc()
  if before and not before.startswith("qdisc noqueue"):
    raise Skip(f"lo already has a qdisc ({before!r}), not ours to replace; "
               "skipped")
  cmd = ["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate,
         "burst", burst, "latency", "50ms"]
  subprocess.run(cmd, check=True)
  harness.log("shaping on: " + " ".join(cmd))
  try:
    yield " ".join(cmd)
  finally:
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False)
    harness.log("shaping off: tc qdisc del dev lo root (now: "
               f"{lo_root_qdisc()!r})")


def calibrate(exp, name, ranks, env):
  path = os.path.join(exp.out, f"calibration_{name}.json")
  log_path = os.path.join(exp.out, f"calibration_{name}.log")
  cmd = [exp.bins["calibrate"], f"--ranks={ranks}", f"--out={path}"]
  if exp.args.smoke:
    cmd += ["--max_bytes=262144", "--min_repeats=3", "--seconds_per_size=0.01"]
  meas = harness.run_command(cmd, log_path, exp.args.timeout_s, env=env)
  with open(path) as f:
    cal = json.load(f)
  # comm/calibration.proto's field names (protobuf's camelCase in files
  # written before base/proto_json.h).
  alpha = cal.get("alpha_s", cal.get("alphaS", 0.0))
  beta = cal.get("beta_s_per_byte", cal.get("betaSPerByte", 0.0))
  harness.log(f"calibration {name}: alpha {alpha * 1e6:.1f} us, beta "
             f"{beta * 1e9:.3f} ns/byte ({8 / beta / 1e9 if beta else 0:.2f} "
             "Gbit/s)")
  return {"file": path, "alpha_us": alpha * 1e6, "beta_ns_per_byte": beta * 1e9,
          "gbit_s": 8 / beta / 1e9 if beta else None,
          "r2": cal.get("r_squared", cal.get("rSquared")),
          "command": harness.command_text(cmd, env),
          "measured": meas}


def step_stats(rec):
  st = common.measured_steps(rec, SKIP_STEPS)
  m = harness.median
  return {
      "step_ms": 1e3 * m(s["total_s"] for s in st),
      "forward_ms": 1e3 * m(s["forward_s"] for s in st),
      "backward_ms": 1e3 * m(s["backward_s"] for s in st),
      "comm_exposed_ms": 1e3 * m(s["comm_exposed_s"] for s in st),
      "comm_total_ms": 1e3 * m(s["comm_total_s"] for s in st),
      "optimizer_ms": 1e3 * m(s["optimizer_s"] for s in st),
      "bytes_per_step": sum(s["bytes"] for s in st) / max(1, len(st)),
      "buckets": m(s["buckets"] for s in st),
      "measured_steps": len(st),
  }


def run(exp):
  args = exp.args
  ks = [int(k) for k in args.ks.split(",") if k]
  nets = [n for n in args.networks.split(",") if n]
  for n in nets:
    if n not in NETWORKS:
      raise SystemExit(f"--networks: unknown {n!r}; valid: "
                       f"{', '.join(NETWORKS)}")
  rows, skipped, calibrations, shaping = [], {}, {}, {}
  for net in nets:
    ranks, env, rate, burst = NETWORKS[net]
    train_limit = args.batch_size * 2 * args.steps + 4
    flags = exp.finetune_flags(train_limit=train_limit, epochs=1) + [
        f"--max_steps={args.steps}"]
    if ranks == 1:
      flags = [f for f in flags if not f.startswith("--threads=")] + [
          "--threads=0"]
    try:
      with shaped_loopback(rate, burst) as tc_cmd:
        shaping[net] = tc_cmd
        if ranks > 1 and args.calibrate == "true":
          calibrations[net] = calibrate(exp, net, ranks, env)
        for k in ks:
          rec = exp.run_train(
              f"{net}_k{k}", flags + [f"--policy={common.static_policy(k)}"],
              env=env, ranks=ranks)
          row = dict(network=net, K=k, ranks=ranks,
                     comm_mode=rec["config"]["comm_mode"], **step_stats(rec))
          m = rec["measured"]
          row.update(total_time_s=rec["summary"]["total_time_s"],
                     loadavg_before=m["loadavg_before"][0],
                     loadavg_after=m["loadavg_after"][0],
                     others_busy_cores=m["others_busy_cores"])
          rows.append(row)
    except Skip as e:
      harness.log(f"{net}: {e}")
      skipped[net] = str(e)
  base = {r["network"]: r for r in rows if r["K"] == 0}
  for r in rows:
    b = base.get(r["network"])
    if b:
      r["saved_step_frac"] = 1 - r["step_ms"] / b["step_ms"]
      r["comm_share"] = r["comm_exposed_ms"] / r["step_ms"]
  return exp.write_results({
      "rows": rows, "skipped": skipped, "calibrations": calibrations,
      "shaping": shaping, "networks": {n: {"ranks": NETWORKS[n][0],
                                           "env": NETWORKS[n][1],
                                           "tc_rate": NETWORKS[n][2]}
                                       for n in nets},
      "records": [common.strip(r) for r in exp.records]})


COLUMNS = ["network", "K", "ranks", "comm_mode", "bytes_per_step", "buckets",
           "step_ms", "saved_step_frac", "forward_ms", "backward_ms",
           "comm_exposed_ms", "comm_total_ms", "comm_share", "optimizer_ms",
           "measured_steps", "total_time_s", "loadavg_before",
           "loadavg_after", "others_busy_cores"]


def report(exp, res):
  out = exp.out
  rows = res["rows"]
  common.write_csv(os.path.join(out, "comm.csv"), rows, COLUMNS)
  print()
  for net, why in res["skipped"].items():
    print(f"{net}: {why}")
  for net, c in res["calibrations"].items():
    print(f"calibration {net}: alpha {c['alpha_us']:.1f} us, beta "
          f"{c['beta_ns_per_byte']:.3f} ns/byte = {c['gbit_s']:.2f} Gbit/s, "
          f"R^2 {c['r2']}")
  print("medians per step after the first 5 steps")
  print("| network | K | MB all-reduced | step ms | saved | exposed comm ms | "
        "all-reduce ms | comm share | backward ms | load before->after |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['network']} | {r['K']} | {r['bytes_per_step'] / 1e6:.2f} | "
          f"{r['step_ms']:.0f} | {100 * r.get('saved_step_frac', 0):.1f}% | "
          f"{r['comm_exposed_ms']:.1f} | {r['comm_total_ms']:.1f} | "
          f"{100 * r.get('comm_share', 0):.1f}% | {r['backward_ms']:.0f} | "
          f"{r['loadavg_before']:.2f}->{r['loadavg_after']:.2f} |")

  plt = common.pyplot()
  cap = common.caption(res)
  nets = []
  for r in rows:
    if r["network"] not in nets:
      nets.append(r["network"])
  fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
  (a_bytes, a_exp), (a_step, a_save) = axes
  two = [n for n in nets if res["networks"][n]["ranks"] > 1]
  if two:
    sel = [r for r in rows if r["network"] == two[0]]
    a_bytes.bar([r["K"] for r in sel], [r["bytes_per_step"] / 1e6 for r in sel],
                color="tab:gray")
  a_bytes.set_title("gradient bytes all-reduced per step and rank", fontsize=8)
  a_bytes.set_ylabel("MB")
  for net in nets:
    sel = [r for r in rows if r["network"] == net]
    ks = [r["K"] for r in sel]
    if res["networks"][net]["ranks"] > 1:
      a_exp.plot(ks, [r["comm_exposed_ms"] for r in sel], "o-", ms=3,
                 label=net)
    a_step.plot(ks, [r["step_ms"] for r in sel], "o-", ms=3, label=net)
    a_save.plot(ks, [100 * r.get("saved_step_frac", 0) for r in sel], "o-",
                ms=3, label=net)
  a_exp.set_title("exposed communication per step (median)", fontsize=8)
  a_exp.set_ylabel("ms")
  a_step.set_title("step time (median)", fontsize=8)
  a_step.set_ylabel("ms")
  a_save.set_title("step time saved against K=0 on the same network",
                   fontsize=8)
  a_save.set_ylabel("%")
  for ax in (a_bytes, a_exp, a_step, a_save):
    ax.set_xlabel("frozen groups K")
  a_exp.legend(fontsize=7)
  a_step.legend(fontsize=7)
  fig.suptitle(f"Exp. 5: communication vs frozen groups\n{cap}", fontsize=9)
  common.save_fig(fig, os.path.join(out, "exp5_comm.png"), exp.args.dpi)


def main(argv=None):
  args = parse_args(argv)
  binaries = ("train", "trace_json") + (
      ("calibrate",) if args.calibrate == "true" else ())
  return common.main(args, run, report, binaries)


if __name__ == "__main__":
  sys.exit(main())
