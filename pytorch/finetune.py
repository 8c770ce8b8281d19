#!/usr/bin/python3
"""The study's PyTorch stack as a freezing_torch user: DDP over gloo,
torchvision resnet18, SGD, crop + flip, with our policies and our trace.

  bazel run //pytorch:finetune -- --ranks=2 --policy=gradnorm --out=DIR \
      [--data=fashion_mnist --classes=5,6,7,8,9 --train_limit=N --epochs=E \
       --batch_size=B --max_steps=S --init=DIR_OR_FILE ...]

Flags as //train takes them (the subset this job has). Writes DIR/trace.pb
(our trace format, through freezing_torch.Recorder), DIR/summary.json (the
fields of train/summary.cc), DIR/config.json (the flags) and DIR/model.pt
(a state_dict, loadable by --init).

The model: torchvision's resnet18 (ImageNet stem on 32x32 inputs, num_classes
= the selected classes), its 7 children with parameters as freezable units
(conv1, bn1, layer1, layer2, layer3, layer4, fc), the data of
freezing_torch.study_data. Per step as benchmarks/ddp_baseline.py: batches
assembled in numpy in the main process, SGD(lr, momentum, weight_decay) with
its default for-loop update, zero_grad(set_to_none=True); with one rank the
model is not wrapped in DDP. Evaluation each epoch on the test split, shared
across ranks, with rank 0's BatchNorm buffers (as train/ does).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data", default="fashion_mnist",
                 help="fashion_mnist | synthetic")
  p.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist")
  p.add_argument("--classes", default="",
                 help="comma-separated classes, relabelled 0..k-1 in order")
  p.add_argument("--train_limit", type=int, default=0)
  p.add_argument("--test_limit", type=int, default=0)
  p.add_argument("--augment", default="true", choices=["true", "false"])
  p.add_argument("--epochs", type=int, default=1)
  p.add_argument("--batch_size", type=int, default=64, help="per rank")
  p.add_argument("--max_steps", type=int, default=0)
  p.add_argument("--lr", type=float, default=0.1)
  p.add_argument("--momentum", type=float, default=0.9)
  p.add_argument("--weight_decay", type=float, default=1e-4)
  p.add_argument("--ranks", type=int, default=1)
  p.add_argument("--threads", type=int, default=0,
                 help="torch threads per rank (0: cores / ranks)")
  p.add_argument("--init", default="",
                 help="initial weights: a state_dict file or a folder with "
                 "model.pt")
  p.add_argument("--init_exclude", default="",
                 help="comma-separated tensor name prefixes not loaded")
  p.add_argument("--policy", default="none")
  p.add_argument("--vote_rule", default="global")
  p.add_argument("--stats_interval", type=int, default=20)
  p.add_argument("--stats_window", type=int, default=4)
  p.add_argument("--seed", type=int, default=1)
  p.add_argument("--bucket_cap_mb", type=float, default=25.0)
  p.add_argument("--profile_repeats", type=int, default=3)
  p.add_argument("--log_every", type=int, default=0)
  p.add_argument("--out", default="")
  p.add_argument("--quiet", action="store_true")
  return p.parse_args(argv)


def fail(message):
  print(f"finetune: error: {message}", file=sys.stderr, flush=True)
  return 1


def revision():
  root = os.environ.get("BUILD_WORKSPACE_DIRECTORY", "")
  if not root:
    return "unknown"
  try:
    return subprocess.run(["git", "-C", root, "describe", "--always",
                           "--dirty"], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip() or "unknown"
  except (OSError, subprocess.SubprocessError):
    return "unknown"


def load_init(model, path, exclude):
  import torch
  if os.path.isdir(path):
    path = os.path.join(path, "model.pt")
  try:
    state = torch.load(path, map_location="cpu")
  except (OSError, RuntimeError) as e:
    raise ValueError(f"--init={path}: {e}") from None
  if not isinstance(state, dict):
    raise ValueError(f"--init={path}: not a state_dict")
  keep = {k: v for k, v in state.items()
          if not any(k.startswith(x) for x in exclude)}
  own = {k: v for k, v in model.state_dict().items()
         if not any(k.startswith(x) for x in exclude)}
  for k, v in own.items():
    if k not in keep:
      raise ValueError(f"--init={path}: tensor {k} is missing")
    if tuple(keep[k].shape) != tuple(v.shape):
      raise ValueError(f"--init={path}: tensor {k} has shape "
                       f"{tuple(keep[k].shape)}, the model {tuple(v.shape)}")
  for k in keep:
    if k not in own:
      raise ValueError(f"--init={path}: the model has no tensor {k}")
  model.load_state_dict(keep, strict=False)


def evaluate(model, test, rank, ranks, batch_size, group):
  import torch
  import torch.distributed as dist
  from freezing_torch import study_data
  if ranks > 1:
    for b in model.buffers():
      dist.broadcast(b, 0, group=group)
  sums = torch.zeros(3, dtype=torch.float64)
  was = model.training
  model.eval()
  with torch.no_grad():
    for x, y in study_data.test_batches(test[0], test[1], rank, ranks,
                                        max(batch_size, 128)):
      x, y = torch.from_numpy(x), torch.from_numpy(y)
      logits = model(x)
      sums[0] += (logits.argmax(1) == y).sum().item()
      sums[1] += torch.nn.functional.cross_entropy(
          logits, y, reduction="sum").item()
      sums[2] += len(y)
  model.train(was)
  if ranks > 1:
    dist.all_reduce(sums, group=group)
  if sums[2] <= 0:
    return 0.0, 0.0
  return (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()


def run_rank(rank, args, store_path):
  """One rank; returns an exit status (errors printed by rank 0)."""
  import torch
  import torch.distributed as dist
  import torchvision
  import freezing_torch
  from freezing_torch import study_data

  torch.set_num_threads(args.threads)
  try:
    torch.set_num_interop_threads(1)
  except RuntimeError:
    pass
  group = None
  if args.ranks > 1:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    store = dist.FileStore(store_path, args.ranks)
    dist.init_process_group("gloo", store=store, rank=rank,
                            world_size=args.ranks)
  log = (lambda line: print(line, flush=True)) if (
      rank == 0 and not args.quiet) else None
  try:
    classes = [int(c) for c in args.classes.split(",") if c]
    tr_x, tr_y, te_x, te_y, num_classes = study_data.load(
        args.data, args.data_dir, classes, args.train_limit, args.test_limit,
        args.seed)
    batches = study_data.BatchMaker(tr_x, tr_y, rank, args.ranks,
                                    args.batch_size, args.seed,
                                    augment=args.augment == "true")
    torch.manual_seed(args.seed)
    model = torchvision.models.resnet18(num_classes=num_classes)
    if args.init:
      load_init(model, args.init,
                [x for x in args.init_exclude.split(",") if x])
    model.train()
    ddp = None
    if args.ranks > 1:
      # DDP broadcasts rank 0's parameters and buffers at construction.
      ddp = torch.nn.parallel.DistributedDataParallel(
          model, bucket_cap_mb=args.bucket_cap_mb)
      group = ddp.process_group
    opt = torch.optim.SGD(model.parameters(), lr=args.lr,
                          momentum=args.momentum,
                          weight_decay=args.weight_decay, foreach=False)
    config = {
        "model": "resnet18", "stem": "imagenet", "in_channels": 3,
        "init": args.init, "data": args.data, "classes": classes,
        "train_limit": args.train_limit, "test_limit": args.test_limit,
        "train_samples": int(tr_x.shape[0]),
        "test_samples": int(te_x.shape[0]), "partition": "iid",
        "shard_sizes": [len(tr_x[r::args.ranks]) for r in range(args.ranks)],
        "augment": args.augment == "true", "batch_size": args.batch_size,
        "seed": args.seed, "out": os.path.abspath(args.out)}
    rec = freezing_torch.Recorder(
        model, optimizer=opt, ddp=ddp, out=args.out, policy=args.policy,
        vote_rule=args.vote_rule, stats_interval=args.stats_interval,
        stats_window=args.stats_window,
        steps_per_epoch=batches.steps_per_epoch, epochs=args.epochs,
        max_steps=args.max_steps, profile_repeats=args.profile_repeats,
        model_name="resnet18", config=config, revision=revision(), log=log)
  except ValueError as e:
    message = str(e)
    if "policy spec" in message:
      message = f"--policy={args.policy}: {message}"
    if rank == 0:
      fail(message)
    return 1
  except OSError as e:
    if rank == 0:
      fail(str(e))
    return 1
  if log:
    log(f"training resnet18 on {args.data} ({tr_x.shape[0]} train / "
        f"{te_x.shape[0]} test samples, {num_classes} classes), {args.ranks} "
        f"rank(s) x {args.threads} thread(s), batch {args.batch_size} per "
        f"rank, {batches.steps_per_epoch} steps per epoch, policy "
        f"{args.policy}")
  every = args.log_every or max(1, batches.steps_per_epoch // 4)
  for epoch in range(args.epochs):
    if rec.done:
      break
    tensors = ((torch.from_numpy(x), torch.from_numpy(y))
               for x, y in batches.epoch())
    for x, y in rec.batches(tensors):
      loss = torch.nn.functional.cross_entropy(rec.net(x), y)
      rec.backward(loss)
      loss_mean = rec.step()
      s = rec.global_step - epoch * batches.steps_per_epoch
      if log and s % every == 0:
        log(f"epoch {epoch + 1}/{args.epochs} step {s}/"
            f"{batches.steps_per_epoch} loss {loss_mean:.4f}")
    t0 = time.perf_counter_ns()
    acc, test_loss = evaluate(model, (te_x, te_y), rank, args.ranks,
                              args.batch_size, group)
    rec.end_epoch(test_accuracy=acc, test_loss=test_loss,
                  eval_ns=time.perf_counter_ns() - t0)
    if log:
      log(f"epoch {epoch + 1}/{args.epochs}: test accuracy {acc:.4f}, test "
          f"loss {test_loss:.4f}")
  rec.close()
  if rank == 0:
    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
      json.dump(vars(args), f, indent=1, sort_keys=True)
    if log:
      s = rec.summary
      log(f"total training time {s.phases['total'] * 1e-9:.2f} s (start-up "
          f"{s.startup_ns * 1e-9:.2f} s, evaluation {s.eval_ns * 1e-9:.2f} s,"
          f" DDP re-wraps {s.freeze_apply_ns * 1e-9:.2f} s); final test "
          f"accuracy {acc:.4f}; {args.out}/summary.json, trace.pb")
  if args.ranks > 1:
    dist.barrier()
    dist.destroy_process_group()
  return 0


def _spawned(rank, args, store_path):
  status = run_rank(rank, args, store_path)
  if status:
    sys.exit(status)


def main(argv=None):
  args = parse_args(argv)
  if not args.out:
    return fail("--out=DIR is required")
  if args.ranks < 1:
    return fail("--ranks must be >= 1")
  cwd = os.environ.get("BUILD_WORKING_DIRECTORY", "")
  if cwd and not os.path.isabs(args.out):
    args.out = os.path.join(cwd, args.out)
  if cwd and args.init and not os.path.isabs(args.init):
    args.init = os.path.join(cwd, args.init)
  if args.threads <= 0:
    args.threads = max(1, len(os.sched_getaffinity(0)) // args.ranks)
  with tempfile.TemporaryDirectory(prefix="finetune.") as tmp:
    store_path = os.path.join(tmp, "store")
    if args.ranks == 1:
      return run_rank(0, args, store_path)
    import torch.multiprocessing as mp
    try:
      mp.start_processes(_spawned, args=(args, store_path), nprocs=args.ranks,
                         join=True, start_method="spawn")
    except mp.ProcessExitedException:
      return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
