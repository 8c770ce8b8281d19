// In-memory image classification data sets, independent of libtorch.
//
// Every source (Fashion-MNIST, CIFAR-10, synthetic) loads into a `Dataset` of
// 8-bit images; class selection, limits, partitions and augmentation all work
// on it without torch, and only the batch loader (loader.h) makes tensors.
#ifndef FREEZING_TRAIN_DATA_DATASET_H_
#define FREEZING_TRAIN_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace freezing::train {

// ImageSet: N images of C x H x W bytes (channel-major, like torch) and labels.
struct ImageSet {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // N * C * H * W
  std::vector<int32_t> labels;  // N, in [0, num_classes)

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const {
    return static_cast<int64_t>(channels) * height * width;
  }
  const uint8_t* image(int64_t i) const {
    return pixels.data() + i * image_bytes();
  }
};

// Dataset: a train and a test split sharing classes and normalisation.
struct Dataset {
  std::string name;    // "fashion_mnist", "cifar10", "synthetic"
  std::string source;  // folder read, or the synthetic parameters
  int num_classes = 0;
  std::vector<std::string> class_names;  // [num_classes]
  // Per channel of the stored images, on the [0, 1] pixel scale: the
  // normalisation the study applies (x - mean) / std.
  std::vector<float> mean;
  std::vector<float> stddev;
  // After SelectClasses: label i of this data set is class original_class[i]
  // of the source. Identity when no selection was made.
  std::vector<int> original_class;
  ImageSet train;
  ImageSet test;
};

// SelectClasses: keeps only the samples of `classes` (source labels, in the
// given order, no duplicates) and relabels them 0..k-1 in that order, in both
// splits; sample order is preserved. Empty `classes` keeps everything.
// InvalidArgument for an unknown or repeated class.
absl::Status SelectClasses(const std::vector<int>& classes, Dataset& data);

// LimitSamples: keeps the first `limit` samples of `set` (0 = no limit).
void LimitSamples(int64_t limit, ImageSet& set);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_DATASET_H_
