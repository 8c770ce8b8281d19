// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the
// checksum of every trace record (see trace_format.h).
//
// Implemented here, slicing-by-8 over tables computed at compile time, because
// neither Debian's abseil 20220623 (absl/crc arrived later) nor zlib (plain
// CRC32 only) provides it. CRC32C rather than zlib's CRC32 because it is the
// checksum of the record formats the trace format follows (LevelDB, TFRecord)
// and detects more error patterns in short messages.
#ifndef FREEZING_BASE_CRC32C_H_
#define FREEZING_BASE_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace freezing::base {

// ExtendCrc32c returns the CRC32C of the bytes whose CRC32C is `crc` followed
// by `data[0, size)`. ExtendCrc32c(0, ...) starts a new checksum, so
// Crc32c(a + b) == ExtendCrc32c(Crc32c(a), b).
uint32_t ExtendCrc32c(uint32_t crc, const void* data, size_t size);

// Crc32c returns the CRC32C of `data` ("123456789" -> 0xE3069283).
inline uint32_t Crc32c(absl::string_view data) {
  return ExtendCrc32c(0, data.data(), data.size());
}

}  // namespace freezing::base

#endif  // FREEZING_BASE_CRC32C_H_
