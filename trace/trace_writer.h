// TraceWriter: streams the records of one run into a trace file (layout in
// trace_format.h), one write() per record, so that whatever happens to the
// process afterwards every record Write() accepted is in the file.
//
// Durability: Write() hands each record to the kernel before it returns, so a
// run that crashes or is killed loses at most the record it was writing (the
// reader reports it as a truncated last record and keeps the prefix). That
// does not survive a crash of the machine itself: for that, fdatasync every N
// records (TraceWriterOptions::sync_every_records) or at Close(); see
// trace_benchmark for what each costs.
//
//   ASSIGN_OR_RETURN(TraceWriter writer, TraceWriter::Open(path));
//   RETURN_IF_ERROR(writer.Write(header_record));  // first: a Header
//   ... RETURN_IF_ERROR(writer.Write(step_record)); ...
//   RETURN_IF_ERROR(writer.Close());
#ifndef FREEZING_TRACE_TRACE_WRITER_H_
#define FREEZING_TRACE_TRACE_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trace/trace.pb.h"

namespace freezing::trace {

struct TraceWriterOptions {
  // fdatasync after every this many records; 0 syncs only in Close().
  int sync_every_records = 0;
  // fdatasync in Close(), so a closed trace survives a power loss.
  bool sync_on_close = true;
};

class TraceWriter {
 public:
  // Open creates (or truncates) the file at `path` and writes the file
  // header. The parent folder must exist (creating it is the caller's job).
  static absl::StatusOr<TraceWriter> Open(
      const std::string& path, const TraceWriterOptions& options = {});

  TraceWriter(TraceWriter&& other) noexcept;
  TraceWriter& operator=(TraceWriter&& other) noexcept;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  // Closes the file if Close() was not called; errors are lost, so call it.
  ~TraceWriter();

  // Write appends one record and hands it to the kernel. The first record
  // must be a Header with schema_version == kSchemaVersion, no later record
  // may be a Header, and nothing may follow a Footer (InvalidArgument, and
  // nothing is written). A record larger than kMaxRecordBytes is
  // InvalidArgument. An I/O error fails this and every later call; the file
  // may then end in a partial record, which a reader reports as truncated.
  absl::Status Write(const TraceRecord& record);

  // Sync forces what was written to the disk (fdatasync).
  absl::Status Sync();

  // Close syncs (unless options say not to) and closes the file. Write after
  // Close is FailedPrecondition; a second Close is OK and does nothing.
  absl::Status Close();

  const std::string& path() const { return path_; }
  // Moved: the open file is now at `path` (its folder was renamed); messages
  // and Close's folder sync use the new path.
  void Moved(std::string path) { path_ = std::move(path); }
  // Records accepted so far.
  int64_t records_written() const { return records_; }
  // Bytes in the file so far, the file header included.
  int64_t bytes_written() const { return bytes_; }

 private:
  TraceWriter(std::string path, int fd, const TraceWriterOptions& options);
  absl::Status WriteAll(const char* data, size_t size);
  absl::Status Error(absl::string_view what) const;

  std::string path_;
  int fd_ = -1;
  TraceWriterOptions options_;
  int64_t records_ = 0;
  int64_t bytes_ = 0;
  bool saw_footer_ = false;
  // Set by the first I/O error; every later call returns it.
  absl::Status failed_;
  // Reused across records to avoid an allocation per Write.
  std::string buffer_;
};

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_WRITER_H_
