// TraceRecorder: rank 0's side of a run's trace (trace/trace.proto): turns
// the trainer's own structures into records and streams them through
// trace::TraceWriter, one flushed record at a time.
//
// On --resume the old trace is kept up to the checkpoint: its valid records
// that describe steps before the resume point are copied into a fresh file
// that atomically replaces it, and the run appends from there, so the trace
// of a resumed run reads like one run (its Footer says resumed).
#ifndef FREEZING_TRAIN_TRACE_RECORDER_H_
#define FREEZING_TRAIN_TRACE_RECORDER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trace/trace.pb.h"
#include "trace/trace_writer.h"

namespace freezing::train {

class TraceRecorder {
 public:
  // A new trace at `path` starting with `header`.
  static absl::StatusOr<std::unique_ptr<TraceRecorder>> Create(
      const std::string& path, const trace::Header& header);

  // Continues the trace at `path` from global step `resume_step` (epoch
  // `resume_epoch`): keeps its records of earlier steps and epochs.
  // FailedPrecondition when the old trace has no usable header.
  static absl::StatusOr<std::unique_ptr<TraceRecorder>> Resume(
      const std::string& path, int64_t resume_step, int resume_epoch);

  absl::Status Write(const trace::TraceRecord& record);
  absl::Status WriteProfile(const trace::StartupProfile& profile);
  absl::Status WriteStep(const trace::Step& step);
  absl::Status WriteInterval(const trace::Interval& interval);
  absl::Status WriteFreezeEvent(const trace::FreezeEvent& event);
  absl::Status WriteEpoch(const trace::Epoch& epoch);
  // Writes the footer and closes the file.
  absl::Status Finish(const trace::Footer& footer);

  bool resumed() const { return resumed_; }
  bool has_profile() const { return has_profile_; }
  const std::string& path() const { return writer_.path(); }

 private:
  explicit TraceRecorder(trace::TraceWriter writer)
      : writer_(std::move(writer)) {}
  trace::TraceWriter writer_;
  bool resumed_ = false;
  bool has_profile_ = false;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_TRACE_RECORDER_H_
