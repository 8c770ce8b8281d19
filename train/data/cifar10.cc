#include "train/data/cifar10.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace freezing::train {
namespace {

constexpr int64_t kRecordBytes = 1 + 3 * 32 * 32;

constexpr char kLayout[] =
    "expected CIFAR-10 binary version: records of 1 label byte (0..9) + 3072 "
    "pixel bytes (32x32, R then G then B planes)";

bool FileExists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

}  // namespace

absl::Status ReadCifar10File(const std::string& path, ImageSet& set) {
  errno = 0;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cifar10: cannot open ", path, ": ",
                                            std::strerror(errno), "; ",
                                            kLayout));
  }
  std::fseek(f, 0, SEEK_END);
  const int64_t length = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  if (length <= 0 || length % kRecordBytes != 0) {
    std::fclose(f);
    return absl::DataLossError(
        absl::StrCat("cifar10: ", path, " is ", length,
                     " bytes, not a positive multiple of 3073; ", kLayout));
  }
  std::vector<uint8_t> bytes(length);
  const size_t got = std::fread(bytes.data(), 1, length, f);
  std::fclose(f);
  if (static_cast<int64_t>(got) != length) {
    return absl::DataLossError(absl::StrCat("cifar10: read error in ", path,
                                            " after ", got, " bytes"));
  }
  set.channels = 3;
  set.height = 32;
  set.width = 32;
  const int64_t n = length / kRecordBytes;
  const int64_t first = set.size();
  set.labels.resize(first + n);
  set.pixels.resize((first + n) * (kRecordBytes - 1));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = bytes.data() + i * kRecordBytes;
    if (record[0] > 9) {
      return absl::DataLossError(absl::StrCat(
          "cifar10: ", path, ": record ", i, " (byte offset ", i * kRecordBytes,
          ") has label ", record[0], "; ", kLayout));
    }
    set.labels[first + i] = record[0];
    std::memcpy(set.pixels.data() + (first + i) * (kRecordBytes - 1),
                record + 1, kRecordBytes - 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<Dataset> LoadCifar10(const std::string& dir) {
  std::string folder = dir;
  if (!FileExists(folder + "/data_batch_1.bin") &&
      FileExists(folder + "/cifar-10-batches-bin/data_batch_1.bin")) {
    folder += "/cifar-10-batches-bin";
  }
  Dataset data;
  data.name = "cifar10";
  data.source = folder;
  data.num_classes = 10;
  data.class_names = {"airplane", "automobile", "bird",  "cat",  "deer",
                      "dog",      "frog",       "horse", "ship", "truck"};
  // Per-channel mean and standard deviation of the 50000 training images.
  data.mean = {0.4914f, 0.4822f, 0.4465f};
  data.stddev = {0.2470f, 0.2435f, 0.2616f};
  for (int c = 0; c < 10; ++c) data.original_class.push_back(c);
  for (int b = 1; b <= 5; ++b) {
    RETURN_IF_ERROR(ReadCifar10File(
        absl::StrCat(folder, "/data_batch_", b, ".bin"), data.train));
  }
  RETURN_IF_ERROR(ReadCifar10File(folder + "/test_batch.bin", data.test));
  return data;
}

}  // namespace freezing::train
