#include "train/data/fashion_mnist.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> IdxHeader(int rank, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(rank)};
  for (uint32_t d : dims) {
    out.push_back(d >> 24);
    out.push_back(d >> 16);
    out.push_back(d >> 8);
    out.push_back(d);
  }
  return out;
}

void WriteGz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
  }
  gzclose(f);
}

void WritePlain(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

std::vector<uint8_t> Images(int n, int rows = 28, int cols = 28) {
  std::vector<uint8_t> out =
      IdxHeader(3, {static_cast<uint32_t>(n), static_cast<uint32_t>(rows),
                    static_cast<uint32_t>(cols)});
  for (int i = 0; i < n * rows * cols; ++i) out.push_back((i * 7 + 3) % 256);
  return out;
}

std::vector<uint8_t> Labels(int n, int first = 0) {
  std::vector<uint8_t> out = IdxHeader(1, {static_cast<uint32_t>(n)});
  for (int i = 0; i < n; ++i) out.push_back((first + i) % 10);
  return out;
}

class FashionMnistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
    WriteGz(Path("train-images-idx3-ubyte.gz"), Images(5));
    WriteGz(Path("train-labels-idx1-ubyte.gz"), Labels(5));
    WriteGz(Path("t10k-images-idx3-ubyte.gz"), Images(3));
    WriteGz(Path("t10k-labels-idx1-ubyte.gz"), Labels(3, 4));
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(FashionMnistTest, ReadsValidFiles) {
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->name, "fashion_mnist");
  EXPECT_EQ(data->num_classes, 10);
  EXPECT_EQ(data->train.size(), 5);
  EXPECT_EQ(data->test.size(), 3);
  EXPECT_EQ(data->train.channels, 1);
  EXPECT_EQ(data->train.height, 28);
  EXPECT_EQ(data->train.width, 28);
  EXPECT_EQ(data->train.labels, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(data->test.labels, (std::vector<int32_t>{4, 5, 6}));
  // Pixel k of the file is (7k + 3) mod 256.
  EXPECT_EQ(data->train.image(2)[5], (7 * (2 * 784 + 5) + 3) % 256);
  EXPECT_EQ(data->mean.size(), 1u);
}

TEST_F(FashionMnistTest, AcceptsUncompressedFiles) {
  std::remove(Path("t10k-labels-idx1-ubyte.gz").c_str());
  WritePlain(Path("t10k-labels-idx1-ubyte"), Labels(3, 4));
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->test.labels, (std::vector<int32_t>{4, 5, 6}));
}

TEST_F(FashionMnistTest, MissingFileNamesItAndThePackage) {
  std::remove(Path("t10k-images-idx3-ubyte.gz").c_str());
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
  ASSERT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(),
              HasSubstr(Path("t10k-images-idx3-ubyte.gz")));
  EXPECT_THAT(data.status().message(), HasSubstr("dataset-fashion-mnist"));
}

TEST_F(FashionMnistTest, MissingFolder) {
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_ + "/nowhere");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr("dataset-fashion-mnist"));
}

struct BrokenCase {
  std::string name;
  std::string file;
  std::vector<uint8_t> bytes;
  std::string expected;
};

std::vector<uint8_t> Truncated() {
  std::vector<uint8_t> b = Images(5);
  b.resize(b.size() - 10);
  return b;
}

std::vector<uint8_t> Trailing() {
  std::vector<uint8_t> b = Labels(5);
  b.push_back(0);
  return b;
}

TEST_F(FashionMnistTest, MalformedFilesAreRefusedWithTheReason) {
  std::vector<uint8_t> bad_magic = Images(5);
  bad_magic[2] = 0x0D;  // float data
  std::vector<uint8_t> bad_label = Labels(5);
  bad_label.back() = 10;
  const std::vector<BrokenCase> cases = {
      {"magic", "train-images-idx3-ubyte.gz", bad_magic, "magic number"},
      {"rank", "train-images-idx3-ubyte.gz", Labels(5), "magic number"},
      {"truncated", "train-images-idx3-ubyte.gz", Truncated(), "holds only"},
      {"trailing", "train-labels-idx1-ubyte.gz", Trailing(), "trailing"},
      {"empty", "train-labels-idx1-ubyte.gz", {}, "shorter than"},
      {"size", "train-images-idx3-ubyte.gz", Images(5, 27, 28),
       "expected 28x28"},
      {"count", "train-labels-idx1-ubyte.gz", Labels(4), "same count"},
      {"label", "train-labels-idx1-ubyte.gz", bad_label, "label 10"},
  };
  for (const BrokenCase& c : cases) {
    SetUp();
    WriteGz(Path(c.file), c.bytes);
    absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
    EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(data.status().message(), HasSubstr(c.expected)) << c.name;
    EXPECT_THAT(data.status().message(), HasSubstr(c.file)) << c.name;
  }
}

TEST_F(FashionMnistTest, CorruptGzipIsDataLoss) {
  std::vector<uint8_t> bytes = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  for (int i = 0; i < 64; ++i) bytes.push_back(0xff);
  WritePlain(Path("train-labels-idx1-ubyte.gz"), bytes);
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(),
              HasSubstr(Path("train-labels-idx1-ubyte.gz")));
}

TEST_F(FashionMnistTest, TruncatedGzipIsDataLoss) {
  // A valid compressed stream cut short.
  const std::string full = Path("full.gz");
  WriteGz(full, Images(5));
  FILE* f = std::fopen(full.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> bytes(1 << 16);
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  ASSERT_GT(bytes.size(), 100u);
  bytes.resize(bytes.size() / 2);
  WritePlain(Path("train-images-idx3-ubyte.gz"), bytes);
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(),
              HasSubstr(Path("train-images-idx3-ubyte.gz")));
}

// The real files, when Debian's dataset-fashion-mnist is installed.
TEST(FashionMnistRealTest, DebianPackage) {
  FILE* f = std::fopen(
      (std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz").c_str(),
      "rb");
  if (f == nullptr) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  std::fclose(f);
  absl::StatusOr<Dataset> data = LoadFashionMnist(kFashionMnistDir);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 60000);
  EXPECT_EQ(data->test.size(), 10000);
  std::vector<int> counts(10, 0);
  for (int32_t l : data->test.labels) ++counts[l];
  for (int c : counts) EXPECT_EQ(c, 1000);
}

}  // namespace
}  // namespace freezing::train
