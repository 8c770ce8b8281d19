"""Experiment 5: communication: gradient bytes and exposed communication
per step against the number of frozen groups, over real links.

Networks (--networks; default: single, shm and the three cluster links):
  single           1 rank using every core: no communication (the
                   single-node run of the study's comparison)
  shm              2 ranks on this host, MPI through shared memory
                   (MPICH/UCX's default on one host)
  cluster_10gbit   2 ranks on 2 emulated hosts (comm/README.md, "Several
  cluster_1gbit    hosts on one machine"): each a network namespace with its
  cluster_250mbit  own full-duplex link of that rate into a bridge, MPI over
                   TCP between them (`bazel run //comm:cluster -- up
                   --hosts=2 --rate=R`, brought up by the experiment under
                   its own name, --cluster_name, and down after each)
The earlier result (--loopback adds them; also valid in --networks): 2 ranks
over TCP on this host's loopback (UCX_TLS=tcp,self), unshaped (`tcp`) and
shaped by tc (`tcp_10gbit`: tbf rate 10gbit burst 2560kb latency 50ms;
`tcp_1gbit`: rate 1gbit burst 256kb). Shaping `lo` makes one queue for both
directions and every rank: a half-duplex link. At 1 Gbit/s it gave the
all-reduce 0.50 Gbit/s, where per-host links of 1 Gbit/s give 0.94
(calibrate: beta 8.51 ns/byte), which is why the cluster replaced it.

The cluster and the shaping need root (and ip, tc, unshare); without them
those networks are skipped, and the output says so. The loopback qdisc is
removed after each network, also on failure or interrupt; a loopback that
already has a qdisc (someone else's shaping) is left alone and the shaped
networks are skipped. A cluster whose name is already up is refused.

For every network and K in --ks, one short fine-tuning (--steps steps of
batch 64 per rank, static:K), and for every 2-rank network one
`comm:calibrate` (both operations: MPI_Allreduce, what the trainer's sync
mode runs, and MPI_Iallreduce, its gradient buckets off one host; replay's
`calibration:FILE` picks the one the replayed trace used, experiment 6
replays with them). Per step (the first 5 left out): gradient bytes
all-reduced, exposed communication (what backward did not hide), all-reduce
time, step time; medians.

  bazel run //benchmarks:exp5_comm -- [--out=DIR] [--full] [--loopback]
  /usr/bin/python3 -m benchmarks.experiments.exp5_comm [--out=DIR]

Writes OUT/results.json, OUT/comm.csv, OUT/calibration_<network>.json and
the figure OUT/exp5_comm.png. Default: 30 steps per run, 5 networks x 7 K
(about 30 minutes on 2 idle cores, a third of it at 250 Mbit/s); --full: 100
steps.
"""

import contextlib
import os
import shutil
import subprocess
import sys

from benchmarks import harness
from benchmarks.experiments import cluster
from benchmarks.experiments import common

SIZES = {"steps": 30, "test_limit": 256}
FULL = {"steps": 100, "test_limit": 256}
SMOKE = {"steps": 8, "test_limit": 64}

TCP = {"UCX_TLS": "tcp,self"}
NETWORKS = {
    # name: ranks; env of the runs; the loopback's tc rate and burst; the
    # rate of the emulated hosts' links (2 hosts).
    "single": {"ranks": 1},
    "shm": {"ranks": 2},
    "cluster_10gbit": {"ranks": 2, "cluster_rate": "10gbit"},
    "cluster_1gbit": {"ranks": 2, "cluster_rate": "1gbit"},
    "cluster_250mbit": {"ranks": 2, "cluster_rate": "250mbit"},
    "tcp": {"ranks": 2, "env": TCP},
    "tcp_10gbit": {"ranks": 2, "env": TCP, "tc": ("10gbit", "2560kb")},
    "tcp_1gbit": {"ranks": 2, "env": TCP, "tc": ("1gbit", "256kb")},
}
DEFAULT_NETWORKS = ["single", "shm", "cluster_10gbit", "cluster_1gbit",
                    "cluster_250mbit"]
# The earlier result, on the (half-duplex) shaped loopback.
LOOPBACK_NETWORKS = ["tcp", "tcp_10gbit", "tcp_1gbit"]
SKIP_STEPS = 5


class Skip(Exception):
  pass


def parse_args(argv=None):
  p = common.base_parser("exp5_comm", __doc__, SIZES, FULL, SMOKE)
  p.add_argument("--networks", default=",".join(DEFAULT_NETWORKS),
                 help=f"of {', '.join(NETWORKS)}")
  p.add_argument("--loopback", action="store_true",
                 help="also the loopback networks of the earlier result: "
                 f"{', '.join(LOOPBACK_NETWORKS)}")
  p.add_argument("--ks", default="0,1,2,3,4,5,6")
  p.add_argument("--calibrate", default="true", choices=["true", "false"])
  p.add_argument("--cluster_name", default="exp5c",
                 help="the emulated cluster's name (its hosts NAME1, NAME2); "
                 "one that is already up is refused")
  args = p.parse_args(argv)
  if args.loopback:
    args.networks += "," + ",".join(
        n for n in LOOPBACK_NETWORKS if n not in args.networks.split(","))
  cluster.check_name(args.cluster_name)
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


