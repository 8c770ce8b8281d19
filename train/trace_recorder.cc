#include "train/trace_recorder.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "trace/trace_reader.h"

namespace freezing::train {
absl::StatusOr<std::unique_ptr<TraceRecorder>> TraceRecorder::Create(
    const std::string& path, const trace::Header& header) {
  ASSIGN_OR_RETURN(trace::TraceWriter writer, trace::TraceWriter::Open(path));
  auto recorder =
      std::unique_ptr<TraceRecorder>(new TraceRecorder(std::move(writer)));
  trace::TraceRecord record;
  *record.mutable_header() = header;
  RETURN_IF_ERROR(recorder->Write(record));
  return recorder;
}

absl::StatusOr<std::unique_ptr<TraceRecorder>> TraceRecorder::Resume(
    const std::string& path, int64_t resume_step, int resume_epoch) {
  trace::TraceContents old = trace::ReadTrace(path);
  if (!old.header.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume the trace ", path, ": ",
        old.status.ok() ? "it has no header" : old.status.ToString(),
        "; remove it to start a new trace"));
  }
  // Write the kept records to a new file, then rename it over the old one:
  // a crash in between leaves the old trace as it was.
  const std::string temp = absl::StrCat(path, ".resume.tmp");
  ASSIGN_OR_RETURN(trace::TraceWriter writer, trace::TraceWriter::Open(temp));
  auto put = [&](auto setter) -> absl::Status {
    trace::TraceRecord r;
    setter(r);
    return writer.Write(r);
  };
  RETURN_IF_ERROR(
      put([&](trace::TraceRecord& r) { *r.mutable_header() = *old.header; }));
  if (old.profile.has_value()) {
    RETURN_IF_ERROR(put(
        [&](trace::TraceRecord& r) { *r.mutable_profile() = *old.profile; }));
  }
  // Records in the order the run wrote them: by step. Events and intervals
  // of a step follow its Step record; epochs follow their last step.
  size_t s = 0, i = 0, f = 0, e = 0;
  for (int64_t step = 0; step < resume_step; ++step) {
    while (s < old.steps.size() && old.steps[s].step() == step) {
      RETURN_IF_ERROR(put(
          [&](trace::TraceRecord& r) { *r.mutable_step() = old.steps[s]; }));
      ++s;
    }
    while (i < old.intervals.size() && old.intervals[i].last_step() == step) {
      RETURN_IF_ERROR(put([&](trace::TraceRecord& r) {
        *r.mutable_interval() = old.intervals[i];
      }));
      ++i;
    }
    while (f < old.freeze_events.size() &&
           old.freeze_events[f].step() <= step + 1) {
      RETURN_IF_ERROR(put([&](trace::TraceRecord& r) {
        *r.mutable_freeze_event() = old.freeze_events[f];
      }));
      ++f;
    }
    while (e < old.epochs.size() && old.epochs[e].last_step() == step &&
           old.epochs[e].epoch() < resume_epoch) {
      RETURN_IF_ERROR(put(
          [&](trace::TraceRecord& r) { *r.mutable_epoch() = old.epochs[e]; }));
      ++e;
    }
  }
  RETURN_IF_ERROR(writer.Sync());
  RETURN_IF_ERROR(base::RenameDurably(temp, path));
  auto recorder =
      std::unique_ptr<TraceRecorder>(new TraceRecorder(std::move(writer)));
  recorder->resumed_ = true;
  recorder->has_profile_ = old.profile.has_value();
  return recorder;
}

absl::Status TraceRecorder::Write(const trace::TraceRecord& record) {
  if (record.has_profile()) has_profile_ = true;
  return writer_.Write(record);
}

absl::Status TraceRecorder::WriteProfile(const trace::StartupProfile& p) {
  trace::TraceRecord r;
  *r.mutable_profile() = p;
  return Write(r);
}

absl::Status TraceRecorder::WriteStep(const trace::Step& step) {
  trace::TraceRecord r;
  *r.mutable_step() = step;
  return Write(r);
}

absl::Status TraceRecorder::WriteInterval(const trace::Interval& interval) {
  trace::TraceRecord r;
  *r.mutable_interval() = interval;
  return Write(r);
}

absl::Status TraceRecorder::WriteFreezeEvent(const trace::FreezeEvent& event) {
  trace::TraceRecord r;
  *r.mutable_freeze_event() = event;
  return Write(r);
}

absl::Status TraceRecorder::WriteEpoch(const trace::Epoch& epoch) {
  trace::TraceRecord r;
  *r.mutable_epoch() = epoch;
  return Write(r);
}

absl::Status TraceRecorder::Finish(const trace::Footer& footer) {
  trace::TraceRecord r;
  *r.mutable_footer() = footer;
  r.mutable_footer()->set_resumed(footer.resumed() || resumed_);
  RETURN_IF_ERROR(Write(r));
  return writer_.Close();
}

}  // namespace freezing::train
