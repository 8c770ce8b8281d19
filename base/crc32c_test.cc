#include "base/crc32c.h"

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace freezing::base {
namespace {

// The bit-at-a-time definition, independent of the tables under test.
uint32_t ReferenceCrc32c(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i) {
      crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
    }
  }
  return ~crc;
}

struct KnownVector {
  const char* name;
  std::string data;
  uint32_t crc;
};

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string Ascending(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::string Descending(int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 (iSCSI) appendix B.4, plus the customary check value.
  const KnownVector kVectors[] = {
      {"empty", "", 0x00000000u},
      {"check", "123456789", 0xE3069283u},
      {"32 zeros", std::string(32, '\0'), 0x8A9136AAu},
      {"32 0xFF", std::string(32, '\xFF'), 0x62A8AB43u},
      {"ascending", Ascending(32), 0x46DD794Eu},
      {"descending", Descending(32), 0x113FDB5Cu},
      {"iSCSI read PDU",
       Bytes({0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
              0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
              0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
              0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}),
       0xD9963A56u},
  };
  for (const KnownVector& v : kVectors) {
    EXPECT_EQ(Crc32c(v.data), v.crc) << v.name;
    EXPECT_EQ(ReferenceCrc32c(v.data), v.crc) << v.name;
  }
}

TEST(Crc32cTest, MatchesBitwiseDefinitionAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::string buffer(300, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= buffer.size(); ++len) {
      const std::string piece = buffer.substr(start, len);
      // Crc32c over a pointer into `buffer` exercises unaligned starts.
      ASSERT_EQ(Crc32c(absl::string_view(buffer.data() + start, len)),
                ReferenceCrc32c(piece))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string data = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Crc32c(absl::string_view(data.data(), split));
    EXPECT_EQ(ExtendCrc32c(first, data.data() + split, data.size() - split),
              whole)
        << "split " << split;
  }
}

TEST(Crc32cTest, DetectsEverySingleBitFlip) {
  std::string data = "gradient norms per base interval";
  const uint32_t crc = Crc32c(data);
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      data[i] ^= static_cast<char>(1 << bit);
      EXPECT_NE(Crc32c(data), crc) << "byte " << i << " bit " << bit;
      data[i] ^= static_cast<char>(1 << bit);
    }
  }
}

}  // namespace
}  // namespace freezing::base
