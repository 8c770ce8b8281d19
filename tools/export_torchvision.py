#!/usr/bin/python3
"""Exports a torchvision ResNet or ViT as a TorchScript archive for //train/models.

Run with Debian's Python, which has python3-torch and python3-torchvision
(the `python3` of a pyenv on PATH may not):

  /usr/bin/python3 tools/export_torchvision.py --model=resnet18 --seed=0 \
      --out=/tmp/resnet18.pt
  /usr/bin/python3 tools/export_torchvision.py --model=resnet50 \
      --weights=resnet50.pth --out=/tmp/resnet50.pt
  /usr/bin/python3 tools/export_torchvision.py --model=vit_b_16 \
      --weights=vit_b_16-c867db91.pth --image_size=224 --out=/tmp/vit_b_16.pt

ViTs (torchvision.models.vision_transformer.VisionTransformer, as
//train/models' vit.h): vit_mini (width 128, depth 6, 4 heads, MLP 512),
vit_tiny (192, 12, 3, 768) and vit_b_16 (768, 12, 12, 3072), at --image_size
with --patch_size (default: 4 below 224 pixels, 16 from 224 on, as the C++
side). With --weights, the classes, input channels, patch size and number of
tokens come from the file; an --image_size or --patch_size that does not fit
them is an error naming both.

The archive (torch.jit.script + save) keeps torchvision's parameter and buffer
names; the C++ side (train/models/weights.h, LoadWeights) copies them by name,
BatchNorm running statistics and num_batches_tracked included.

--in_channels replaces conv1 (a ViT's conv_proj) by a freshly initialised one
with that many input channels; --stem=cifar replaces it by a 3x3 stride-1
convolution and the max-pool by an identity, as //train/models does.
--bn_calibration_batches runs that many training-mode forward passes on random
inputs so the running statistics are not the initial zeros and ones (for
tests). --randomize_constants adds N(0, 0.02) noise to every parameter that
initialisation leaves constant (a ViT's zero head, class token and biases,
LayerNorm and BatchNorm scales), so that a parity test sees every tensor.
--sample_out writes a fixed input batch and the model's eval-mode logits for
it, --names_out the names and shapes of the parameters and buffers in
registration order.
"""

import argparse
import math
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


# The ViTs of //train/models/vit.cc: (depth, width, heads, MLP width).
VITS = {
    "vit_mini": (6, 128, 4, 512),
    "vit_tiny": (12, 192, 3, 768),
    "vit_b_16": (12, 768, 12, 3072),
}


def default_patch_size(image_size):
    """As DefaultPatchSize in train/models/model_factory.h."""
    return 4 if image_size < 224 else 16


def _load_state(path):
    state = torch.load(path, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    return state


def _vit_geometry(args, state, parser):
    """Classes, channels, image and patch size of a ViT: from the weights
    when given (checked against the flags), else from the flags."""
    image_size = 32 if args.image_size is None else args.image_size
    patch = args.patch_size or default_patch_size(image_size)
    num_classes, in_channels = args.num_classes, args.in_channels
    if state is not None:
        file_patch = state["conv_proj.weight"].shape[2]
        tokens = state["encoder.pos_embedding"].shape[1]
        side = math.isqrt(tokens - 1)
        if side * side != tokens - 1:
            parser.error(f"--weights: {tokens} tokens is not a square number "
                         "of patches plus the class token")
        if args.patch_size and args.patch_size != file_patch:
            parser.error(f"--patch_size={args.patch_size} but the weights "
                         f"have patch size {file_patch}")
        patch = file_patch
        if args.image_size is None:
            image_size = side * patch
        elif image_size != side * patch:
            parser.error(f"--image_size={image_size} but the weights were "
                         f"made for {side * patch}x{side * patch} images "
                         f"({side}x{side} patches of {patch}, "
                         f"{tokens} tokens)")
        if num_classes is None:
            num_classes = state["heads.head.weight"].shape[0]
        if in_channels is None:
            in_channels = state["conv_proj.weight"].shape[1]
    if image_size % patch != 0:
        parser.error(f"--patch_size={patch} does not divide --image_size="
                     f"{image_size} ({image_size} % {patch} = "
                     f"{image_size % patch})")
    return image_size, patch, num_classes, in_channels


def _build_vit(args, parser):
    state = _load_state(args.weights) if args.weights else None
    image_size, patch, num_classes, in_channels = _vit_geometry(
        args, state, parser)
    args.image_size = image_size
    num_classes = 1000 if num_classes is None else num_classes
    in_channels = 3 if in_channels is None else in_channels
    depth, width, heads, mlp = VITS[args.model]
    torch.manual_seed(args.seed)
    from torchvision.models.vision_transformer import VisionTransformer
    model = VisionTransformer(image_size=image_size, patch_size=patch,
                              num_layers=depth, num_heads=heads,
                              hidden_dim=width, mlp_dim=mlp,
                              num_classes=num_classes)
    if in_channels != 3:
        model.conv_proj = torch.nn.Conv2d(in_channels, width, patch, patch)
        torch.nn.init.trunc_normal_(
            model.conv_proj.weight,
            std=math.sqrt(1 / (in_channels * patch * patch)))
        torch.nn.init.zeros_(model.conv_proj.bias)
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model, in_channels


def _randomize_constants(model, seed):
    generator = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() == 1 or bool((p == p.flatten()[0]).all()):
                p.add_(0.02 * torch.randn(p.shape, generator=generator))


def _build(args, parser):
    if args.model in VITS:
        model, in_channels = _build_vit(args, parser)
        if args.randomize_constants:
            _randomize_constants(model, args.seed)
        model.eval()
        return model, in_channels
    if args.patch_size:
        parser.error("--patch_size applies to the ViTs only")
    if args.image_size is None:
        args.image_size = 32
    factory = getattr(torchvision.models, args.model)
    state = None
    if args.weights:
        state = _load_state(args.weights)
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
    if args.randomize_constants:
        _randomize_constants(model, args.seed)
    model.eval()
    return model, in_channels


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        choices=["resnet18", "resnet34", "resnet50"] +
                        list(VITS))
    parser.add_argument("--num_classes", type=int, default=None,
                        help="default: 1000, or the --weights' classifier")
    parser.add_argument("--in_channels", type=int, default=None,
                        help="default: 3, or the --weights' conv1 "
                        "(conv_proj)")
    parser.add_argument("--stem", choices=["imagenet", "cifar"],
                        default="imagenet")
    parser.add_argument("--seed", type=int, default=0,
                        help="torch.manual_seed before random initialisation")
    parser.add_argument("--weights", default=None,
                        help="a state_dict .pth to load (strict)")
    parser.add_argument("--bn_calibration_batches", type=int, default=0)
    parser.add_argument("--randomize_constants", action="store_true",
                        help="perturb parameters initialised to a constant "
                        "(for parity tests)")
    parser.add_argument("--image_size", type=int, default=None,
                        help="default: 32, or a ViT's --weights' (from its "
                        "position embedding)")
    parser.add_argument("--patch_size", type=int, default=0,
                        help="ViTs: default 4 below 224 pixels, 16 from 224 "
                        "on, or the --weights'")
    parser.add_argument("--out", default=None,
                        help="the TorchScript archive to write")
    parser.add_argument("--sample_out", default=None)
    parser.add_argument("--sample_batch", type=int, default=2)
    parser.add_argument("--names_out", default=None)
    args = parser.parse_args(argv)
    if not (args.out or args.sample_out or args.names_out):
        parser.error("nothing to write: give --out, --sample_out or --names_out")

    torch.set_num_threads(1)
    model, in_channels = _build(args, parser)
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
