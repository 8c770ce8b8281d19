// bazel run //train/models:check_parity -- --model=NAME
//     --weights=EXPORT.pt --sample=SAMPLE.pt [--patch_size=P] [--stem=S]
//     [--freeze_unit=G] [--tolerance=1e-4] [--threads=N]
//
// Logits parity of one of our models with torchvision, for configurations
// too large for CI. Export both files first with Debian's Python, e.g.
// ViT-B/16 at 224x224 (torchvision's ImageNet weights, or --seed=0 for a
// random model):
//   /usr/bin/python3 tools/export_torchvision.py --model=vit_b_16 \
//       --weights=vit_b_16-c867db91.pth --image_size=224 \
//       --out=/tmp/vit_b_16.pt --sample_out=/tmp/vit_b_16_sample.pt
//   bazel run //train/models:check_parity -- --model=vit_b_16 \
//       --weights=/tmp/vit_b_16.pt --sample=/tmp/vit_b_16_sample.pt
// Classes, input channels and image size come from the sample. Prints the
// largest difference; exits 1 when it exceeds --tolerance, 2 on bad input.
#include <torch/utils.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "base/user_path.h"
#include "train/models/model_factory.h"
#include "train/models/torchvision_parity.h"

ABSL_FLAG(std::string, model, "", "our model name, e.g. vit_b_16");
ABSL_FLAG(std::string, weights, "", "tools/export_torchvision.py --out file");
ABSL_FLAG(std::string, sample, "",
          "tools/export_torchvision.py --sample_out file");
ABSL_FLAG(int, patch_size, 0, "ViTs: 0 = the default for the image size");
ABSL_FLAG(std::string, stem, "imagenet", "ResNets: imagenet | cifar");
ABSL_FLAG(std::string, freeze_unit, "child", "child | block");
ABSL_FLAG(double, tolerance, 1e-4, "largest accepted |ours - torchvision|");
ABSL_FLAG(int, threads, 0, "torch threads (0: libtorch's default)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using freezing::base::ResolveUserPath;
  if (absl::GetFlag(FLAGS_threads) > 0) {
    torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  }
  freezing::train::ModelConfig config;
  config.name = absl::GetFlag(FLAGS_model);
  config.stem = absl::GetFlag(FLAGS_stem);
  config.granularity = absl::GetFlag(FLAGS_freeze_unit);
  config.patch_size = absl::GetFlag(FLAGS_patch_size);
  const absl::StatusOr<freezing::train::ParityResult> r =
      freezing::train::CheckLogitsParity(
          ResolveUserPath(absl::GetFlag(FLAGS_weights)),
          ResolveUserPath(absl::GetFlag(FLAGS_sample)), config);
  if (!r.ok()) {
    std::fprintf(stderr, "error: %s\n", r.status().ToString().c_str());
    return 2;
  }
  const bool ok = r->max_abs_diff <= absl::GetFlag(FLAGS_tolerance);
  std::printf(
      "%s (%dx%d, patch %d, %d channels, %d classes): max |ours - "
      "torchvision| = %.3g over %lld logits (largest |logit| %.3g): %s "
      "(tolerance %.3g)\n",
      r->config.name.c_str(), r->config.image_size, r->config.image_size,
      freezing::train::ResolvedPatchSize(r->config), r->config.in_channels,
      r->config.num_classes, r->max_abs_diff, static_cast<long long>(r->logits),
      r->max_abs_expected, ok ? "PASS" : "FAIL",
      absl::GetFlag(FLAGS_tolerance));
  return ok ? 0 : 1;
}
