// Fashion-MNIST from IDX files, as Debian's dataset-fashion-mnist ships them.
//
// The package installs the four gzip-compressed IDX files under
// /usr/share/datasets/fashion-mnist; uncompressed copies (same names without
// ".gz") are accepted too. Everything is validated: magic numbers, ranks,
// image size 28x28, matching image and label counts, label range, exact file
// length.
#ifndef FREEZING_TRAIN_DATA_FASHION_MNIST_H_
#define FREEZING_TRAIN_DATA_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "train/data/dataset.h"

namespace freezing::train {

// Where Debian's dataset-fashion-mnist installs the files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// IdxArray: the contents of an IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// ReadIdxFile: reads an IDX file of unsigned bytes (type code 0x08) with
// `expected_rank` dimensions, gzip-compressed or plain. NotFound when the file
// cannot be opened; DataLoss, naming the file and what was expected, when the
// bytes are not such a file.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     int expected_rank);

// LoadFashionMnist: both splits from `dir` (train-images-idx3-ubyte.gz,
// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
// t10k-labels-idx1-ubyte.gz). Images stay 1 x 28 x 28; padding to 32x32 and
// channel repetition happen in augmentation. Errors name the file, what was
// expected and the Debian package to install.
absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_FASHION_MNIST_H_
