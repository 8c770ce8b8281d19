#include "train/trace_recorder.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "trace/trace_reader.h"

namespace freezing::train {
namespace {

void CopyWindow(const freeze::WindowNorms& from, trace::UnitWindowNorms* to) {
  for (double v : from.l2) to->add_l2(v);
  for (double v : from.l1) to->add_l1(v);
  for (double v : from.dot_global) to->add_dot_global(v);
  for (int64_t v : from.trained_steps) to->add_trained_steps(v);
}

}  // namespace

trace::Interval ToTraceInterval(const freeze::BaseIntervalStats& s) {
  trace::Interval out;
  out.set_index(s.index);
  out.set_first_step(s.first_step);
  out.set_last_step(s.last_step);
  out.set_epoch(s.epoch);
  out.set_progress(s.progress);
  for (size_t u = 0; u < s.global.size(); ++u) {
    trace::UnitWindowNorms* n = out.add_global();
    n->set_unit(static_cast<int>(u));
    CopyWindow(s.global[u], n);
  }
  for (const freeze::RankWindowStats& r : s.ranks) {
    trace::RankStats* rs = out.add_ranks();
    rs->set_rank(r.rank);
    for (int64_t v : r.samples) rs->add_samples(v);
    for (double v : r.mean_loss) rs->add_mean_loss(v);
    for (size_t u = 0; u < r.units.size(); ++u) {
      trace::UnitWindowNorms* n = rs->add_units();
      n->set_unit(static_cast<int>(u));
      CopyWindow(r.units[u], n);
    }
  }
  return out;
}

trace::FreezeEvent ToTraceFreezeEvent(const freeze::FreezeDecision& d,
                                      const std::string& policy,
                                      const std::string& rule) {
  trace::FreezeEvent e;
  e.set_step(d.apply_step);
  e.set_epoch(d.epoch);
  e.set_interval(d.interval);
  e.set_policy(policy);
  e.set_rule(rule);
  for (int u : d.decision.freeze) e.add_freeze(u);
  for (int u : d.decision.unfreeze) e.add_unfreeze(u);
  for (const freeze::Vote& v : d.votes) {
    trace::Vote* tv = e.add_votes();
    tv->set_rank(v.rank);
    for (int u : v.freeze) tv->add_freeze(u);
    for (int u : v.unfreeze) tv->add_unfreeze(u);
    tv->set_weight(v.weight);
  }
  e.set_reason(d.decision.reason);
  return e;
}

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
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot replace ", path, " with the resumed trace"));
  }
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
