#!/usr/bin/python3
"""The recorder's own cost, side by side (issue 14: <= 3% of the step).

  bazel run //pytorch:overhead -- [--ranks=2 --steps=200 --warmup=10
      --batch_size=64 --stats_interval=20 --stats_window=4 --out=FILE.json]

Per rank, two copies of the study's model (torchvision resnet18, the same
initial weights, SGD 0.1/0.9/1e-4, DDP over gloo): one plain (DDP's default
communication hook, the loop of benchmarks/ddp_baseline.py), one recorded
(freezing_torch.Recorder, policy none: its hooks, clocks, statistics,
interval norms, per-step all-gather and trace writes). Steps alternate
plain, recorded, plain, ... on the same batches (the order flips every
round), each timed as the wall time of the whole loop iteration, the
recorder's bookkeeping included. Reports per configuration the mean and
median step (rank 0's clock, after --warmup rounds) and the overhead
mean(recorded) / mean(plain) - 1; the mean is the figure of merit, since
interval ends cost once every T steps. The start-up profile is not part of
it (once per run; reported separately as the recorder's startup_s).

It measures: run it on a quiet machine. --smoke runs it at a tiny size to
check that it works.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--ranks", type=int, default=2)
  p.add_argument("--threads", type=int, default=0)
  p.add_argument("--steps", type=int, default=200, help="measured rounds")
  p.add_argument("--warmup", type=int, default=10)
  p.add_argument("--batch_size", type=int, default=64)
  p.add_argument("--stats_interval", type=int, default=20)
  p.add_argument("--stats_window", type=int, default=4)
  p.add_argument("--classes", type=int, default=5)
  p.add_argument("--out", default="")
  p.add_argument("--smoke", action="store_true")
  return p.parse_args(argv)


def run_rank(rank, args, tmp, result_path):
  import torch
  import torch.distributed as dist
  import torchvision
  import freezing_torch

  torch.set_num_threads(args.threads)
  if args.ranks > 1:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", store=dist.FileStore(
        os.path.join(tmp, "store"), args.ranks), rank=rank,
                            world_size=args.ranks)

  def make():
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=args.classes)
    ddp = (torch.nn.parallel.DistributedDataParallel(model)
           if args.ranks > 1 else None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                          weight_decay=1e-4, foreach=False)
    return model, ddp, opt

  plain_model, plain_ddp, plain_opt = make()
  plain_net = plain_ddp if plain_ddp is not None else plain_model
  model, ddp, opt = make()
  rounds = args.warmup + args.steps + 1  # + the step that profiles
  rec = freezing_torch.Recorder(
      model, optimizer=opt, ddp=ddp, out=os.path.join(tmp, "rec"),
      policy="none", stats_interval=args.stats_interval,
      stats_window=args.stats_window, steps_per_epoch=rounds, epochs=1,
      profile_repeats=1, summary=False)
  g = torch.Generator().manual_seed(rank)
  data = [(torch.randn(args.batch_size, 3, 32, 32, generator=g),
           torch.randint(0, args.classes, (args.batch_size,), generator=g))
          for _ in range(8)]
  batch = {}

  def source():
    while True:
      yield batch["x"], batch["y"]

  it = rec.batches(source())
  loss_fn = torch.nn.CrossEntropyLoss()

  def plain_step():
    t0 = time.perf_counter_ns()
    x, y = batch["x"], batch["y"]
    loss = loss_fn(plain_net(x), y)
    loss.item()
    loss.backward()
    plain_opt.step()
    plain_opt.zero_grad(set_to_none=True)
    return time.perf_counter_ns() - t0

  def recorded_step():
    t0 = time.perf_counter_ns()
    x, y = next(it)
    loss = loss_fn(rec.net(x), y)
    rec.backward(loss)
    rec.step()
    return time.perf_counter_ns() - t0

  plain, recorded = [], []
  batch["x"], batch["y"] = data[0]
  next(it)  # the start-up profile, outside the measurement
  rec.backward(loss_fn(rec.net(batch["x"]), batch["y"]))
  rec.step()
  for r in range(rounds - 1):
    batch["x"], batch["y"] = data[r % len(data)]
    if r % 2 == 0:
      a, b = plain_step(), recorded_step()
    else:
      b, a = recorded_step(), plain_step()
    if r >= args.warmup:
      plain.append(a)
      recorded.append(b)
  startup_s = rec.summary.startup_ns * 1e-9
  rec.close()
  if rank == 0:
    with open(result_path, "w") as f:
      json.dump({"plain_ns": plain, "recorded_ns": recorded,
                 "startup_s": startup_s}, f)
  if args.ranks > 1:
    dist.barrier()
    dist.destroy_process_group()


def _spawned(rank, args, tmp, result_path):
  run_rank(rank, args, tmp, result_path)


def main(argv=None):
  args = parse_args(argv)
  if args.smoke:
    args.steps, args.warmup, args.batch_size = 6, 1, 8
    args.stats_interval, args.stats_window = 2, 2
  if args.threads <= 0:
    args.threads = max(1, len(os.sched_getaffinity(0)) // args.ranks)
  with tempfile.TemporaryDirectory(prefix="overhead.") as tmp:
    result_path = os.path.join(tmp, "result.json")
    if args.ranks == 1:
      run_rank(0, args, tmp, result_path)
    else:
      import torch.multiprocessing as mp
      mp.start_processes(_spawned, args=(args, tmp, result_path),
                         nprocs=args.ranks, start_method="spawn")
    with open(result_path) as f:
      r = json.load(f)
  plain, recorded = r["plain_ns"], r["recorded_ns"]
  mean_p, mean_r = statistics.mean(plain), statistics.mean(recorded)
  result = {
      "command": " ".join(sys.argv), "args": vars(args),
      "plain_mean_ms": mean_p * 1e-6, "recorded_mean_ms": mean_r * 1e-6,
      "plain_median_ms": statistics.median(plain) * 1e-6,
      "recorded_median_ms": statistics.median(recorded) * 1e-6,
      "overhead_of_means": mean_r / mean_p - 1,
      "recorder_startup_s": r["startup_s"], "steps": len(plain),
      "loadavg_at_end": os.getloadavg(),
      "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
  print(f"plain    {result['plain_mean_ms']:.1f} ms mean, "
        f"{result['plain_median_ms']:.1f} ms median")
  print(f"recorded {result['recorded_mean_ms']:.1f} ms mean, "
        f"{result['recorded_median_ms']:.1f} ms median")
  print(f"overhead {result['overhead_of_means'] * 100:+.2f}% (means, "
        f"{len(plain)} steps, T={args.stats_interval}); start-up profile "
        f"{r['startup_s']:.1f} s once")
  if args.out:
    cwd = os.environ.get("BUILD_WORKING_DIRECTORY", "")
    out = args.out if os.path.isabs(args.out) or not cwd else os.path.join(
        cwd, args.out)
    with open(out, "w") as f:
      json.dump(result, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
