#include "train/data/cifar10.h"

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

// `n` records whose label is (first + i) % 10 and whose pixel k of record i
// is (i + k) % 251.
std::vector<uint8_t> Records(int n, int first) {
  std::vector<uint8_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back((first + i) % 10);
    for (int k = 0; k < 3072; ++k) out.push_back((first + i + k) % 251);
  }
  return out;
}

void Write(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

class Cifar10Test : public ::testing::Test {
 protected:
  void MakeFolder(const std::string& dir) {
    ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
    for (int b = 1; b <= 5; ++b) {
      Write(absl::StrCat(dir, "/data_batch_", b, ".bin"),
            Records(2, 2 * (b - 1)));
    }
    Write(dir + "/test_batch.bin", Records(3, 7));
  }
  std::string TestDir() const {
    return absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
};

TEST_F(Cifar10Test, ReadsAllBatchesInOrder) {
  const std::string dir = TestDir();
  MakeFolder(dir);
  absl::StatusOr<Dataset> data = LoadCifar10(dir);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 10);
  EXPECT_EQ(data->test.size(), 3);
  EXPECT_EQ(data->train.channels, 3);
  EXPECT_EQ(data->train.height, 32);
  EXPECT_EQ(data->mean.size(), 3u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(data->train.labels[i], i);
  EXPECT_EQ(data->test.labels, (std::vector<int32_t>{7, 8, 9}));
  // Record 4 (first record of data_batch_3), green plane, pixel (1, 2).
  EXPECT_EQ(data->train.image(4)[1024 + 32 + 2], (4 + 1024 + 32 + 2) % 251);
}

TEST_F(Cifar10Test, FindsTheArchiveSubfolder) {
  const std::string dir = TestDir();
  MakeFolder(dir + "/cifar-10-batches-bin");
  absl::StatusOr<Dataset> data = LoadCifar10(dir);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.size(), 10);
}

TEST_F(Cifar10Test, MissingFileIsNamed) {
  const std::string dir = TestDir();
  MakeFolder(dir);
  std::remove((dir + "/test_batch.bin").c_str());
  absl::StatusOr<Dataset> data = LoadCifar10(dir);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(), HasSubstr(dir + "/test_batch.bin"));
  EXPECT_THAT(data.status().message(), HasSubstr("3072"));
}

TEST_F(Cifar10Test, WrongLengthIsDataLoss) {
  const std::string dir = TestDir();
  MakeFolder(dir);
  std::vector<uint8_t> bytes = Records(2, 0);
  bytes.pop_back();
  Write(dir + "/data_batch_2.bin", bytes);
  absl::StatusOr<Dataset> data = LoadCifar10(dir);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("data_batch_2.bin is 6145"));
  EXPECT_THAT(data.status().message(), HasSubstr("multiple of 3073"));
}

TEST_F(Cifar10Test, EmptyFileIsDataLoss) {
  const std::string dir = TestDir();
  MakeFolder(dir);
  Write(dir + "/data_batch_5.bin", {});
  EXPECT_EQ(LoadCifar10(dir).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(Cifar10Test, BadLabelIsDataLoss) {
  const std::string dir = TestDir();
  MakeFolder(dir);
  std::vector<uint8_t> bytes = Records(2, 0);
  bytes[3073] = 12;
  Write(dir + "/test_batch.bin", bytes);
  absl::StatusOr<Dataset> data = LoadCifar10(dir);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("record 1"));
  EXPECT_THAT(data.status().message(), HasSubstr("label 12"));
}

}  // namespace
}  // namespace freezing::train
