#!/usr/bin/python3
"""The study's own stack: PyTorch DDP over gloo, torchvision resnet18 or ViT.

The baseline our trainer (//train) is compared with, side by side, by
benchmarks/compare_pytorch.py. Same model (--model: torchvision resnet18,
ImageNet stem; or torchvision's VisionTransformer with our ViTs' shapes:
vit_mini, vit_tiny, vit_b_16 at --image_size with --patch_size; num_classes =
number of selected classes), same data (Fashion-MNIST IDX .gz, class subset
and limits, centred on a black --image_size canvas (32x32 by default),
repeated to 3 channels, normalised with mean 0.2860 / std 0.3530, random crop
of the image size with padding 4 + horizontal flip), same batch per rank, same
threads per rank, same optimizer (SGD lr 0.1, momentum 0.9, weight decay
1e-4) and the same K frozen child groups (ResNet: conv1, bn1, layer1, layer2,
layer3, layer4, fc; ViT: embedding (conv_proj, class_token,
encoder.pos_embedding), encoder_layer_0 .. encoder_layer_{depth-1}, head
(encoder.ln, heads)).

What the study's stack does, and the choices made here (docs/PERFORMANCE.md):
- Frozen groups: requires_grad False before wrapping in DDP; their BatchNorm
  in eval mode (running statistics used, not updated: the same semantics as
  our trainer). Autograd records nothing for a frozen prefix whose input needs
  no gradient, so backward stops at the first trainable group by itself (no
  explicit no_grad needed). DDP only buckets parameters that require grad;
  the optimizer gets only trainable parameters.
- Not crippled: batches are augmented vectorised in numpy in the main process
  (one gather + crop + flip per batch, no per-sample PIL transforms, no
  DataLoader workers that would compete with the 2 cores);
  zero_grad(set_to_none=True); torch.optim.SGD's default for-loop update
  (--foreach=true measured slower here: optimizer 10.4-13.1 ms vs 7.5 ms);
  with one process the model is not wrapped in DDP (--ddp_single=true wraps
  it: measured 4-7% slower steps, 106.7-108.3 ms vs 100.7-102.5 ms, so the
  default is the faster plain model). See docs/PERFORMANCE.md.
- Timing per step (rank 0's clocks, as the trainer records rank 0's):
  data (batch assembly), forward (model + loss + loss.item()), backward
  (loss.backward(); with DDP it includes the all-reduce it could not hide:
  DDP waits for the last bucket before backward returns), optimizer (step +
  zero_grad), total (wall time of the whole step). Medians over the steps
  after --warmup.

Run with Debian's python (the python3 on PATH may lack torch):
  /usr/bin/python3 benchmarks/ddp_baseline.py --ranks=2 --threads=1 \
      --frozen=2 --steps=30 --warmup=5 --out=/tmp/ddp.json
"""

import argparse
import datetime
import gzip
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time

import numpy as np

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
# Fashion-MNIST's normalisation, as train/data/fashion_mnist.cc.
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530
# The study's 7 freezable groups, in forward order.
CHILD_GROUPS = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
# The ViTs of //train/models/vit.h: (depth, width, heads, MLP width).
VITS = {
    "vit_mini": (6, 128, 4, 512),
    "vit_tiny": (12, 192, 3, 768),
    "vit_b_16": (12, 768, 12, 3072),
}


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


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data_dir", default=DEFAULT_DATA_DIR)
  p.add_argument("--model", default="resnet18",
                 choices=["resnet18"] + list(VITS))
  p.add_argument("--image_size", type=int, default=32,
                 help="side of the model's input (the 28x28 images centred)")
  p.add_argument("--patch_size", type=int, default=0,
                 help="ViTs: 0 = 4 below 224 pixels, 16 from 224 on (as "
                 "//train)")
  p.add_argument("--classes", default="5,6,7,8,9",
                 help="comma-separated classes, relabelled 0..k-1 in order")
  p.add_argument("--train_limit", type=int, default=0,
                 help="first N training samples after class selection")
  p.add_argument("--batch_size", type=int, default=64, help="per rank")
  p.add_argument("--ranks", type=int, default=1)
  p.add_argument("--threads", type=int, default=0,
                 help="torch threads per rank (0: cores / ranks)")
  p.add_argument("--frozen", type=int, default=0,
                 help="K: the first K child groups are frozen (ResNet: 7 "
                 "groups, ViT: depth + 2)")
  p.add_argument("--steps", type=int, default=30, help="measured steps")
  p.add_argument("--warmup", type=int, default=5, help="steps not measured")
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
  p.add_argument("--out", default="", help="JSON output file")
  p.add_argument("--quiet", action="store_true")
  return p.parse_args(argv)


# ---------------------------------------------------------------------------
# Data: Fashion-MNIST IDX .gz, read with numpy.


def read_idx(path):
  try:
    with gzip.open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    sys.exit(f"error: {path} is missing (apt-get install dataset-fashion-mnist)")
  magic = int.from_bytes(data[0:4], "big")
  ndim = magic & 0xFF
  if (magic >> 8) != 0x08 or ndim not in (1, 3):
    sys.exit(f"error: {path}: not an IDX file of unsigned bytes")
  dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
  arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
  return arr.reshape(dims)


