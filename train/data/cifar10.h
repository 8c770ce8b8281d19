// CIFAR-10, binary version (cifar-10-binary.tar.gz, unpacked), from a folder.
//
// Each file is a sequence of 3073-byte records: one label byte (0..9), then
// 1024 red, 1024 green and 1024 blue pixel bytes of a 32x32 image. The folder
// holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin, directly or
// in the archive's cifar-10-batches-bin/ subfolder.
#ifndef FREEZING_TRAIN_DATA_CIFAR10_H_
#define FREEZING_TRAIN_DATA_CIFAR10_H_

#include <string>

#include "absl/status/statusor.h"
#include "train/data/dataset.h"

namespace freezing::train {

// ReadCifar10File: appends the records of one binary batch file to `set`
// (which must be empty or 3x32x32). NotFound when the file cannot be opened;
// DataLoss, naming the file and the expected layout, when its length is not a
// positive multiple of 3073 bytes or a label is out of range.
absl::Status ReadCifar10File(const std::string& path, ImageSet& set);

// LoadCifar10: the five training batches and the test batch from `dir`.
absl::StatusOr<Dataset> LoadCifar10(const std::string& dir);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_CIFAR10_H_
