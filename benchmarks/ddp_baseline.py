#!/usr/bin/python3
"""The study's own stack: PyTorch DDP over gloo, torchvision resnet18 or ViT.

The baseline our trainer (//train) is compared with, side by side, by
benchmarks/compare_pytorch.py. A thin front end of pytorch/study_stack.py,
the code //pytorch:finetune runs: this is `finetune --record=false` (no
freezing_torch.Recorder, "PyTorch at its defaults") with this script's
flags, one code path for the side-by-side comparison and the recorder. It
runs --warmup + --steps steps and writes the per-step clocks to --out.

Same model (--model: torchvision resnet18, ImageNet stem; or torchvision's
VisionTransformer with our ViTs' shapes: vit_mini, vit_tiny, vit_b_16 at
--image_size with --patch_size; num_classes = number of selected classes),
same data (pytorch/study_data.py: Fashion-MNIST IDX .gz, class subset and
limits, centred on a black --image_size canvas (32x32 by default), repeated
to 3 channels, normalised with mean 0.2860 / std 0.3530, random crop of the
image size with padding 4 + horizontal flip), same batch per rank, same
threads per rank, same optimizer (SGD lr 0.1, momentum 0.9, weight decay
1e-4) and the same K frozen child groups (ResNet: conv1, bn1, layer1,
layer2, layer3, layer4, fc; ViT: embedding (conv_proj, class_token,
encoder.pos_embedding), encoder_layer_0 .. encoder_layer_{depth-1}, head
(encoder.ln, heads)).

What the study's stack does, and the choices made (study_stack.py,
docs/PERFORMANCE.md):
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
  /usr/bin/python3 benchmarks/ddp_baseline.py --ranks=2 --threads=1 \\
      --frozen=2 --steps=30 --warmup=5 --out=/tmp/ddp.json
"""

import argparse
import os
import sys
import time

# pytorch/study_stack.py, next to this folder in the checkout and in Bazel's
# runfiles (//pytorch:study_stack).
sys.path.insert(0, os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pytorch"))
import study_stack  # noqa: E402


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  study_stack.add_flags(p, classes="5,6,7,8,9")
  p.add_argument("--steps", type=int, default=30, help="measured steps")
  p.add_argument("--out", default="", help="JSON output file")
  args = p.parse_args(argv)
  # The recorder off, no evaluation, --warmup + --steps batches in one
  # stream (reshuffled when a shard is used up).
  args.prog = "ddp_baseline"
  args.record = "false"
  args.evaluate = False
  args.stream = True
  return study_stack.complete(args)


def main(argv=None):
  args = parse_args(argv)
  message = study_stack.check_args(args)
  if message is None and args.steps < 1:
    message = "--steps must be >= 1"
  if message:
    return study_stack.fail(args, message)
  args.max_steps = args.warmup + args.steps
  start = time.time()
  status, per_rank = study_stack.launch(args)
  if status:
    return status
  result = study_stack.timing_json(args, per_rank, time.time() - start)
  if not args.quiet:
    study_stack.print_medians(args, result)
  if args.out:
    study_stack.write_json(args.out, result)
  return 0


if __name__ == "__main__":
  sys.exit(main())
