"""The study's PyTorch stack: one code path for //pytorch:finetune and
benchmarks/ddp_baseline.py.

PyTorch DDP over gloo on localhost (torch.multiprocessing spawn), torchvision
resnet18 (ImageNet stem) or torchvision's VisionTransformer with our ViTs'
shapes (VITS: vit_mini, vit_tiny, vit_b_16 at --image_size with
--patch_size), the data of study_data.py, SGD(lr, momentum, weight_decay)
with zero_grad(set_to_none=True), cross-entropy. One training loop
(train_loop) drives one of two steppers:

- PlainStepper, the recorder off ("PyTorch at its defaults", what
  benchmarks/ddp_baseline.py and `finetune --record=false` run): no
  freezing_torch at all. Static freezing of the first K child groups
  (--frozen=K): requires_grad False before wrapping in DDP, BatchNorm of the
  frozen groups in eval mode (--frozen_bn_eval), the optimizer on the
  trainable parameters only, DDP on the trainable parameters. Autograd
  records nothing for a frozen prefix whose input needs no gradient, so
  backward stops at the first trainable group by itself. Per step rank 0's
  clocks, as the trainer records rank 0's: data (batch assembly), forward
  (model + loss + loss.item()), backward (loss.backward(); with DDP it
  includes the all-reduce it could not hide), optimizer (step + zero_grad),
  total; medians after --warmup; the JSON of timing_json (the keys
  benchmarks/compare_pytorch.py reads).
- freezing_torch.Recorder, the recorder on (`finetune`, the default): our
  policies and our trace (pytorch/README.md).

Plain numpy and torch at import: freezing_torch (and its C++ extension) is
imported only with the recorder on, so ddp_baseline.py runs from the
checkout without a build.
"""

import datetime
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time

import study_data

# The study's 7 freezable groups of torchvision's resnet18, in forward order.
CHILD_GROUPS = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
# The ViTs of //train/models/vit.h: (depth, width, heads, MLP width).
VITS = {
    "vit_mini": (6, 128, 4, 512),
    "vit_tiny": (12, 192, 3, 768),
    "vit_b_16": (12, 768, 12, 3072),
}
MODELS = ["resnet18"] + list(VITS)

# What a front end without some of finetune's flags runs with.
DEFAULTS = {
    "data": "fashion_mnist", "test_limit": 0, "augment": "true",
    "epochs": 1, "max_steps": 0, "init": "", "init_exclude": "",
    "record": "false", "policy": "none", "vote_rule": "global",
    "stats_interval": 20, "stats_window": 4, "profile_repeats": 3,
    "log_every": 0, "out_dir": "", "evaluate": True, "stream": False,
    "prog": "study_stack",
}


