#include "trace/trace_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/status_macros.h"
#include "trace/trace_format.h"

namespace freezing::trace {

// Source yields the bytes of a trace in order. Read returns fewer than `n`
// bytes only at the end of the input or on an I/O error (then status() says
// which).
class TraceReader::Source {
 public:
  virtual ~Source() = default;
  virtual size_t Read(char* out, size_t n) = 0;
  virtual absl::Status status() const { return absl::OkStatus(); }
};

namespace {

class FileSource : public TraceReader::Source {
 public:
  FileSource(std::FILE* file, std::string path)
      : file_(file), path_(std::move(path)) {}
  ~FileSource() override { std::fclose(file_); }

  size_t Read(char* out, size_t n) override {
    const size_t got = std::fread(out, 1, n, file_);
    if (got < n && std::ferror(file_)) {
      status_ =
          absl::ErrnoToStatus(errno, absl::StrCat("trace ", path_, ": read"));
    }
    return got;
  }
  absl::Status status() const override { return status_; }

 private:
  std::FILE* file_;
  std::string path_;
  absl::Status status_;
};

class MemorySource : public TraceReader::Source {
 public:
  explicit MemorySource(absl::string_view bytes) : bytes_(bytes) {}
  size_t Read(char* out, size_t n) override {
    const size_t got = std::min(n, bytes_.size() - pos_);
    std::copy_n(bytes_.data() + pos_, got, out);
    pos_ += got;
    return got;
  }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
};

// Payloads are read in pieces no larger than this, so that a length field
// claiming 64 MiB in a 100-byte file costs 1 MiB, not 64.
constexpr size_t kReadChunkBytes = 1 << 20;

const char* KindName(TraceRecord::KindCase kind) {
  switch (kind) {
    case TraceRecord::kHeader:
      return "Header";
    case TraceRecord::kProfile:
      return "StartupProfile";
    case TraceRecord::kStep:
      return "Step";
    case TraceRecord::kInterval:
      return "Interval";
    case TraceRecord::kFreezeEvent:
      return "FreezeEvent";
    case TraceRecord::kEpoch:
      return "Epoch";
    case TraceRecord::kFooter:
      return "Footer";
    case TraceRecord::KIND_NOT_SET:
      break;
  }
  return "record of unknown kind";
}

}  // namespace

TraceReader::TraceReader(std::string path, std::unique_ptr<Source> source)
    : path_(std::move(path)), source_(std::move(source)) {}
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;
TraceReader::~TraceReader() = default;

absl::StatusOr<TraceReader> TraceReader::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("trace ", path, ": open"));
  }
  return Start(path, std::make_unique<FileSource>(file, path));
}

absl::StatusOr<TraceReader> TraceReader::FromBytes(absl::string_view bytes,
                                                   std::string name) {
  return Start(std::move(name), std::make_unique<MemorySource>(bytes));
}

absl::StatusOr<TraceReader> TraceReader::Start(std::string path,
                                               std::unique_ptr<Source> source) {
  TraceReader reader(std::move(path), std::move(source));
  char header[kFileHeaderBytes];
  const size_t got = reader.source_->Read(header, kFileHeaderBytes);
  RETURN_IF_ERROR(reader.source_->status());
  const std::string& p = reader.path_;
  if (got == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", p, ": empty file, not a trace"));
  }
  const size_t magic_got = std::min(got, kMagicBytes);
  if (absl::string_view(header, magic_got) !=
      absl::string_view(kMagic, magic_got)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trace ", p, ": bad magic, not a trace (starts with \"",
        absl::CHexEscape(absl::string_view(header, magic_got)), "\")"));
  }
  if (got < kFileHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("trace ", p, ": byte 0: truncated file header: ", got,
                     " of ", kFileHeaderBytes, " bytes"));
  }
  const uint32_t version = DecodeLittleEndian32(header + kMagicBytes);
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", p, ": format version ", version,
                     ", this reader reads ", kFormatVersion));
  }
  reader.offset_ = kFileHeaderBytes;
  return reader;
}

absl::Status TraceReader::DataLoss(absl::string_view reason) const {
  return absl::DataLossError(absl::StrCat("trace ", path_, ": byte ", offset_,
                                          " (record ", records_,
                                          "): ", reason));
}

absl::Status TraceReader::Invalid(absl::string_view reason) const {
  return absl::InvalidArgumentError(absl::StrCat("trace ", path_, ": byte ",
                                                 offset_, " (record ", records_,
                                                 "): ", reason));
}

absl::Status TraceReader::Next(TraceRecord* record) {
  if (sticky_.ok()) sticky_ = ReadRecord(record);
  if (sticky_.ok()) return absl::OkStatus();
  return sticky_;
}

absl::StatusOr<TraceRecord> TraceReader::Next() {
  TraceRecord record;
  RETURN_IF_ERROR(Next(&record));
  return record;
}

