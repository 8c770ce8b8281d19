// A synthetic, learnable image classification set for tests.
//
// Each class has a fixed pattern (a few seeded sinusoidal gratings per
// channel); a sample is its class's pattern plus Gaussian pixel noise. Labels
// are balanced and in seeded order. Everything is a function of the options,
// so tests and CI runs see the same bytes everywhere.
#ifndef FREEZING_TRAIN_DATA_SYNTHETIC_H_
#define FREEZING_TRAIN_DATA_SYNTHETIC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "train/data/dataset.h"

namespace freezing::train {

// SyntheticOptions: the parameters of the `synthetic:` data spec.
struct SyntheticOptions {
  int64_t n = 2048;      // training samples
  int64_t test_n = 512;  // test samples
  int classes = 10;
  int channels = 3;
  int size = 32;        // height and width
  double noise = 0.25;  // pixel noise sigma, on the [0, 1] scale
  uint64_t seed = 0;    // of the data, independent of the run's seed
};

// MakeSynthetic: the data set; mean and std are measured on its train split.
// InvalidArgument for out-of-range options.
absl::StatusOr<Dataset> MakeSynthetic(const SyntheticOptions& options);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_SYNTHETIC_H_
