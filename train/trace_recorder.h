// TraceRecorder: rank 0's side of a run's trace (trace/trace.proto). The
// trainer hands it what it measured as plain facts (StepFacts, EpochFacts,
// HeaderFacts, the RunSummary); the recorder builds the records from them
// (ToTraceStep, ToTraceEpoch, ToTraceHeader, ToTraceFooter) and streams them
// through trace::TraceWriter, one flushed record at a time.
//
// On --resume the old trace is kept up to the checkpoint: its valid records
// that describe steps before the resume point are copied into a fresh file
// that atomically replaces it, and the run appends from there, so the trace
// of a resumed run reads like one run (its Footer says resumed).
#ifndef FREEZING_TRAIN_TRACE_RECORDER_H_
#define FREEZING_TRAIN_TRACE_RECORDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/calibration.pb.h"
#include "trace/trace.pb.h"
#include "trace/trace_writer.h"
#include "train/cache_step_stats.h"
#include "train/summary.h"

namespace freezing::train {

// BucketTimes: one bucket's all-reduce in a step, offsets from the start of
// the step's backward (comm::BucketStepTiming).
struct BucketTimes {
  int64_t bytes = 0;
  int64_t ready_ns = 0;
  int64_t start_ns = 0;
  int64_t done_ns = 0;
};

// StepFacts: what one training step measured. Rank 0's own measurements,
// except the fields marked "all ranks" (the per-step all-gather).
struct StepFacts {
  int64_t step = 0;  // global step, from 0
  int epoch = 0;
  double lr = 0;
  // The step's phase times (one step's sums). stats_ns includes the end of a
  // base interval (statistics and policy); the trace's other_ns is what the
  // phases leave of total_ns.
  PhaseSums phases;
  std::vector<int64_t> unit_forward_ns;   // per unit, 0 when not run
  std::vector<int64_t> unit_backward_ns;  // per unit, 0 when not run
  std::vector<bool> trainable;            // per unit: trained in this step
  int64_t bytes_allreduced = 0;
  int buckets = 0;
  std::vector<BucketTimes> bucket_times;
  CacheStepStats cache;
  double mean_loss = 0;                  // all ranks
  int64_t max_rank_total_ns = 0;         // all ranks
  bool cache_disabled_anywhere = false;  // all ranks
  bool prefix_folded = false;  // the frozen prefix ran in its inference form
};

// EpochFacts: the end of one epoch.
struct EpochFacts {
  int epoch = 0;
  int64_t last_step = 0;
  double test_accuracy = 0;
  double test_loss = 0;
  double train_loss = 0;  // mean over the epoch's steps of their mean loss
  int64_t train_ns = 0;   // sum of the epoch's step totals
  int64_t eval_ns = 0;
  int64_t wall_ns = 0;
};

// HeaderFacts: what the trace header says of a run: its configuration, the
// model, the machine and the binary, and the network calibration if given.
struct HeaderFacts {
  struct Unit {
    std::string name;
    int64_t params = 0;  // elements (float32: 4 bytes each)
    double forward_flops_per_sample = 0;
    int64_t output_elements_per_sample = 0;
    bool is_classifier = false;
  };
  struct Param {
    std::string name;
    int64_t numel = 0;
    int element_bytes = 0;
    int unit = -1;
  };
  trace::RunConfig config;
  std::vector<Unit> units;    // forward order
  std::vector<Param> params;  // registration order
  int cores = 0;
  int threads_per_rank = 0;
  std::string cpu_model;
  std::string hostname;
  std::vector<std::string> rank_hosts;                         // by rank
  std::vector<std::pair<std::string, std::string>> libraries;  // name, version
  std::string revision;
  int64_t start_unix_ns = 0;
  std::string calibration_source;  // the file `calibration` was read from
  std::optional<comm::Calibration> calibration;
};

// ToTraceStep / ToTraceEpoch / ToTraceHeader / ToTraceFooter: the records,
// field by field; PhaseTimes.other_ns = total minus the other phases (the
// exposed, not the total, communication), at least 0.
trace::Step ToTraceStep(const StepFacts& facts);
trace::Epoch ToTraceEpoch(const EpochFacts& facts);
trace::Header ToTraceHeader(const HeaderFacts& facts);
// ToTraceFooter: `resumed` is false; TraceRecorder::Finish sets it.
trace::Footer ToTraceFooter(const RunSummary& summary);

class TraceRecorder {
 public:
  // A new trace at `path` starting with the header of `facts`.
  static absl::StatusOr<std::unique_ptr<TraceRecorder>> Create(
      const std::string& path, const HeaderFacts& facts);

  // Continues the trace at `path` from global step `resume_step` (epoch
  // `resume_epoch`): keeps its records of earlier steps and epochs; the
  // header's config.epochs becomes `epochs` (a finished run continued with
  // more epochs). FailedPrecondition when the old trace has no usable
  // header.
  static absl::StatusOr<std::unique_ptr<TraceRecorder>> Resume(
      const std::string& path, int64_t resume_step, int resume_epoch,
      int epochs);

  absl::Status Write(const trace::TraceRecord& record);
  absl::Status WriteProfile(const trace::StartupProfile& profile);
  absl::Status WriteStep(const StepFacts& facts);
  absl::Status WriteInterval(const trace::Interval& interval);
  absl::Status WriteFreezeEvent(const trace::FreezeEvent& event);
  absl::Status WriteEpoch(const EpochFacts& facts);
  // Writes the footer of `summary` and closes the file.
  absl::Status Finish(const RunSummary& summary);

  bool resumed() const { return resumed_; }
  bool has_profile() const { return has_profile_; }
  const std::string& path() const { return writer_.path(); }
  // Moved: the trace's folder was renamed; the file is now at `path`.
  void Moved(std::string path) { writer_.Moved(std::move(path)); }

 private:
  explicit TraceRecorder(trace::TraceWriter writer)
      : writer_(std::move(writer)) {}
  trace::TraceWriter writer_;
  bool resumed_ = false;
  bool has_profile_ = false;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_TRACE_RECORDER_H_