absl::Status TraceReader::ReadRecord(TraceRecord* record) {
  ASSIGN_OR_RETURN(const uint32_t length, ReadRecordHeader());
  RETURN_IF_ERROR(ReadPayload(length));
  if (!record->ParseFromString(payload_)) {
    return DataLoss(absl::StrCat("unparsable payload: ", length,
                                 " bytes with a good checksum are not a "
                                 "TraceRecord"));
  }
  if (records_ == 0) RETURN_IF_ERROR(CheckFirstRecord(*record));
  offset_ += kRecordOverheadBytes + length;
  ++records_;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> TraceReader::ReadRecordHeader() {
  char header[kRecordHeaderBytes];
  const size_t got = source_->Read(header, kRecordHeaderBytes);
  RETURN_IF_ERROR(source_->status());
  if (got == 0) {
    if (records_ == 0) {
      return Invalid("no records: missing Header (the run wrote nothing)");
    }
    return absl::OutOfRangeError(absl::StrCat(
        "trace ", path_, ": end after ", records_, " records, byte ", offset_));
  }
  if (got < kRecordHeaderBytes) {
    return DataLoss(absl::StrCat("truncated record header: ", got, " of ",
                                 kRecordHeaderBytes, " bytes"));
  }
  const uint32_t length = DecodeLittleEndian32(header);
  const uint32_t length_crc = DecodeLittleEndian32(header + 4);
  const uint32_t computed_length_crc =
      base::Crc32c(absl::string_view(header, 4));
  if (length_crc != computed_length_crc) {
    return DataLoss(absl::StrCat("bad record header checksum: stored 0x",
                                 absl::Hex(length_crc), ", computed 0x",
                                 absl::Hex(computed_length_crc)));
  }
  if (length > kMaxRecordBytes) {
    return DataLoss(absl::StrCat("record too large: ", length,
                                 " bytes, the limit is ", kMaxRecordBytes));
  }
  return length;
}

absl::Status TraceReader::ReadPayload(uint32_t length) {
  payload_.clear();
  while (payload_.size() < length) {
    const size_t want =
        std::min<size_t>(length - payload_.size(), kReadChunkBytes);
    const size_t old_size = payload_.size();
    payload_.resize(old_size + want);
    const size_t n = source_->Read(payload_.data() + old_size, want);
    RETURN_IF_ERROR(source_->status());
    if (n < want) {
      return DataLoss(absl::StrCat("truncated payload: ", old_size + n, " of ",
                                   length, " bytes"));
    }
  }
  char trailer[kRecordTrailerBytes];
  const size_t trailer_got = source_->Read(trailer, kRecordTrailerBytes);
  RETURN_IF_ERROR(source_->status());
  if (trailer_got < kRecordTrailerBytes) {
    return DataLoss(absl::StrCat("truncated payload: checksum ", trailer_got,
                                 " of ", kRecordTrailerBytes, " bytes"));
  }
  const uint32_t crc = DecodeLittleEndian32(trailer);
  const uint32_t computed_crc = base::Crc32c(payload_);
  if (crc != computed_crc) {
    return DataLoss(absl::StrCat("bad payload checksum: stored 0x",
                                 absl::Hex(crc), ", computed 0x",
                                 absl::Hex(computed_crc)));
  }
  return absl::OkStatus();
}

absl::Status TraceReader::CheckFirstRecord(const TraceRecord& record) const {
  if (record.kind_case() != TraceRecord::kHeader) {
    return Invalid(absl::StrCat("missing Header: the first record is a ",
                                KindName(record.kind_case())));
  }
  const uint32_t schema = record.header().schema_version();
  if (schema == 0) {
    return Invalid("the Header has no schema_version");
  }
  if (schema > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", path_, ": schema version ", schema,
                     ", this reader reads up to ", kSchemaVersion));
  }
  return absl::OkStatus();
}

namespace {

// Adds `record` to `contents`, or says why it is out of place.
absl::Status Keep(TraceRecord& record, int64_t offset,
                  TraceContents& contents) {
  auto out_of_order = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", contents.path, ": byte ", offset, " (record ",
                     contents.records, "): ", what));
  };
  if (contents.footer.has_value()) {
    return out_of_order(
        absl::StrCat("a ", KindName(record.kind_case()), " after the Footer"));
  }
  switch (record.kind_case()) {
    case TraceRecord::kHeader:
      if (contents.header.has_value()) return out_of_order("a second Header");
      contents.header = std::move(*record.mutable_header());
      break;
    case TraceRecord::kProfile:
      if (contents.profile.has_value()) {
        return out_of_order("a second StartupProfile");
      }
      contents.profile = std::move(*record.mutable_profile());
      break;
    case TraceRecord::kStep:
      contents.steps.push_back(std::move(*record.mutable_step()));
      break;
    case TraceRecord::kInterval:
      contents.intervals.push_back(std::move(*record.mutable_interval()));
      break;
    case TraceRecord::kFreezeEvent:
      contents.freeze_events.push_back(
          std::move(*record.mutable_freeze_event()));
      break;
    case TraceRecord::kEpoch:
      contents.epochs.push_back(std::move(*record.mutable_epoch()));
      break;
    case TraceRecord::kFooter:
      contents.footer = std::move(*record.mutable_footer());
      break;
    case TraceRecord::KIND_NOT_SET:
      ++contents.unknown_records;
      break;
  }
  ++contents.records;
  return absl::OkStatus();
}

TraceContents ReadAll(absl::StatusOr<TraceReader> opened, std::string name) {
  TraceContents contents;
  contents.path = std::move(name);
  if (!opened.ok()) {
    contents.status = opened.status();
    return contents;
  }
  TraceReader& reader = *opened;
  contents.valid_bytes = reader.offset();
  TraceRecord record;
  while (true) {
    const int64_t offset = reader.offset();
    absl::Status status = reader.Next(&record);
    if (!status.ok()) {
      if (!absl::IsOutOfRange(status)) contents.status = std::move(status);
      break;
    }
    status = Keep(record, offset, contents);
    if (!status.ok()) {
      contents.status = std::move(status);
      break;
    }
    contents.valid_bytes = reader.offset();
  }
  return contents;
}

}  // namespace

TraceContents ReadTrace(const std::string& path) {
  return ReadAll(TraceReader::Open(path), path);
}

TraceContents ReadTraceFromBytes(absl::string_view bytes, std::string name) {
  return ReadAll(TraceReader::FromBytes(bytes, name), name);
}

}  // namespace freezing::trace
