#include "trace/trace_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "trace/trace_format.h"

namespace freezing::trace {

absl::StatusOr<TraceWriter> TraceWriter::Open(
    const std::string& path, const TraceWriterOptions& options) {
  if (options.sync_every_records < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", path, ": sync_every_records must be >= 0, got ",
                     options.sync_every_records));
  }
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("trace ", path, ": open"));
  }
  TraceWriter writer(path, fd, options);
  const std::string header = EncodeFileHeader();
  RETURN_IF_ERROR(writer.WriteAll(header.data(), header.size()));
  return writer;
}

TraceWriter::TraceWriter(std::string path, int fd,
                         const TraceWriterOptions& options)
    : path_(std::move(path)), fd_(fd), options_(options) {}

TraceWriter::TraceWriter(TraceWriter&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      options_(other.options_),
      records_(other.records_),
      bytes_(other.bytes_),
      saw_footer_(other.saw_footer_),
      failed_(std::exchange(other.failed_, absl::OkStatus())),
      buffer_(std::move(other.buffer_)) {}

TraceWriter& TraceWriter::operator=(TraceWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    options_ = other.options_;
    records_ = other.records_;
    bytes_ = other.bytes_;
    saw_footer_ = other.saw_footer_;
    failed_ = std::exchange(other.failed_, absl::OkStatus());
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

TraceWriter::~TraceWriter() { Close().IgnoreError(); }

absl::Status TraceWriter::Error(absl::string_view what) const {
  return absl::ErrnoToStatus(errno, absl::StrCat("trace ", path_, ": ", what));
}

absl::Status TraceWriter::WriteAll(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = Error(absl::StrCat("write at byte ", bytes_));
      return failed_;
    }
    data += n;
    size -= static_cast<size_t>(n);
    bytes_ += n;
  }
  return absl::OkStatus();
}

absl::Status TraceWriter::Write(const TraceRecord& record) {
  if (!failed_.ok()) return failed_;
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", path_, ": Write after Close"));
  }
  const bool is_header = record.kind_case() == TraceRecord::kHeader;
  if (records_ == 0) {
    if (!is_header) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace ", path_, ": the first record must be a Header"));
    }
    if (record.header().schema_version() != kSchemaVersion) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace ", path_, ": Header.schema_version is ",
                       record.header().schema_version(),
                       ", this writer writes ", kSchemaVersion));
    }
  } else if (is_header) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trace ", path_, ": a second Header (record ", records_, ")"));
  }
  if (saw_footer_) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", path_, ": a record after the Footer (record ",
                     records_, ")"));
  }
  const size_t size = record.ByteSizeLong();
  if (size > kMaxRecordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", path_, ": record ", records_, " is ", size,
                     " bytes, more than the limit of ", kMaxRecordBytes));
  }
  // Frame in one buffer so the record reaches the file in one write().
  buffer_.resize(kRecordOverheadBytes + size);
  char* out = buffer_.data();
  EncodeLittleEndian32(static_cast<uint32_t>(size), out);
  EncodeLittleEndian32(base::Crc32c(absl::string_view(out, 4)), out + 4);
  char* payload = out + kRecordHeaderBytes;
  record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  EncodeLittleEndian32(base::Crc32c(absl::string_view(payload, size)),
                       payload + size);
  RETURN_IF_ERROR(WriteAll(buffer_.data(), buffer_.size()));
  ++records_;
  if (record.kind_case() == TraceRecord::kFooter) saw_footer_ = true;
  if (options_.sync_every_records > 0 &&
      records_ % options_.sync_every_records == 0) {
    RETURN_IF_ERROR(Sync());
  }
  return absl::OkStatus();
}

absl::Status TraceWriter::Sync() {
  if (!failed_.ok()) return failed_;
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", path_, ": Sync after Close"));
  }
  if (::fdatasync(fd_) != 0) {
    failed_ = Error("fdatasync");
    return failed_;
  }
  return absl::OkStatus();
}

absl::Status TraceWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status = failed_;
  if (status.ok() && options_.sync_on_close) status = Sync();
  if (::close(fd_) != 0 && status.ok()) status = Error("close");
  fd_ = -1;
  // The file's folder entry too, so that a closed trace survives a power
  // loss (base/file.h).
  if (status.ok() && options_.sync_on_close) {
    status = base::SyncFolder(base::FolderOf(path_));
  }
  return status;
}

}  // namespace freezing::trace
