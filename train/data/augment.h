// The study's input transforms, without libtorch: normalise, pad Fashion-MNIST
// to 32x32 (and repeat it to 3 channels), random crop 32 with padding 4,
// random horizontal flip.
//
// Which augmentation a training sample gets is a pure function of
// (seed, epoch, sample index):
//   - augmentation off: the identity, variant 0 (evaluation, or caching
//     without augmentation);
//   - `variants` = K > 0: sample i has K fixed augmentations, a function of
//     (seed, i, v) for v in 0..K-1, and epoch e uses variant
//     v = hash(seed, e, i) mod K. The activation cache keys on (i, v);
//   - K = 0: a fresh augmentation from (seed, e, i); variant kFreshVariant
//   (-1),
//     which the activation cache must not key on.
// Padding pixels are black (0) before normalisation, like torchvision's Pad
// and RandomCrop(padding=4) on the 8-bit image.
#ifndef FREEZING_TRAIN_DATA_AUGMENT_H_
#define FREEZING_TRAIN_DATA_AUGMENT_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "train/data/dataset.h"

namespace freezing::train {

// Variant id of a freshly drawn (uncacheable) augmentation.
inline constexpr int kFreshVariant = -1;

// AugmentOptions: how training samples are augmented.
struct AugmentOptions {
  bool enabled = true;
  int variants = 0;  // K: fixed augmentations per sample; 0 = fresh each epoch
  uint64_t seed = 0;
  int crop_padding = 4;
};

// Augmentation: a crop offset in the image padded by `crop_padding` on every
// side (dy = dx = crop_padding is the centre, i.e. no shift) and a flip.
struct Augmentation {
  int dy = 0;
  int dx = 0;
  bool flip = false;

  bool operator==(const Augmentation& o) const {
    return dy == o.dy && dx == o.dx && flip == o.flip;
  }
};

// IdentityAugmentation: no shift, no flip.
Augmentation IdentityAugmentation(const AugmentOptions& options);

// VariantAugmentation: the fixed augmentation `variant` (0..K-1) of `sample`.
Augmentation VariantAugmentation(const AugmentOptions& options, int64_t sample,
                                 int variant);

// ChooseAugmentation: what training sample `sample` gets in `epoch`, and its
// variant id (0 when off, 0..K-1, or kFreshVariant); see the file comment.
Augmentation ChooseAugmentation(const AugmentOptions& options, int epoch,
                                int64_t sample, int* variant);

// SampleRenderer: turns an 8-bit image into the normalised float image the
// model sees, [out_channels, out_size, out_size], channel-major.
class SampleRenderer {
 public:
  // Create: InvalidArgument when the images do not fit: more pixels than
  // out_size, or a channel count other than out_channels (1 -> 3 repeats).
  static absl::StatusOr<SampleRenderer> Create(const Dataset& data,
                                               int out_channels,
                                               int out_size = 32,
                                               int crop_padding = 4);

  // Render: writes out_channels * out_size * out_size floats to `out`.
  void Render(const uint8_t* image, const Augmentation& augmentation,
              float* out) const;

  int out_channels() const { return out_channels_; }
  int out_size() const { return out_size_; }
  int64_t out_elements() const {
    return int64_t{out_channels_} * out_size_ * out_size_;
  }

 private:
  SampleRenderer() = default;

  int in_channels_ = 0, in_height_ = 0, in_width_ = 0;
  int out_channels_ = 0, out_size_ = 0, crop_padding_ = 0;
  int pad_top_ = 0, pad_left_ = 0;  // centring of a smaller image
  // Normalised value of each byte, per output channel.
  std::vector<std::array<float, 256>> lut_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_AUGMENT_H_