def add_flags(p, classes=""):
  """The flags both front ends take: names, defaults and meanings of
  benchmarks/ddp_baseline.py (--classes' default is the front end's)."""
  p.add_argument("--data_dir", default=study_data.DEFAULT_DATA_DIR)
  p.add_argument("--model", default="resnet18", choices=MODELS)
  p.add_argument("--image_size", type=int, default=32,
                 help="side of the model's input (the 28x28 images centred)")
  p.add_argument("--patch_size", type=int, default=0,
                 help="ViTs: 0 = 4 below 224 pixels, 16 from 224 on (as "
                 "//train)")
  p.add_argument("--classes", default=classes,
                 help="comma-separated classes, relabelled 0..k-1 in order")
  p.add_argument("--train_limit", type=int, default=0,
                 help="first N training samples after class selection")
  p.add_argument("--batch_size", type=int, default=64, help="per rank")
  p.add_argument("--ranks", type=int, default=1)
  p.add_argument("--threads", type=int, default=0,
                 help="torch threads per rank (0: cores / ranks)")
  p.add_argument("--frozen", type=int, default=0,
                 help="K: the first K child groups are frozen (ResNet: 7 "
                 "groups, ViT: depth + 2); with the recorder off")
  p.add_argument("--warmup", type=int, default=5,
                 help="steps not measured (the per-step clocks' medians)")
  p.add_argument("--lr", type=float, default=0.1)
  p.add_argument("--momentum", type=float, default=0.9)
  p.add_argument("--weight_decay", type=float, default=1e-4)
  p.add_argument("--seed", type=int, default=1)
  p.add_argument("--frozen_bn_eval", default="true", choices=["true", "false"],
                 help="BatchNorm of frozen groups in eval mode")
  p.add_argument("--foreach", default="false", choices=["true", "false"],
                 help="torch.optim.SGD(foreach=...)")
  p.add_argument("--ddp_single", default="false", choices=["true", "false"],
                 help="wrap in DDP also with one process")
  p.add_argument("--bucket_cap_mb", type=float, default=25.0,
                 help="DDP bucket_cap_mb (PyTorch's default 25)")
  p.add_argument("--grad_as_bucket_view", default="false",
                 choices=["true", "false"],
                 help="DDP gradient_as_bucket_view (PyTorch's default: "
                 "false, gradients copied into the buckets)")
  p.add_argument("--flush_denormal", default="false",
                 choices=["true", "false"],
                 help="torch.set_flush_denormal (off in PyTorch and libtorch)")
  p.add_argument("--quiet", action="store_true")


def complete(args):
  """Fills in what this front end has no flag for (DEFAULTS)."""
  for k, v in DEFAULTS.items():
    if not hasattr(args, k):
      setattr(args, k, v)
  return args


