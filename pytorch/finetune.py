#!/usr/bin/python3
"""The study's PyTorch stack (study_stack.py), with our recorder or without:
DDP over gloo, torchvision resnet18 or ViT, SGD, crop + flip.

  bazel run //pytorch:finetune -- --ranks=2 --policy=gradnorm --out=DIR \\
      [--data=fashion_mnist --classes=5,6,7,8,9 --train_limit=N --epochs=E \\
       --batch_size=B --max_steps=S --init=DIR_OR_FILE ...]
  bazel run //pytorch:finetune -- --record=false --frozen=K --out=DIR ...

Flags as //train takes them (the subset this job has), plus those of
benchmarks/ddp_baseline.py, which is a front end of the same code
(study_stack.py): one training loop, model building, data and clocks.

--record=true (the default): freezing_torch.Recorder with --policy (resnet18
only). Writes DIR/trace.pb (our trace format), DIR/summary.json (the fields
of train/summary.cc), DIR/config.json (the flags) and DIR/model.pt (a
state_dict, loadable by --init).

--record=false: no freezing_torch at all, "PyTorch at its defaults": the
first --frozen=K child groups frozen statically, per-step clocks (data,
forward, backward incl. DDP's wait, optimizer, total; medians after
--warmup). Writes DIR/steps.json (the JSON benchmarks/ddp_baseline.py
writes to its --out, plus test_accuracy), DIR/config.json and DIR/model.pt.

The model: torchvision's resnet18 (ImageNet stem on 32x32 inputs, num_classes
= the selected classes), its 7 children with parameters as freezable units
(conv1, bn1, layer1, layer2, layer3, layer4, fc); or (recorder off)
torchvision's VisionTransformer with our ViTs' shapes. The data of
study_data.py. Per step: batches assembled in numpy in the main process,
SGD(lr, momentum, weight_decay) with its default for-loop update
(--foreach), zero_grad(set_to_none=True); with one rank the model is not
wrapped in DDP (--ddp_single). Evaluation each epoch on the test split,
shared across ranks, with rank 0's BatchNorm buffers (as train/ does).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import study_stack


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--record", default="true", choices=["true", "false"],
                 help="freezing_torch.Recorder (our policies and trace); "
                 "false: PyTorch at its defaults, as ddp_baseline.py")
  p.add_argument("--data", default="fashion_mnist",
                 help="fashion_mnist | synthetic")
  p.add_argument("--test_limit", type=int, default=0)
  p.add_argument("--augment", default="true", choices=["true", "false"])
  p.add_argument("--epochs", type=int, default=1)
  p.add_argument("--max_steps", type=int, default=0)
  p.add_argument("--init", default="",
                 help="initial weights: a state_dict file or a folder with "
                 "model.pt")
  p.add_argument("--init_exclude", default="",
                 help="comma-separated tensor name prefixes not loaded")
  p.add_argument("--policy", default="none")
  p.add_argument("--vote_rule", default="global")
  p.add_argument("--stats_interval", type=int, default=20)
  p.add_argument("--stats_window", type=int, default=4)
  p.add_argument("--profile_repeats", type=int, default=3)
  p.add_argument("--log_every", type=int, default=0)
  p.add_argument("--out", default="")
  study_stack.add_flags(p, classes="")
  args = p.parse_args(argv)
  args.prog = "finetune"
  args.stream = False
  args.evaluate = True
  return study_stack.complete(args)


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


def main(argv=None):
  args = parse_args(argv)
  if not args.out:
    return study_stack.fail(args, "--out=DIR is required")
  cwd = os.environ.get("BUILD_WORKING_DIRECTORY", "")
  if cwd and not os.path.isabs(args.out):
    args.out = os.path.join(cwd, args.out)
  if cwd and args.init and not os.path.isabs(args.init):
    args.init = os.path.join(cwd, args.init)
  message = study_stack.check_args(args)
  if message:
    return study_stack.fail(args, message)
  args.out_dir = args.out
  args.revision = revision()
  if args.record == "false":
    try:
      os.makedirs(args.out, exist_ok=True)
    except OSError as e:
      return study_stack.fail(
          args, f"--out={args.out}: cannot write the output folder: {e}")
  start = time.time()
  status, per_rank = study_stack.launch(args)
  if status:
    return status
  with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(vars(args), f, indent=1, sort_keys=True)
  if args.record == "false":
    result = study_stack.timing_json(args, per_rank, time.time() - start)
    result["test_accuracy"] = per_rank[0]["test_accuracy"]
    study_stack.write_json(os.path.join(args.out, "steps.json"), result)
    if not args.quiet:
      study_stack.print_medians(args, result)
  return 0


if __name__ == "__main__":
  sys.exit(main())
