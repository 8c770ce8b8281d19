// libFuzzer target: TraceReader, ReadTrace and everything trace_tool computes
// from what they return must survive any bytes (no crash, no sanitizer
// report, no unbounded allocation) and keep their invariants.
//
// Built with Debian's clang (-fsanitize=fuzzer,address) by the genrule
// :trace_reader_fuzzer and run for a bounded time by
// :trace_reader_fuzz_test; by hand:
//   bazel build //trace:trace_reader_fuzzer
//   bazel-bin/trace/trace_reader_fuzzer CORPUS_DIR -max_total_time=60
//
// Each input is read twice: as a file (most mutations break a checksum, which
// tests the framing), and re-framed with valid checksums (its pieces between
// "\xFE\xFE" separators become record payloads after a valid file header),
// which takes mutations past the checksums into protobuf parsing, the
// structure checks and the tools.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "trace/chrome_trace.h"
#include "trace/trace_csv.h"
#include "trace/trace_format.h"
#include "trace/trace_reader.h"
#include "trace/trace_summary.h"
#include "trace/trace_tool.h"

namespace freezing::trace {
namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void Exercise(absl::string_view bytes) {
  // Record by record, as a streaming consumer does.
  absl::StatusOr<TraceReader> reader = TraceReader::FromBytes(bytes, "fuzz");
  if (reader.ok()) {
    TraceRecord record;
    int64_t offset = reader->offset();
    absl::Status status;
    while ((status = reader->Next(&record)).ok()) {
      Check(reader->offset() > offset);
      offset = reader->offset();
    }
    Check(reader->offset() == offset);
    Check(offset <= static_cast<int64_t>(bytes.size()));
    Check(reader->Next(&record) == status);  // errors are sticky
  }

  // The whole trace, as tools read it, and what they make of it.
  const TraceContents contents = ReadTraceFromBytes(bytes, "fuzz");
  Check(contents.valid_bytes <= static_cast<int64_t>(bytes.size()));
  Check(!contents.status.ok() || contents.header.has_value());
  const TraceSummary summary = Summarize(contents);
  Check(summary.steps == static_cast<int64_t>(contents.steps.size()));
  std::ostringstream sink;
  WriteInfo(contents, summary, sink);
  WriteStepsCsv(contents, sink);
  WriteIntervalsCsv(contents, sink);
  WriteChromeTrace(contents, sink);
}

}  // namespace
}  // namespace freezing::trace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace freezing::trace;
  // Protobuf logs every invalid UTF-8 string it rejects; that is expected
  // here and would slow the fuzzer down.
  static const bool kQuiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)kQuiet;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  Exercise(input);

  std::string framed = EncodeFileHeader();
  for (absl::string_view payload : absl::StrSplit(input, "\xFE\xFE")) {
    AppendFramedRecord(payload, &framed);
  }
  Exercise(framed);
  return 0;
}