def check_args(args):
  """A message for bad flags, or None; sets the ViTs' default patch and
  the threads (cores / ranks) when 0."""
  groups = child_groups(args.model)
  if args.frozen < 0 or args.frozen >= len(groups):
    return (f"--frozen must be 0..{len(groups) - 1} for {args.model} (the "
            "classifier is never frozen)")
  if args.model in VITS:
    args.patch_size = args.patch_size or (4 if args.image_size < 224 else 16)
    if args.image_size % args.patch_size != 0:
      return (f"--patch_size={args.patch_size} does not divide "
              f"--image_size={args.image_size}")
  elif args.image_size != 32 or args.patch_size:
    return ("--image_size and --patch_size are for the ViTs (resnet18 runs "
            "at 32x32)")
  if args.ranks < 1 or args.warmup < 0:
    return "--ranks must be >= 1, --warmup >= 0"
  if args.record == "true" and args.frozen:
    return ("--frozen is for --record=false; with the recorder, "
            f"--policy=static:{args.frozen}")
  if args.record == "true" and args.model != "resnet18":
    return (f"--model={args.model} needs --record=false (the recorder's "
            "units are modules; torchvision's ViT keeps class_token on the "
            "model itself)")
  if args.record == "false" and args.policy != "none":
    return f"--policy={args.policy} needs the recorder (--record=true)"
  if args.threads <= 0:
    args.threads = max(1, len(os.sched_getaffinity(0)) // args.ranks)
  return None


# ---------------------------------------------------------------------------
# The model and its child groups.


def child_groups(model_name):
  """The model's child groups (our --freeze_unit=child units), in order."""
  if model_name in VITS:
    depth = VITS[model_name][0]
    return (["embedding"] + [f"encoder_layer_{i}" for i in range(depth)] +
            ["head"])
  return CHILD_GROUPS


def group_members(model, model_name, group):
  """The modules and parameters of one child group of `model`:
  (modules to put in eval mode, parameters to freeze)."""
  if model_name not in VITS:
    module = getattr(model, group)
    return [module], list(module.parameters())
  if group == "embedding":
    return ([model.conv_proj], list(model.conv_proj.parameters()) +
            [model.class_token, model.encoder.pos_embedding])
  if group == "head":
    modules = [model.encoder.ln, model.heads]
  else:
    modules = [getattr(model.encoder.layers, group)]
  return modules, [p for m in modules for p in m.parameters()]


def build_model(args, num_classes):
  import torchvision
  if args.model in VITS:
    from torchvision.models.vision_transformer import VisionTransformer
    depth, width, heads, mlp = VITS[args.model]
    return VisionTransformer(image_size=args.image_size,
                             patch_size=args.patch_size, num_layers=depth,
                             num_heads=heads, hidden_dim=width, mlp_dim=mlp,
                             num_classes=num_classes)
  return torchvision.models.resnet18(num_classes=num_classes)


def freeze_groups(model, args):
  """Freezes the first --frozen child groups: requires_grad False. Returns
  the frozen groups' (modules, parameters)."""
  frozen = [group_members(model, args.model, name)
            for name in child_groups(args.model)[:args.frozen]]
  for _, params in frozen:
    for p in params:
      p.requires_grad_(False)
  return frozen


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


# ---------------------------------------------------------------------------
# The recorder off: PyTorch at its defaults, with per-step clocks.


def median(xs):
  return statistics.median(xs) if xs else 0.0


class PlainStepper:
  """What the loop calls with the recorder off; the Recorder's interface
  (batches, net, backward, step, done, end_epoch, close)."""

  def __init__(self, model, net, opt, frozen, args):
    self.model, self.net, self.opt = model, net, opt
    self.frozen = frozen
    self.bn_eval = args.frozen_bn_eval == "true"
    self.max_steps = args.max_steps
    self.rows = []
    self.global_step = 0
    self.restore_modes()

  def restore_modes(self):
    """BatchNorm (and every module) of the frozen groups in eval mode."""
    if self.bn_eval:
      for modules, _ in self.frozen:
        for m in modules:
          m.eval()

  @property
  def done(self):
    return 0 < self.max_steps <= self.global_step

  def batches(self, tensors):
    it = iter(tensors)
    while not self.done:
      self._t0 = time.perf_counter()
      try:
        x, y = next(it)
      except StopIteration:
        return
      self._t1 = time.perf_counter()
      yield x, y

  def backward(self, loss):
    self._loss = loss.item()
    self._t2 = time.perf_counter()
    loss.backward()
    self._t3 = time.perf_counter()

  def step(self):
    self.opt.step()
    self.opt.zero_grad(set_to_none=True)
    t4 = time.perf_counter()
    self.rows.append({
        "step": self.global_step,
        "data_s": self._t1 - self._t0,
        "forward_s": self._t2 - self._t1,
        "backward_s": self._t3 - self._t2,
        "optimizer_s": t4 - self._t3,
        "total_s": t4 - self._t0,
        "loss": self._loss,
    })
    self.global_step += 1
    return self._loss

  def end_epoch(self, **kwargs):
    self.restore_modes()  # evaluate() ends with model.train()

  def close(self):
    pass

  def result(self, rank, args):
    """This rank's steps and medians after --warmup."""
    import torch
    import torchvision
    measured = self.rows[args.warmup:]
    keys = ("data_s", "forward_s", "backward_s", "optimizer_s", "total_s")
    return {
        "rank": rank,
        "steps": self.rows,
        "median_s": {k: median([r[k] for r in measured]) for k in keys},
        "mean_total_s": (sum(r["total_s"] for r in measured) / len(measured)
                         if measured else 0.0),
        "trainable_params": sum(p.numel() for p in self.model.parameters()
                                if p.requires_grad),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "torch_threads": torch.get_num_threads(),
        "ddp": self.net is not self.model,
    }


def make_plain(model, args, use_ddp):
  import torch
  frozen = freeze_groups(model, args)
  model.train()
  if use_ddp:
    # DDP broadcasts rank 0's parameters and buffers at construction and
    # buckets only the parameters that require grad.
    net = torch.nn.parallel.DistributedDataParallel(
        model, bucket_cap_mb=args.bucket_cap_mb,
        gradient_as_bucket_view=args.grad_as_bucket_view == "true")
  else:
    net = model
  trainable = [p for p in model.parameters() if p.requires_grad]
  opt = torch.optim.SGD(trainable, lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay,
                        foreach=args.foreach == "true")
  return PlainStepper(model, net, opt, frozen, args)


# ---------------------------------------------------------------------------
# The recorder on: freezing_torch.Recorder, our policies and trace.


def make_recorded(model, args, use_ddp, data, steps_per_epoch, log):
  import torch
  import freezing_torch
  model.train()
  ddp = None
  if use_ddp:
    # DDP broadcasts rank 0's parameters and buffers at construction.
    ddp = torch.nn.parallel.DistributedDataParallel(
        model, bucket_cap_mb=args.bucket_cap_mb,
        gradient_as_bucket_view=args.grad_as_bucket_view == "true")
  opt = torch.optim.SGD(model.parameters(), lr=args.lr,
                        momentum=args.momentum,
                        weight_decay=args.weight_decay,
                        foreach=args.foreach == "true")
  tr_x, te_x = data[0], data[2]
  classes = [int(c) for c in args.classes.split(",") if c]
  config = {
      "model": args.model, "stem": "imagenet", "in_channels": 3,
      "init": args.init, "data": args.data, "classes": classes,
      "train_limit": args.train_limit, "test_limit": args.test_limit,
      "train_samples": int(tr_x.shape[0]),
      "test_samples": int(te_x.shape[0]), "partition": "iid",
      "shard_sizes": [len(tr_x[r::args.ranks]) for r in range(args.ranks)],
      "augment": args.augment == "true", "batch_size": args.batch_size,
      "seed": args.seed, "out": os.path.abspath(args.out_dir)}
  return freezing_torch.Recorder(
      model, optimizer=opt, ddp=ddp, out=args.out_dir, policy=args.policy,
      vote_rule=args.vote_rule, stats_interval=args.stats_interval,
      stats_window=args.stats_window, steps_per_epoch=steps_per_epoch,
      epochs=args.epochs, max_steps=args.max_steps,
      profile_repeats=args.profile_repeats, model_name=args.model,
      config=config, revision=args.revision, log=log)


# ---------------------------------------------------------------------------
# One rank.


def evaluate(model, test, rank, ranks, batch_size, group):
  """Test accuracy and loss over all ranks, with rank 0's BatchNorm
  buffers (as train/ does)."""
  import torch
  import torch.distributed as dist
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


def setup_rank(rank, args, store_path):
  """Threads and, when DDP is used, the gloo process group. Returns
  whether the model is wrapped in DDP."""
  import torch
  import torch.distributed as dist
  torch.set_num_threads(args.threads)
  if args.flush_denormal == "true":
    torch.set_flush_denormal(True)
  try:
    torch.set_num_interop_threads(1)
  except RuntimeError:
    pass
  use_ddp = args.ranks > 1 or args.ddp_single == "true"
  if use_ddp:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    store = dist.FileStore(store_path, args.ranks)
    dist.init_process_group("gloo", store=store, rank=rank,
                            world_size=args.ranks)
  return use_ddp


def build(rank, args, use_ddp, log):
  """Data, batches, model and stepper; ValueError / OSError on bad input."""
  import torch
  classes = [int(c) for c in args.classes.split(",") if c]
  data = study_data.load(args.data, args.data_dir, classes, args.train_limit,
                         args.test_limit, args.seed, size=args.image_size,
                         test=args.evaluate)
  batches = study_data.BatchMaker(data[0], data[1], rank, args.ranks,
                                  args.batch_size, args.seed,
                                  augment=args.augment == "true")
  torch.manual_seed(args.seed)
  model = build_model(args, data[4])
  if args.init:
    load_init(model, args.init,
              [x for x in args.init_exclude.split(",") if x])
  if args.record == "true":
    stepper = make_recorded(model, args, use_ddp, data,
                            batches.steps_per_epoch, log)
  else:
    stepper = make_plain(model, args, use_ddp)
  return data, batches, model, stepper


def epoch_source(batches, args):
  """One epoch's numpy batches: a fresh shuffle of steps_per_epoch batches,
  or with `stream` (ddp_baseline) batches until the stepper is done,
  reshuffling when the shard is used up."""
  if args.stream:
    return iter(batches.next, None)
  return batches.epoch()


def train_loop(rank, args, data, batches, model, stepper, log):
  """The training loop of both front ends. Returns the last test accuracy
  (0 without evaluation)."""
  import torch
  net = getattr(stepper, "net", None)
  group = getattr(net, "process_group", None)
  spe = batches.steps_per_epoch
  every = args.log_every or (10 if args.stream else max(1, spe // 4))
  acc = 0.0
  for epoch in range(args.epochs):
    if stepper.done:
      break
    tensors = ((torch.from_numpy(x), torch.from_numpy(y))
               for x, y in epoch_source(batches, args))
    for x, y in stepper.batches(tensors):
      loss = torch.nn.functional.cross_entropy(stepper.net(x), y)
      stepper.backward(loss)
      loss_mean = stepper.step()
      s = stepper.global_step - (0 if args.stream else epoch * spe)
      if log and s % every == 0:
        log(f"epoch {epoch + 1}/{args.epochs} step {s}/"
            f"{args.max_steps if args.stream else spe} loss "
            f"{loss_mean:.4f}")
    if not args.evaluate:
      continue
    t0 = time.perf_counter_ns()
    acc, test_loss = evaluate(model, (data[2], data[3]), rank, args.ranks,
                              args.batch_size, group)
    stepper.end_epoch(test_accuracy=acc, test_loss=test_loss,
                      eval_ns=time.perf_counter_ns() - t0)
    if log:
      log(f"epoch {epoch + 1}/{args.epochs}: test accuracy {acc:.4f}, test "
          f"loss {test_loss:.4f}")
  stepper.close()
  return acc


def fail(args, message):
  print(f"{args.prog}: error: {message}", file=sys.stderr, flush=True)
  return 1


def run_rank(rank, args, store_path, result_path):
  """One rank; returns an exit status (errors printed by rank 0). With the
  recorder off, every rank writes its PlainStepper.result to
  `result_path`."""
  import torch
  import torch.distributed as dist
  use_ddp = setup_rank(rank, args, store_path)
  log = (lambda line: print(f"{args.prog}: {line}", flush=True)) if (
      rank == 0 and not args.quiet) else None
  try:
    data, batches, model, stepper = build(rank, args, use_ddp, log)
  except (ValueError, OSError) as e:
    message = str(e)
    if "policy spec" in message:
      message = f"--policy={args.policy}: {message}"
    if rank == 0:
      fail(args, message)
    return 1
  if log:
    log(f"training {args.model} on {args.data} ({data[0].shape[0]} train / "
        f"{data[2].shape[0]} test samples, {data[4]} classes), {args.ranks} "
        f"rank(s) x {args.threads} thread(s), batch {args.batch_size} per "
        f"rank, {batches.steps_per_epoch} steps per epoch, "
        + (f"policy {args.policy}" if args.record == "true" else
           f"recorder off, {args.frozen} frozen group(s)"))
  acc = train_loop(rank, args, data, batches, model, stepper, log)
  if log and args.record == "true":
    s = stepper.summary
    log(f"total training time {s.phases['total'] * 1e-9:.2f} s (start-up "
        f"{s.startup_ns * 1e-9:.2f} s, evaluation {s.eval_ns * 1e-9:.2f} s,"
        f" DDP re-wraps {s.freeze_apply_ns * 1e-9:.2f} s); final test "
        f"accuracy {acc:.4f}; {args.out_dir}/summary.json, trace.pb")
  if args.record == "false":
    with open(result_path, "w") as f:
      json.dump(dict(stepper.result(rank, args), test_accuracy=acc), f)
  if rank == 0 and args.out_dir:
    torch.save(model.state_dict(), os.path.join(args.out_dir, "model.pt"))
  if use_ddp:
    dist.barrier()
    dist.destroy_process_group()
  return 0


def _spawned(rank, args, store_path, paths):
  status = run_rank(rank, args, store_path, paths[rank])
  if status:
    sys.exit(status)


def launch(args):
  """Runs --ranks ranks (spawned processes when more than one). Returns
  (exit status, the ranks' results: PlainStepper.result with the recorder
  off, [] with it on)."""
  import torch.multiprocessing as mp
  with tempfile.TemporaryDirectory(prefix=f"{args.prog}.") as tmp:
    store_path = os.path.join(tmp, "store")
    paths = [os.path.join(tmp, f"rank{r}.json") for r in range(args.ranks)]
    if args.ranks == 1:
      status = run_rank(0, args, store_path, paths[0])
    else:
      try:
        mp.start_processes(_spawned, args=(args, store_path, paths),
                           nprocs=args.ranks, join=True,
                           start_method="spawn")
        status = 0
      except mp.ProcessExitedException:
        status = 1
    per_rank = []
    if status == 0 and args.record == "false":
      for path in paths:
        with open(path) as f:
          per_rank.append(json.load(f))
  return status, per_rank


# ---------------------------------------------------------------------------
# The recorder-off result: benchmarks/compare_pytorch.py reads these keys.


def timing_json(args, per_rank, wall_s):
  """The per-step clocks of a recorder-off run as one JSON object."""
  r0 = per_rank[0]
  vit = args.model in VITS
  config = {
      "model": (f"{args.model} (torchvision VisionTransformer, "
                f"{args.image_size}x{args.image_size} input, patch "
                f"{args.patch_size})" if vit else
                "resnet18 (torchvision, ImageNet stem, 32x32 input)"),
      "model_name": args.model, "image_size": args.image_size,
      "patch_size": args.patch_size, "classes": args.classes,
      "train_limit": args.train_limit, "batch_size": args.batch_size,
      "ranks": args.ranks, "threads": args.threads, "frozen": args.frozen,
      "frozen_groups": child_groups(args.model)[:args.frozen],
      "steps": args.max_steps - args.warmup if args.stream else len(
          r0["steps"]) - args.warmup,
      "warmup": args.warmup, "lr": args.lr, "momentum": args.momentum,
      "weight_decay": args.weight_decay, "seed": args.seed,
      "frozen_bn_eval": args.frozen_bn_eval == "true",
      "foreach": args.foreach == "true", "ddp": r0["ddp"],
      "bucket_cap_mb": args.bucket_cap_mb,
      "gradient_as_bucket_view": args.grad_as_bucket_view == "true",
  }
  return {
      "stack": "pytorch_ddp_gloo",
      "command": " ".join([sys.executable] + sys.argv),
      "config": config,
      "machine": {
          "hostname": socket.gethostname(),
          "cores": len(os.sched_getaffinity(0)),
          "cpu": platform.processor() or platform.machine(),
          "loadavg_at_end": os.getloadavg(),
      },
      "torch_version": r0["torch_version"],
      "torchvision_version": r0["torchvision_version"],
      "trainable_params": r0["trainable_params"],
      "median_s": r0["median_s"],
      "mean_total_s": r0["mean_total_s"],
      "median_total_s_per_rank": [r["median_s"]["total_s"] for r in per_rank],
      "steps": r0["steps"],
      "wall_s": wall_s,
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
  }


def print_medians(args, result):
  m = result["median_s"]
  print(f"{args.prog}: K={args.frozen} ranks={args.ranks} threads="
        f"{args.threads}: median step {m['total_s'] * 1e3:.1f} ms (data "
        f"{m['data_s'] * 1e3:.1f}, forward {m['forward_s'] * 1e3:.1f}, "
        f"backward {m['backward_s'] * 1e3:.1f}, optimizer "
        f"{m['optimizer_s'] * 1e3:.1f})", flush=True)


def write_json(path, result):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(result, f, indent=1)
