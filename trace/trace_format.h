// The byte layout of a trace file, shared by TraceWriter and TraceReader.
//
// A trace file is a 12-byte file header followed by zero or more records.
// All integers are little-endian; offsets are from the start of the file.
//
//   File header (kFileHeaderBytes = 12):
//     [0, 8)   magic  89 46 52 5A 54 52 43 0A   ("\x89FRZTRC\n")
//     [8, 12)  uint32 format version (kFormatVersion)
//
//   Record (kRecordOverheadBytes = 12 bytes + payload), repeated:
//     [0, 4)        uint32 n: payload length in bytes, n <= kMaxRecordBytes
//     [4, 8)        uint32 CRC32C of bytes [0, 4) (the length field)
//     [8, 8+n)      payload: one serialized freezing.trace.TraceRecord
//     [8+n, 12+n)   uint32 CRC32C of the payload bytes
//
// Why this layout:
// - The magic's first byte is not ASCII and its last is '\n', so a file sent
//   through a 7-bit or line-ending-converting channel, or a text file, is
//   rejected at once (the PNG trick).
// - The format version covers only this framing; what the payloads mean is
//   versioned separately by Header.schema_version (kSchemaVersion), because
//   protobuf already absorbs additive schema changes.
// - The length has its own checksum (as in TFRecord) so that a damaged length
//   is reported as a bad record at the right offset instead of sending the
//   reader on to read a wrong span, and a zero-filled region (what some file
//   systems leave after a crash) fails it: CRC32C("\0\0\0\0") != 0.
// - Each record is written with one write() and nothing refers back to earlier
//   bytes, so a run that dies leaves a valid prefix plus at most one partial
//   record, which the reader reports as truncated.
// - CRCs are not masked (LevelDB masks because its payloads may embed CRCs;
//   ours never do).
#ifndef FREEZING_TRACE_TRACE_FORMAT_H_
#define FREEZING_TRACE_TRACE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace freezing::trace {

// kMagic is the first 8 bytes of every trace file.
inline constexpr char kMagic[] =
    "\x89"
    "FRZTRC\n";
inline constexpr size_t kMagicBytes = 8;

// kFormatVersion is the version of the framing above. A reader refuses other
// versions (FailedPrecondition: a newer tool is needed).
inline constexpr uint32_t kFormatVersion = 1;

// kSchemaVersion is what a writer puts in Header.schema_version. Bump it for a
// change to trace.proto that old readers would misread (renumbered or
// re-purposed fields); additive changes keep it.
inline constexpr uint32_t kSchemaVersion = 1;

inline constexpr size_t kFileHeaderBytes = kMagicBytes + 4;
inline constexpr size_t kRecordHeaderBytes = 8;   // length + its CRC32C
inline constexpr size_t kRecordTrailerBytes = 4;  // payload CRC32C
inline constexpr size_t kRecordOverheadBytes =
    kRecordHeaderBytes + kRecordTrailerBytes;

// kMaxRecordBytes bounds a payload. The largest real record, the Header of a
// ResNet-50 (a few hundred parameters), is well under 1 MiB; the bound keeps a
// damaged or hostile file from making a reader allocate gigabytes.
inline constexpr uint32_t kMaxRecordBytes = 64u << 20;

// EncodeFileHeader returns the 12 bytes every trace starts with.
std::string EncodeFileHeader();

// AppendFramedRecord appends one record (header, `payload`, trailer) to
// `out`. The payload must be at most kMaxRecordBytes (the caller checks).
void AppendFramedRecord(absl::string_view payload, std::string* out);

// EncodeLittleEndian32 / DecodeLittleEndian32: the integer encoding above.
void EncodeLittleEndian32(uint32_t value, char* out);
uint32_t DecodeLittleEndian32(const char* in);

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_FORMAT_H_
