#include "train/data/augment.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "train/data/seeded_random.h"

namespace freezing::train {
namespace {

constexpr uint64_t kVariantPickTag = 0x5049434bULL;  // "PICK"
constexpr uint64_t kVariantTag = 0x56415249ULL;      // "VARI"
constexpr uint64_t kFreshTag = 0x46524553ULL;        // "FRES"

Augmentation FromKey(uint64_t key, int padding) {
  SeededRandom rng(key);
  Augmentation a;
  a.dy = static_cast<int>(rng.Below(2 * padding + 1));
  a.dx = static_cast<int>(rng.Below(2 * padding + 1));
  a.flip = rng.Below(2) == 1;
  return a;
}

}  // namespace

Augmentation IdentityAugmentation(const AugmentOptions& options) {
  return Augmentation{options.crop_padding, options.crop_padding, false};
}

Augmentation VariantAugmentation(const AugmentOptions& options, int64_t sample,
                                 int variant) {
  return FromKey(
      MixSeed({options.seed, kVariantTag, static_cast<uint64_t>(sample),
               static_cast<uint64_t>(variant)}),
      options.crop_padding);
}

Augmentation ChooseAugmentation(const AugmentOptions& options, int epoch,
                                int64_t sample, int* variant) {
  if (!options.enabled) {
    *variant = 0;
    return IdentityAugmentation(options);
  }
  if (options.variants > 0) {
    SeededRandom pick(
        MixSeed({options.seed, kVariantPickTag, static_cast<uint64_t>(epoch),
                 static_cast<uint64_t>(sample)}));
    *variant = static_cast<int>(pick.Below(options.variants));
    return VariantAugmentation(options, sample, *variant);
  }
  *variant = kFreshVariant;
  return FromKey(MixSeed({options.seed, kFreshTag, static_cast<uint64_t>(epoch),
                          static_cast<uint64_t>(sample)}),
                 options.crop_padding);
}

absl::StatusOr<SampleRenderer> SampleRenderer::Create(const Dataset& data,
                                                      int out_channels,
                                                      int out_size,
                                                      int crop_padding) {
  const ImageSet& set = data.train;
  if (set.height > out_size || set.width > out_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(data.name, " images are ", set.height, "x", set.width,
                     "; the models take at most ", out_size, "x", out_size));
  }
  if (!(set.channels == out_channels ||
        (set.channels == 1 && out_channels == 3))) {
    return absl::InvalidArgumentError(absl::StrCat(
        data.name, " images have ", set.channels,
        " channel(s) but the model takes ", out_channels,
        "; valid: the same count, or 1-channel images repeated to 3"));
  }
  if (static_cast<int>(data.mean.size()) != set.channels ||
      static_cast<int>(data.stddev.size()) != set.channels) {
    return absl::InvalidArgumentError(
        absl::StrCat(data.name, ": mean/std need one value per channel (",
                     set.channels, ")"));
  }
  if (crop_padding < 0) {
    return absl::InvalidArgumentError("crop padding must be >= 0");
  }
  SampleRenderer r;
  r.in_channels_ = set.channels;
  r.in_height_ = set.height;
  r.in_width_ = set.width;
  r.out_channels_ = out_channels;
  r.out_size_ = out_size;
  r.crop_padding_ = crop_padding;
  r.pad_top_ = (out_size - set.height) / 2;
  r.pad_left_ = (out_size - set.width) / 2;
  r.lut_.resize(out_channels);
  for (int c = 0; c < out_channels; ++c) {
    const int source = set.channels == 1 ? 0 : c;
    for (int v = 0; v < 256; ++v) {
      r.lut_[c][v] = (v / 255.0f - data.mean[source]) / data.stddev[source];
    }
  }
  return r;
}

void SampleRenderer::Render(const uint8_t* image,
                            const Augmentation& augmentation,
                            float* out) const {
  const int s = out_size_;
  // Output (y, x) reads canvas (y + dy - p, x' + dx - p), x' = flipped x,
  // where the canvas is the image centred on an s x s black square.
  const int row_shift = augmentation.dy - crop_padding_ - pad_top_;
  const int col_shift = augmentation.dx - crop_padding_ - pad_left_;
  const int64_t plane = int64_t{in_height_} * in_width_;
  for (int c = 0; c < out_channels_; ++c) {
    const std::array<float, 256>& lut = lut_[c];
    const float black = lut[0];
    const uint8_t* src = image + (in_channels_ == 1 ? 0 : c) * plane;
    float* dst = out + int64_t{c} * s * s;
    for (int y = 0; y < s; ++y) {
      float* row = dst + y * s;
      const int sy = y + row_shift;
      if (sy < 0 || sy >= in_height_) {
        for (int x = 0; x < s; ++x) row[x] = black;
        continue;
      }
      const uint8_t* src_row = src + sy * in_width_;
      for (int x = 0; x < s; ++x) {
        const int xs = augmentation.flip ? s - 1 - x : x;
        const int sx = xs + col_shift;
        row[x] = (sx < 0 || sx >= in_width_) ? black : lut[src_row[sx]];
      }
    }
  }
}

}  // namespace freezing::train
