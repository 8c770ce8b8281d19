#include "train/data/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace freezing::train {
namespace {

constexpr char kInstallHint[] =
    "Fashion-MNIST comes from the Debian package dataset-fashion-mnist "
    "(apt-get install dataset-fashion-mnist, or tools/setup.sh), which "
    "installs it under /usr/share/datasets/fashion-mnist; or pass "
    "fashion_mnist:DIR with a folder holding the four IDX files";

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

bool FileExists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

// Reads exactly `n` bytes; returns how many were read, or -1 on a gzip error.
int64_t ReadFully(gzFile f, uint8_t* out, int64_t n) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk =
        static_cast<unsigned>(std::min<int64_t>(n - done, 1 << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) return -1;
    if (got == 0) break;
    done += got;
  }
  return done;
}

std::string GzErrorText(gzFile f) {
  int code = 0;
  const char* text = gzerror(f, &code);
  return text == nullptr ? "unknown gzip error" : text;
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     int expected_rank) {
  const std::string expected = absl::StrCat(
      "expected an IDX file of unsigned bytes with ", expected_rank,
      " dimension(s) (magic 0x0000080", expected_rank, ")");
  errno = 0;
  GzFile f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open ", path, ": ",
        errno != 0 ? std::strerror(errno) : "gzopen failed", "; ", expected));
  }
  gzbuffer(f.get(), 1 << 20);
  uint8_t header[4];
  const int64_t got_header = ReadFully(f.get(), header, 4);
  if (got_header < 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", GzErrorText(f.get()), "; ", expected));
  }
  if (got_header < 4) {
    return absl::DataLossError(absl::StrCat(
        path, ": file is shorter than the 4-byte IDX magic; ", expected));
  }
  if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 ||
      header[3] != expected_rank) {
    return absl::DataLossError(
        absl::StrFormat("%s: magic number 0x%02x%02x%02x%02x; %s", path,
                        header[0], header[1], header[2], header[3], expected));
  }
  IdxArray array;
  int64_t total = 1;
  for (int d = 0; d < expected_rank; ++d) {
    uint8_t b[4];
    if (ReadFully(f.get(), b, 4) != 4) {
      return absl::DataLossError(absl::StrCat(
          path, ": file ends inside the dimension sizes; ", expected));
    }
    const int64_t dim = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) |
                        (int64_t{b[2]} << 8) | int64_t{b[3]};
    array.dims.push_back(dim);
    total *= dim;
    if (total > (int64_t{1} << 34)) {
      return absl::DataLossError(absl::StrCat(path, ": implausible dimensions ",
                                              absl::StrJoin(array.dims, "x"),
                                              "; ", expected));
    }
  }
  array.data.resize(total);
  const int64_t got = ReadFully(f.get(), array.data.data(), total);
  if (got < 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", GzErrorText(f.get()), "; ", expected));
  }
  if (got != total) {
    return absl::DataLossError(absl::StrCat(
        path, ": header announces ", absl::StrJoin(array.dims, "x"), " = ",
        total, " bytes of data but the file holds only ", got));
  }
  uint8_t extra;
  const int64_t more = ReadFully(f.get(), &extra, 1);
  if (more != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": ",
        more < 0 ? GzErrorText(f.get()) : "trailing bytes after the ",
        more < 0 ? "" : absl::StrCat(total, " bytes the header announces")));
  }
  return array;
}

namespace {

// Finds `name`.gz or, failing that, the uncompressed `name` in `dir`.
absl::StatusOr<std::string> FindIdx(const std::string& dir,
                                    const std::string& name) {
  const std::string gz = absl::StrCat(dir, "/", name, ".gz");
  if (FileExists(gz)) return gz;
  const std::string plain = absl::StrCat(dir, "/", name);
  if (FileExists(plain)) return plain;
  return absl::NotFoundError(
      absl::StrCat("fashion_mnist: missing file ", gz, " (", name,
                   ": an IDX file of Fashion-MNIST); ", kInstallHint));
}

absl::Status LoadSplit(const std::string& dir, const std::string& prefix,
                       ImageSet& set) {
  ASSIGN_OR_RETURN(const std::string images_path,
                   FindIdx(dir, prefix + "-images-idx3-ubyte"));
  ASSIGN_OR_RETURN(const std::string labels_path,
                   FindIdx(dir, prefix + "-labels-idx1-ubyte"));
  auto images = ReadIdxFile(images_path, 3);
  if (!images.ok()) {
    return absl::Status(
        images.status().code(),
        absl::StrCat("fashion_mnist: ", images.status().message(), "; ",
                     kInstallHint));
  }
  auto labels = ReadIdxFile(labels_path, 1);
  if (!labels.ok()) {
    return absl::Status(
        labels.status().code(),
        absl::StrCat("fashion_mnist: ", labels.status().message(), "; ",
                     kInstallHint));
  }
  if (images->dims[1] != 28 || images->dims[2] != 28) {
    return absl::DataLossError(absl::StrCat(
        "fashion_mnist: ", images_path, ": images are ", images->dims[1], "x",
        images->dims[2], "; expected 28x28"));
  }
  if (images->dims[0] != labels->dims[0]) {
    return absl::DataLossError(
        absl::StrCat("fashion_mnist: ", images_path, " holds ", images->dims[0],
                     " images but ", labels_path, " holds ", labels->dims[0],
                     " labels; expected the same count"));
  }
  set.channels = 1;
  set.height = 28;
  set.width = 28;
  set.pixels = std::move(images->data);
  set.labels.resize(labels->data.size());
  for (size_t i = 0; i < labels->data.size(); ++i) {
    if (labels->data[i] > 9) {
      return absl::DataLossError(absl::StrCat(
          "fashion_mnist: ", labels_path, ": label ", labels->data[i],
          " of sample ", i, "; expected labels 0..9"));
    }
    set.labels[i] = labels->data[i];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir) {
  Dataset data;
  data.name = "fashion_mnist";
  data.source = dir;
  data.num_classes = 10;
  data.class_names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                      "Coat",        "Sandal",    "Shirt",    "Sneaker",
                      "Bag",         "Ankle boot"};
  // Mean and standard deviation of the training images (the usual constants).
  data.mean = {0.2860f};
  data.stddev = {0.3530f};
  for (int c = 0; c < 10; ++c) data.original_class.push_back(c);
  RETURN_IF_ERROR(LoadSplit(dir, "train", data.train));
  RETURN_IF_ERROR(LoadSplit(dir, "t10k", data.test));
  return data;
}

}  // namespace freezing::train
