#include "trace/trace_format.h"

#include "base/crc32c.h"

namespace freezing::trace {

void EncodeLittleEndian32(uint32_t value, char* out) {
  out[0] = static_cast<char>(value & 0xFFu);
  out[1] = static_cast<char>((value >> 8) & 0xFFu);
  out[2] = static_cast<char>((value >> 16) & 0xFFu);
  out[3] = static_cast<char>((value >> 24) & 0xFFu);
}

uint32_t DecodeLittleEndian32(const char* in) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(in);
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

std::string EncodeFileHeader() {
  std::string header(kMagic, kMagicBytes);
  char version[4];
  EncodeLittleEndian32(kFormatVersion, version);
  header.append(version, 4);
  return header;
}

void AppendFramedRecord(absl::string_view payload, std::string* out) {
  char word[4];
  EncodeLittleEndian32(static_cast<uint32_t>(payload.size()), word);
  out->append(word, 4);
  EncodeLittleEndian32(base::Crc32c(absl::string_view(word, 4)), word);
  out->append(word, 4);
  out->append(payload.data(), payload.size());
  EncodeLittleEndian32(base::Crc32c(payload), word);
  out->append(word, 4);
}

}  // namespace freezing::trace
