#include "train/trace_recorder.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "trace/trace_format.h"
#include "trace/trace_reader.h"

namespace freezing::train {
namespace {

// The network calibration, with the file it came from.
void SetNetwork(const std::string& source, const comm::Calibration& cal,
                trace::NetworkCalibration& n) {
  n.set_source(source);
  n.set_ranks(cal.world_size());
  n.set_alpha_s(cal.alpha_s());
  n.set_beta_s_per_byte(cal.beta_s_per_byte());
  n.set_r2(cal.r_squared());
  n.set_transport(cal.transport());
  for (const comm::CalibrationPoint& p : cal.points()) {
    trace::AllReducePoint* tp = n.add_points();
    tp->set_bytes(p.bytes());
    tp->set_ns(static_cast<int64_t>(p.median_s() * 1e9));
  }
}

}  // namespace

trace::Step ToTraceStep(const StepFacts& f) {
  trace::Step s;
  s.set_step(f.step);
  s.set_epoch(f.epoch);
  const PhaseSums& p = f.phases;
  trace::PhaseTimes* ph = s.mutable_phases();
  ph->set_data_ns(p.data_ns);
  ph->set_forward_ns(p.forward_ns);
  ph->set_backward_ns(p.backward_ns);
  ph->set_comm_total_ns(p.comm_total_ns);
  ph->set_comm_exposed_ns(p.comm_exposed_ns);
  ph->set_optimizer_ns(p.optimizer_ns);
  ph->set_stats_ns(p.stats_ns);
  ph->set_total_ns(p.total_ns);
  ph->set_other_ns(std::max<int64_t>(0, p.total_ns - p.data_ns - p.forward_ns -
                                            p.backward_ns - p.comm_exposed_ns -
                                            p.optimizer_ns - p.stats_ns));
  for (int64_t ns : f.unit_forward_ns) s.add_unit_forward_ns(ns);
  for (int64_t ns : f.unit_backward_ns) s.add_unit_backward_ns(ns);
  s.set_bytes_allreduced(f.bytes_allreduced);
  s.set_buckets(f.buckets);
  for (bool t : f.trainable) s.add_trainable(t);
  s.set_loss(f.mean_loss);
  for (const BucketTimes& b : f.bucket_times) {
    trace::BucketTiming* bt = s.add_bucket_timings();
    bt->set_bytes(b.bytes);
    bt->set_ready_ns(b.ready_ns);
    bt->set_start_ns(b.start_ns);
    bt->set_done_ns(b.done_ns);
  }
  // Rank 0's cache use (like the phases), disabled if any rank's cache is
  // off.
  trace::CacheStep* c = s.mutable_cache();
  c->set_hits(f.cache.hits);
  c->set_misses(f.cache.misses);
  c->set_bytes_read(f.cache.bytes_read);
  c->set_bytes_written(f.cache.bytes_written);
  c->set_forward_saved_ns(f.cache.forward_saved_ns);
  c->set_boundary_unit(f.cache.boundary_unit);
  c->set_disabled(f.cache_disabled_anywhere);
  s.set_max_rank_total_ns(f.max_rank_total_ns);
  s.set_lr(f.lr);
  s.set_prefix_folded(f.prefix_folded);
  return s;
}

trace::Epoch ToTraceEpoch(const EpochFacts& f) {
  trace::Epoch e;
  e.set_epoch(f.epoch);
  e.set_last_step(f.last_step);
  e.set_test_accuracy(f.test_accuracy);
  e.set_test_loss(f.test_loss);
  e.set_train_loss(f.train_loss);
  e.set_train_ns(f.train_ns);
  e.set_eval_ns(f.eval_ns);
  e.set_wall_ns(f.wall_ns);
  return e;
}

trace::Header ToTraceHeader(const HeaderFacts& f) {
  trace::Header header;
  header.set_schema_version(trace::kSchemaVersion);
  *header.mutable_config() = f.config;
  for (const HeaderFacts::Unit& u : f.units) {
    trace::Unit* tu = header.add_units();
    tu->set_name(u.name);
    tu->set_params(u.params);
    tu->set_bytes(u.params * 4);
    tu->set_forward_flops_per_sample(u.forward_flops_per_sample);
    tu->set_is_classifier(u.is_classifier);
    tu->set_output_elements_per_sample(u.output_elements_per_sample);
  }
  for (const HeaderFacts::Param& p : f.params) {
    trace::Param* tp = header.add_params();
    tp->set_name(p.name);
    tp->set_numel(p.numel);
    tp->set_element_bytes(p.element_bytes);
    tp->set_unit(p.unit);
  }
  trace::Machine* m = header.mutable_machine();
  m->set_cores(f.cores);
  m->set_threads_per_rank(f.threads_per_rank);
  m->set_cpu_model(f.cpu_model);
  m->set_hostname(f.hostname);
  for (const std::string& h : f.rank_hosts) m->add_rank_hosts(h);
  for (const auto& [name, version] : f.libraries) {
    trace::LibraryVersion* l = header.add_libraries();
    l->set_name(name);
    l->set_version(version);
  }
  header.set_revision(f.revision);
  header.set_start_unix_ns(f.start_unix_ns);
  if (f.calibration.has_value()) {
    SetNetwork(f.calibration_source, *f.calibration, *header.mutable_network());
  }
  return header;
}

trace::Footer ToTraceFooter(const RunSummary& summary) {
  trace::Footer f;
  f.set_steps(summary.steps);
  f.set_total_time_ns(summary.phases.total_ns);
  f.set_final_test_accuracy(summary.test_accuracy_per_epoch.empty()
                                ? 0.0
                                : summary.test_accuracy_per_epoch.back());
  f.set_startup_ns(summary.startup_ns);
  f.set_eval_ns(summary.eval_ns);
  f.set_bytes_allreduced(summary.bytes_allreduced);
  return f;
}

absl::StatusOr<std::unique_ptr<TraceRecorder>> TraceRecorder::Create(
    const std::string& path, const HeaderFacts& facts) {
  ASSIGN_OR_RETURN(trace::TraceWriter writer, trace::TraceWriter::Open(path));
  auto recorder =
      std::unique_ptr<TraceRecorder>(new TraceRecorder(std::move(writer)));
  trace::TraceRecord record;
  *record.mutable_header() = ToTraceHeader(facts);
  RETURN_IF_ERROR(recorder->Write(record));
  return recorder;
}

absl::StatusOr<std::unique_ptr<TraceRecorder>> TraceRecorder::Resume(
    const std::string& path, int64_t resume_step, int resume_epoch,
    int epochs) {
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
  RETURN_IF_ERROR(put([&](trace::TraceRecord& r) {
    *r.mutable_header() = *old.header;
    r.mutable_header()->mutable_config()->set_epochs(epochs);
  }));
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

absl::Status TraceRecorder::WriteStep(const StepFacts& facts) {
  trace::TraceRecord r;
  *r.mutable_step() = ToTraceStep(facts);
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

absl::Status TraceRecorder::WriteEpoch(const EpochFacts& facts) {
  trace::TraceRecord r;
  *r.mutable_epoch() = ToTraceEpoch(facts);
  return Write(r);
}

absl::Status TraceRecorder::Finish(const RunSummary& summary) {
  trace::TraceRecord r;
  *r.mutable_footer() = ToTraceFooter(summary);
  r.mutable_footer()->set_resumed(resumed_);
  RETURN_IF_ERROR(Write(r));
  return writer_.Close();
}

}  // namespace freezing::train
