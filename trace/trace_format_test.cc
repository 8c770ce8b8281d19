#include "trace/trace_format.h"

#include <string>

#include "base/crc32c.h"
#include "gtest/gtest.h"

namespace freezing::trace {
namespace {

// These pin the layout documented in trace_format.h: changing any of them
// breaks every recorded trace and needs a new kFormatVersion.

TEST(TraceFormatTest, FileHeaderIsMagicThenLittleEndianVersion) {
  EXPECT_EQ(EncodeFileHeader(), std::string("\x89"
                                            "FRZTRC\n"
                                            "\x01\x00\x00\x00",
                                            12));
  EXPECT_EQ(kFileHeaderBytes, 12u);
}

TEST(TraceFormatTest, RecordIsLengthLengthCrcPayloadPayloadCrc) {
  std::string out;
  AppendFramedRecord("abc", &out);
  ASSERT_EQ(out.size(), kRecordOverheadBytes + 3);
  EXPECT_EQ(out.substr(0, 4), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(DecodeLittleEndian32(out.data() + 4),
            base::Crc32c(std::string("\x03\x00\x00\x00", 4)));
  EXPECT_EQ(out.substr(8, 3), "abc");
  // CRC32C("abc") = 0x364B3FB7, stored little-endian.
  EXPECT_EQ(out.substr(11, 4), std::string("\xB7\x3F\x4B\x36", 4));
}

TEST(TraceFormatTest, ZeroFilledRecordHeaderFailsItsChecksum) {
  // What a file system may leave after a crash must not read as a record.
  EXPECT_NE(base::Crc32c(std::string(4, '\0')), 0u);
}

TEST(TraceFormatTest, LittleEndianRoundTrip) {
  char buf[4];
  for (const uint32_t v : {0u, 1u, 0x12345678u, 0xFFFFFFFFu}) {
    EncodeLittleEndian32(v, buf);
    EXPECT_EQ(DecodeLittleEndian32(buf), v);
  }
  EncodeLittleEndian32(0x12345678u, buf);
  EXPECT_EQ(std::string(buf, 4), "\x78\x56\x34\x12");
}

}  // namespace
}  // namespace freezing::trace
