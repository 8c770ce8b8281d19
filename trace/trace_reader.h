// TraceReader: reads a trace file (layout in trace_format.h) record by record,
// validating as it goes, and ReadTrace: the whole file into a TraceContents
// for tools (trace_tool, sim/, replay/).
//
// The reader never crashes and never trusts a length: whatever the bytes, it
// returns records or a status that names the file, the byte offset of the
// first bad record and why it is bad. Status codes say what to do about it:
//   OutOfRange          the end of the trace (Next() after the last record);
//   DataLoss            the bytes are broken: truncated record header,
//                       bad record header checksum, record too large,
//                       truncated payload, bad payload checksum, unparsable
//                       payload (the valid prefix before it is still good);
//   InvalidArgument     not a trace: empty file, bad magic, no records or a
//                       first record that is not a Header, a Header without
//                       schema_version;
//   FailedPrecondition  a trace this build cannot read: another format
//                       version or a newer schema_version (update the tool);
//   others              I/O errors from the file system (errno's code).
#ifndef FREEZING_TRACE_TRACE_READER_H_
#define FREEZING_TRACE_TRACE_READER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trace/trace.pb.h"

namespace freezing::trace {

class TraceReader {
 public:
  // Open opens the file at `path` and checks its magic and format version.
  static absl::StatusOr<TraceReader> Open(const std::string& path);

  // FromBytes reads a trace held in memory (`bytes` must outlive the
  // reader); `name` stands for the path in messages.
  static absl::StatusOr<TraceReader> FromBytes(absl::string_view bytes,
                                               std::string name = "<memory>");

  TraceReader(TraceReader&&) noexcept;
  TraceReader& operator=(TraceReader&&) noexcept;
  ~TraceReader();

  // Next reads the next record into `record`. Returns OutOfRange after the
  // last record, or the first error (see above); errors and the end are
  // sticky: every later call returns the same status.
  absl::Status Next(TraceRecord* record);
  absl::StatusOr<TraceRecord> Next();

  // offset is the byte offset of the next record; after an error, that of
  // the bad record, so [0, offset()) is the valid prefix.
  int64_t offset() const { return offset_; }
  // Records returned so far.
  int64_t records_read() const { return records_; }
  const std::string& path() const { return path_; }

  // The source of bytes (a file or memory); defined in trace_reader.cc.
  class Source;

 private:
  TraceReader(std::string path, std::unique_ptr<Source> source);
  static absl::StatusOr<TraceReader> Start(std::string path,
                                           std::unique_ptr<Source> source);
  absl::Status ReadRecord(TraceRecord* record);
  // ReadRecord's steps: the payload length from a record's header
  // (OutOfRange at the end), the payload into payload_ with its checksum
  // checked, and what the first record must be (a Header this reader reads).
  absl::StatusOr<uint32_t> ReadRecordHeader();
  absl::Status ReadPayload(uint32_t length);
  absl::Status CheckFirstRecord(const TraceRecord& record) const;
  absl::Status DataLoss(absl::string_view reason) const;
  absl::Status Invalid(absl::string_view reason) const;

  std::string path_;
  std::unique_ptr<Source> source_;
  int64_t offset_ = 0;
  int64_t records_ = 0;
  absl::Status sticky_;  // OK until the end or the first error
  std::string payload_;  // reused across records
};

// TraceContents: a trace as read by ReadTrace, or its valid prefix.
struct TraceContents {
  std::string path;
  std::optional<Header> header;
  std::optional<StartupProfile> profile;
  std::vector<Step> steps;
  std::vector<Interval> intervals;
  std::vector<FreezeEvent> freeze_events;
  std::vector<Epoch> epochs;
  std::optional<Footer> footer;

  // Records read and kept, of every kind.
  int64_t records = 0;
  // Records of a kind this build does not know (a newer writer): skipped.
  int64_t unknown_records = 0;
  // [0, valid_bytes) of the file held the records above.
  int64_t valid_bytes = 0;
  // OK when the whole file was read; otherwise why reading stopped (the
  // reader's status, or InvalidArgument for records out of order: a second
  // StartupProfile or Footer, or any record after the Footer).
  absl::Status status;

  // complete: read to the end without error, and the run wrote its Footer.
  bool complete() const { return status.ok() && footer.has_value(); }
};

// ReadTrace reads the trace at `path` up to its end or its first bad record;
// it returns what it read either way, with the reason it stopped in
// `status`. A trace of a run that died is usable up to where it stopped.
TraceContents ReadTrace(const std::string& path);

// ReadTraceFromBytes: ReadTrace of a trace held in memory.
TraceContents ReadTraceFromBytes(absl::string_view bytes,
                                 std::string name = "<memory>");

}  // namespace freezing::trace

#endif  // FREEZING_TRACE_TRACE_READER_H_