def load_train(data_dir, classes, limit, size=32):
  images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
  labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
  if classes:
    keep = np.isin(labels, classes)
    images, labels = images[keep], labels[keep]
    remap = np.zeros(256, dtype=np.int64)
    for i, c in enumerate(classes):
      remap[c] = i
    labels = remap[labels]
  else:
    labels = labels.astype(np.int64)
  if limit > 0:
    images, labels = images[:limit], labels[:limit]
  # Padded to size x size (centred, black, as train/data/augment.h) and then
  # by 4 for the random crop: one (size + 8)^2 canvas per image, cropped per
  # batch.
  canvas = np.zeros((images.shape[0], size + 8, size + 8), dtype=np.uint8)
  top = 4 + (size - 28) // 2
  canvas[:, top:top + 28, top:top + 28] = images
  return canvas, labels


class BatchMaker:
  """One rank's batches: IID shard, seeded shuffles, crop + flip, normalise."""

  def __init__(self, canvas, labels, rank, ranks, batch_size, seed):
    n = canvas.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    self.shard = np.sort(perm[rank::ranks])
    self.canvas = canvas
    self.labels = labels
    self.batch_size = batch_size
    self.rng = np.random.default_rng(seed * 1000003 + rank)
    self.steps_per_epoch = len(self.shard) // batch_size
    if self.steps_per_epoch == 0:
      sys.exit(f"error: rank {rank}'s shard ({len(self.shard)} samples) is "
               f"smaller than one batch ({batch_size})")
    # uint8 -> normalised float, as a lookup table.
    self.lut = ((np.arange(256, dtype=np.float32) / 255.0 - FASHION_MEAN) /
                FASHION_STD).astype(np.float32)
    self.size = canvas.shape[1] - 8
    self.rows = np.arange(self.size)
    self.order = None
    self.pos = 0

  def next(self):
    if self.order is None or self.pos + self.batch_size > len(self.order):
      self.order = self.rng.permutation(self.shard)
      self.pos = 0
    idx = self.order[self.pos:self.pos + self.batch_size]
    self.pos += self.batch_size
    b = len(idx)
    dy = self.rng.integers(0, 9, size=b)
    dx = self.rng.integers(0, 9, size=b)
    flip = self.rng.integers(0, 2, size=b).astype(bool)
    # Crop: gather rows then columns of each 40x40 canvas.
    ys = dy[:, None] + self.rows[None, :]  # [b, size]
    xs = dx[:, None] + self.rows[None, :]
    xs = np.where(flip[:, None], xs[:, ::-1], xs)
    imgs = self.canvas[idx]  # [b, size + 8, size + 8]
    crops = imgs[np.arange(b)[:, None, None], ys[:, :, None], xs[:, None, :]]
    x = self.lut[crops]  # [b, size, size] float32
    x = np.broadcast_to(x[:, None], (b, 3, self.size, self.size))
    return np.ascontiguousarray(x), self.labels[idx]


# ---------------------------------------------------------------------------
# One rank.


def median(xs):
  return statistics.median(xs) if xs else 0.0


def run_rank(rank, args, store_path, result_path):
  import torch
  import torch.distributed as dist
  import torchvision

  threads = args.threads
  torch.set_num_threads(threads)
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

  classes = [int(c) for c in args.classes.split(",") if c]
  canvas, labels = load_train(args.data_dir, classes, args.train_limit,
                              args.image_size)
  num_classes = len(classes) if classes else 10
  batches = BatchMaker(canvas, labels, rank, args.ranks, args.batch_size,
                       args.seed)

  torch.manual_seed(args.seed)
  model = build_model(args, num_classes)
  frozen = [group_members(model, args.model, name)
            for name in child_groups(args.model)[:args.frozen]]
  for _, params in frozen:
    for p in params:
      p.requires_grad_(False)
  model.train()

  def set_frozen_modes():
    if args.frozen_bn_eval == "true":
      for modules, _ in frozen:
        for m in modules:
          m.eval()

  set_frozen_modes()
  if use_ddp:
    # DDP broadcasts rank 0's parameters and buffers at construction.
    net = torch.nn.parallel.DistributedDataParallel(
        model, bucket_cap_mb=args.bucket_cap_mb,
        gradient_as_bucket_view=args.grad_as_bucket_view == "true")
  else:
    net = model
  trainable = [p for p in model.parameters() if p.requires_grad]
  opt = torch.optim.SGD(trainable, lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay,
                        foreach=args.foreach == "true")
  loss_fn = torch.nn.CrossEntropyLoss()

  rows = []
  total_steps = args.warmup + args.steps
  for step in range(total_steps):
    t0 = time.perf_counter()
    x_np, y_np = batches.next()
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    t1 = time.perf_counter()
    out = net(x)
    loss = loss_fn(out, y)
    loss_value = loss.item()
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    opt.step()
    opt.zero_grad(set_to_none=True)
    t4 = time.perf_counter()
    rows.append({
        "step": step,
        "data_s": t1 - t0,
        "forward_s": t2 - t1,
        "backward_s": t3 - t2,
        "optimizer_s": t4 - t3,
        "total_s": t4 - t0,
        "loss": loss_value,
    })
    if rank == 0 and not args.quiet and (step + 1) % 10 == 0:
      print(f"ddp_baseline: step {step + 1}/{total_steps} "
            f"{(t4 - t0) * 1e3:.0f} ms loss {loss_value:.4f}", flush=True)

  measured = rows[args.warmup:]
  result = {
      "rank": rank,
      "steps": rows,
      "median_s": {k: median([r[k] for r in measured]) for k in
                   ("data_s", "forward_s", "backward_s", "optimizer_s",
                    "total_s")},
      "mean_total_s": (sum(r["total_s"] for r in measured) / len(measured)
                       if measured else 0.0),
      "trainable_params": sum(p.numel() for p in trainable),
      "torch_version": torch.__version__,
      "torchvision_version": torchvision.__version__,
      "torch_threads": torch.get_num_threads(),
      "ddp": use_ddp,
  }
  with open(result_path, "w") as f:
    json.dump(result, f)
  if use_ddp:
    dist.barrier()
    dist.destroy_process_group()


