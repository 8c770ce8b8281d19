#!/usr/bin/python3
"""Exports a torchvision ResNet as a TorchScript archive for //train/models.

Run with Debian's Python, which has python3-torch and python3-torchvision
(the `python3` of a pyenv on PATH may not):

  /usr/bin/python3 tools/export_torchvision.py --model=resnet18 --seed=0 \
      --out=/tmp/resnet18.pt
  /usr/bin/python3 tools/export_torchvision.py --model=resnet50 \
      --weights=resnet50.pth --out=/tmp/resnet50.pt

The archive (torch.jit.script + save) keeps torchvision's parameter and buffer
names; the C++ side (train/models/weights.h, LoadWeights) copies them by name,
BatchNorm running statistics and num_batches_tracked included.

--in_channels replaces conv1 by a freshly initialised one with that many
input channels; --stem=cifar replaces it by a 3x3 stride-1 convolution and the
max-pool by an identity, as //train/models does. --bn_calibration_batches runs
that many training-mode forward passes on random inputs so the running
statistics are not the initial zeros and ones (for tests). --sample_out writes
a fixed input batch and the model's eval-mode logits for it, --names_out the
names and shapes of the parameters and buffers in registration order.
"""

import argparse
import sys

import torch
import torchvision


class _Tensors(torch.nn.Module):
    """A TorchScript container of named tensors (read with torch::jit::load)."""

    def __init__(self, tensors):
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _build(args):
    factory = getattr(torchvision.models, args.model)
    state = None
    if args.weights:
        state = torch.load(args.weights, map_location="cpu")
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
        if args.num_classes is None:
            args.num_classes = state["fc.weight"].shape[0]
        if args.in_channels is None:
            args.in_channels = state["conv1.weight"].shape[1]
    num_classes = 1000 if args.num_classes is None else args.num_classes
    in_channels = 3 if args.in_channels is None else args.in_channels
    torch.manual_seed(args.seed)
    model = factory(weights=None, num_classes=num_classes)
    if args.stem == "cifar" or in_channels != 3:
        if args.stem == "cifar":
            model.conv1 = torch.nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            model.maxpool = torch.nn.Identity()
        else:
            model.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        torch.nn.init.kaiming_normal_(
            model.conv1.weight, mode="fan_out", nonlinearity="relu")
    if state is not None:
        model.load_state_dict(state, strict=True)
    if args.bn_calibration_batches > 0:
        generator = torch.Generator().manual_seed(args.seed + 1)
        model.train()
        with torch.no_grad():
            for _ in range(args.bn_calibration_batches):
                model(torch.randn(4, in_channels, args.image_size,
                                  args.image_size, generator=generator))
    model.eval()
    return model, in_channels


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        choices=["resnet18", "resnet34", "resnet50"])
    parser.add_argument("--num_classes", type=int, default=None,
                        help="default: 1000, or the --weights' classifier")
    parser.add_argument("--in_channels", type=int, default=None,
                        help="default: 3, or the --weights' conv1")
    parser.add_argument("--stem", choices=["imagenet", "cifar"],
                        default="imagenet")
    parser.add_argument("--seed", type=int, default=0,
                        help="torch.manual_seed before random initialisation")
    parser.add_argument("--weights", default=None,
                        help="a state_dict .pth to load (strict)")
    parser.add_argument("--bn_calibration_batches", type=int, default=0)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--out", default=None,
                        help="the TorchScript archive to write")
    parser.add_argument("--sample_out", default=None)
    parser.add_argument("--sample_batch", type=int, default=2)
    parser.add_argument("--names_out", default=None)
    args = parser.parse_args(argv)
    if not (args.out or args.sample_out or args.names_out):
        parser.error("nothing to write: give --out, --sample_out or --names_out")

    torch.set_num_threads(1)
    model, in_channels = _build(args)
    if args.out:
        torch.jit.save(torch.jit.script(model), args.out)
    if args.sample_out:
        generator = torch.Generator().manual_seed(args.seed + 2)
        x = torch.randn(args.sample_batch, in_channels, args.image_size,
                        args.image_size, generator=generator)
        with torch.no_grad():
            logits = model(x)
        torch.jit.save(torch.jit.script(
            _Tensors({"input": x, "logits": logits})), args.sample_out)
    if args.names_out:
        with open(args.names_out, "w") as f:
            for kind, items in (("param", model.named_parameters()),
                                ("buffer", model.named_buffers())):
                for name, tensor in items:
                    shape = ",".join(str(d) for d in tensor.shape)
                    f.write(f"{kind} {name} {shape}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