@contextlib.contextmanager
def network(exp, net):
  """The network `net` for the duration of the block: shaping or a cluster
  when it needs one. Yields (env, extra //train and calibrate flags, what
  was set up)."""
  spec = NETWORKS[net]
  env = dict(spec.get("env", {}))
  if "cluster_rate" in spec:
    try:
      cluster.check_available()
    except cluster.Unavailable as e:
      raise Skip(f"{e}; skipped") from e
    with cluster.cluster_up(exp.bins["cluster"], exp.args.cluster_name,
                            spec["ranks"], spec["cluster_rate"],
                            exp.out) as c:
      # The ring MPICH runs across hosts (--allreduce_algorithm=auto's
      # choice there, comm/allreduce_settings.h), pinned so that the
      # traces and calibrations say so.
      yield (dict(env, **c["env"]), ["--cluster", "--allreduce_algorithm=ring"],
             c["up_command"])
  else:
    with shaped_loopback(*spec.get("tc", (None, None))) as tc_cmd:
      yield env, [], tc_cmd


def calibrate(exp, name, ranks, env, flags):
  path = os.path.join(exp.out, f"calibration_{name}.json")
  log_path = os.path.join(exp.out, f"calibration_{name}.log")
  cmd = [exp.bins["calibrate"], f"--ranks={ranks}", f"--out={path}"] + flags
  if exp.args.smoke:
    cmd += ["--max_bytes=262144", "--min_repeats=3", "--seconds_per_size=0.01"]
  meas = harness.run_command_retrying_exit_hang(cmd, log_path,
                                                exp.args.timeout_s, env=env)
  fits = cluster.calibrations(path)
  for c in fits:
    harness.log(f"calibration {name} ({c['operation']}, {c['algorithm']}): "
                f"alpha {c['alpha_us']:.1f} us, beta "
                f"{c['beta_ns_per_byte']:.3f} ns/byte "
                f"({c['gbit_s'] or 0:.2f} Gbit/s)")
  return {"file": path, "fits": fits,
          "command": harness.command_text(cmd, env), "measured": meas}


def trainer_fit(cal, comm_mode):
  """Of a network's calibrations, the operation its runs' gradient buckets
  used: MPI_Allreduce in sync mode, else MPI_Iallreduce."""
  op = "allreduce" if comm_mode == "sync" else "iallreduce"
  return next((c for c in cal["fits"] if c["operation"] == op),
              cal["fits"][0] if cal["fits"] else {})


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
    ranks = NETWORKS[net]["ranks"]
    train_limit = args.batch_size * 2 * args.steps + 4
    flags = exp.finetune_flags(train_limit=train_limit, epochs=1) + [
        f"--max_steps={args.steps}"]
    if ranks == 1:
      flags = [f for f in flags if not f.startswith("--threads=")] + [
          "--threads=0"]
    try:
      with network(exp, net) as (env, net_flags, setup):
        shaping[net] = setup
        if ranks > 1 and args.calibrate == "true":
          calibrations[net] = calibrate(exp, net, ranks, env, net_flags)
        for k in ks:
          rec = exp.run_train(
              f"{net}_k{k}",
              flags + net_flags + [f"--policy={common.static_policy(k)}"],
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
  for net, cal in calibrations.items():
    # The fit of the operation the network's runs used, for the tables.
    mode = next((r["comm_mode"] for r in rows if r["network"] == net), "")
    cal.update(trainer_fit(cal, mode))
  return exp.write_results({
      "rows": rows, "skipped": skipped, "calibrations": calibrations,
      "shaping": shaping,
      "networks": {n: {"ranks": NETWORKS[n]["ranks"],
                       "env": NETWORKS[n].get("env", {}),
                       "tc_rate": NETWORKS[n].get("tc", (None,))[0],
                       "cluster_rate": NETWORKS[n].get("cluster_rate")}
                   for n in nets},
      "cluster_name": args.cluster_name,
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
    if c.get("beta_ns_per_byte"):
      print(f"calibration {net} ({c.get('operation', 'allreduce')}): alpha "
            f"{c['alpha_us']:.1f} us, beta {c['beta_ns_per_byte']:.3f} "
            f"ns/byte = {c['gbit_s']:.2f} Gbit/s, R^2 {c['r2']}")
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
      ("calibrate",) if args.calibrate == "true" else ()) + (
          ("cluster",) if any("cluster_rate" in NETWORKS.get(n, {})
                              for n in args.networks.split(",")) else ())
  return common.main(args, run, report, binaries)


if __name__ == "__main__":
  sys.exit(main())