def main(argv=None):
  args = parse_args(argv)
  groups = child_groups(args.model)
  if args.frozen < 0 or args.frozen >= len(groups):
    sys.exit(f"error: --frozen must be 0..{len(groups) - 1} for "
             f"{args.model} (the classifier is never frozen)")
  if args.model in VITS:
    args.patch_size = args.patch_size or (4 if args.image_size < 224 else 16)
    if args.image_size % args.patch_size != 0:
      sys.exit(f"error: --patch_size={args.patch_size} does not divide "
               f"--image_size={args.image_size}")
  elif args.image_size != 32 or args.patch_size:
    sys.exit("error: --image_size and --patch_size are for the ViTs (the "
             "resnet18 baseline runs at 32x32)")
  if args.ranks < 1 or args.steps < 1 or args.warmup < 0:
    sys.exit("error: --ranks and --steps must be >= 1, --warmup >= 0")
  cores = len(os.sched_getaffinity(0))
  if args.threads <= 0:
    args.threads = max(1, cores // args.ranks)

  import torch.multiprocessing as mp

  start = time.time()
  with tempfile.TemporaryDirectory(prefix="ddp_baseline.") as tmp:
    store_path = os.path.join(tmp, "store")
    paths = [os.path.join(tmp, f"rank{r}.json") for r in range(args.ranks)]
    if args.ranks == 1:
      run_rank(0, args, store_path, paths[0])
    else:
      mp.start_processes(_spawned_rank, args=(args, store_path, paths),
                         nprocs=args.ranks, join=True, start_method="spawn")
    per_rank = []
    for path in paths:
      with open(path) as f:
        per_rank.append(json.load(f))

  r0 = per_rank[0]
  result = {
      "stack": "pytorch_ddp_gloo",
      "command": " ".join([sys.executable] + sys.argv),
      "config": {
          "model": (f"{args.model} (torchvision VisionTransformer, "
                    f"{args.image_size}x{args.image_size} input, patch "
                    f"{args.patch_size})" if args.model in VITS else
                    "resnet18 (torchvision, ImageNet stem, 32x32 input)"),
          "model_name": args.model,
          "image_size": args.image_size,
          "patch_size": args.patch_size,
          "classes": args.classes,
          "train_limit": args.train_limit,
          "batch_size": args.batch_size,
          "ranks": args.ranks,
          "threads": args.threads,
          "frozen": args.frozen,
          "frozen_groups": groups[:args.frozen],
          "steps": args.steps,
          "warmup": args.warmup,
          "lr": args.lr,
          "momentum": args.momentum,
          "weight_decay": args.weight_decay,
          "seed": args.seed,
          "frozen_bn_eval": args.frozen_bn_eval == "true",
          "foreach": args.foreach == "true",
          "ddp": r0["ddp"],
          "bucket_cap_mb": args.bucket_cap_mb,
          "gradient_as_bucket_view": args.grad_as_bucket_view == "true",
      },
      "machine": {
          "hostname": socket.gethostname(),
          "cores": cores,
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
      "wall_s": time.time() - start,
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
  }
  if not args.quiet:
    m = result["median_s"]
    print(f"ddp_baseline: K={args.frozen} ranks={args.ranks} threads="
          f"{args.threads}: median step {m['total_s'] * 1e3:.1f} ms (data "
          f"{m['data_s'] * 1e3:.1f}, forward {m['forward_s'] * 1e3:.1f}, "
          f"backward {m['backward_s'] * 1e3:.1f}, optimizer "
          f"{m['optimizer_s'] * 1e3:.1f})")
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)
  return 0


def _spawned_rank(rank, args, store_path, paths):
  run_rank(rank, args, store_path, paths[rank])


if __name__ == "__main__":
  sys.exit(main())
