#include "sim/step_map.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace freezing::sim {
namespace {

// The recorded run's steps per epoch (the configuration's, else the steps
// of its first epoch).
int64_t RecordedStepsPerEpoch(const RecordedRun& run) {
  if (run.context.steps_per_epoch > 0) return run.context.steps_per_epoch;
  int64_t n = 0;
  while (n < run.num_steps() && run.steps[n].epoch == run.steps[0].epoch) ++n;
  return std::max<int64_t>(1, n);
}

// Steps per epoch at `world_size` with the recorded data set (see
// step_map.h); 0 when not one full batch per rank is left.
int64_t SameDataStepsPerEpoch(const RecordedRun& run, int world_size) {
  const trace::RunConfig& c = run.header.config();
  const bool iid = c.partition().empty() || c.partition() == "iid";
  if (iid && c.train_samples() > 0 && run.batch_size > 0) {
    return c.train_samples() / world_size / run.batch_size;
  }
  return RecordedStepsPerEpoch(run) * run.world_size / world_size;
}

// The largest world size with a full batch per rank, for the error.
int LargestWorldSize(const RecordedRun& run) {
  // Steps per epoch never grow with the world size: bisect.
  int lo = 1, hi = 1 << 20;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (SameDataStepsPerEpoch(run, mid) > 0) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Base intervals every T steps of `steps` simulated steps.
std::vector<int64_t> IntervalsEveryT(int64_t steps, int t) {
  std::vector<int64_t> out;
  for (int64_t last = t - 1; last < steps; last += t) out.push_back(last);
  return out;
}

}  // namespace

absl::StatusOr<Scaling> ParseScaling(absl::string_view text) {
  if (text == "same_data") return Scaling::kSameData;
  if (text == "same_steps") return Scaling::kSameSteps;
  return absl::InvalidArgumentError(
      absl::StrCat("--scaling=", text,
                   ": valid values are same_data (the recorded data set and "
                   "epochs on N ranks) and same_steps (the recorded steps, "
                   "each on N ranks' batches)"));
}

absl::StatusOr<IntervalUnit> ParseIntervalUnit(absl::string_view text) {
  if (text == "steps") return IntervalUnit::kSteps;
  if (text == "epochs") return IntervalUnit::kEpochs;
  return absl::InvalidArgumentError(absl::StrCat(
      "--interval_in=", text, ": valid values are steps and epochs"));
}

std::string ScalingName(Scaling scaling) {
  return scaling == Scaling::kSameData ? "same_data" : "same_steps";
}

std::string IntervalUnitName(IntervalUnit unit) {
  return unit == IntervalUnit::kSteps ? "steps" : "epochs";
}

StepMap IdentityStepMap(const RecordedRun& run) {
  StepMap m;
  m.world_size = run.world_size;
  m.steps_per_epoch = RecordedStepsPerEpoch(run);
  m.global_batch = m.recorded_global_batch =
      int64_t{run.batch_size} * run.world_size;
  m.recorded_step.resize(run.num_steps());
  m.epoch.resize(run.num_steps());
  for (int64_t s = 0; s < run.num_steps(); ++s) {
    m.recorded_step[s] = s;
    m.epoch[s] = run.steps[s].epoch;
  }
  m.interval_last_step =
      IntervalsEveryT(run.num_steps(), std::max(1, run.stats_interval));
  return m;
}

absl::StatusOr<StepMap> MakeStepMap(const RecordedRun& run, Scaling scaling,
                                    IntervalUnit interval_in, int world_size) {
  const int n = world_size > 0 ? world_size : run.world_size;
  StepMap m = IdentityStepMap(run);
  m.scaling = scaling;
  m.interval_in = interval_in;
  m.world_size = n;
  m.global_batch = int64_t{run.batch_size} * n;
  m.statistics_assumed = n != run.world_size;
  if (n == run.world_size || scaling == Scaling::kSameSteps) return m;

  const int64_t spe_r = RecordedStepsPerEpoch(run);
  const int64_t spe_n = SameDataStepsPerEpoch(run, n);
  if (spe_n < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--world_size=", n, " with --scaling=same_data: the recorded data set ",
        "leaves no full batch of ", run.batch_size, " per rank; valid: world ",
        "sizes up to ", LargestWorldSize(run), ", or --scaling=same_steps"));
  }
  m.identity = false;
  m.steps_per_epoch = spe_n;
  m.recorded_step.clear();
  m.epoch.clear();
  // Epoch by epoch, each simulated step at the same place in its epoch.
  const int64_t recorded = run.num_steps();
  for (int64_t e = 0; e * spe_r < recorded; ++e) {
    for (int64_t k = 0; k < spe_n; ++k) {
      const int64_t r = e * spe_r + k * spe_r / spe_n;
      if (r >= recorded) break;
      m.recorded_step.push_back(r);
      m.epoch.push_back(run.steps[r].epoch);
    }
  }
  const int t = std::max(1, run.stats_interval);
  if (interval_in == IntervalUnit::kSteps) {
    m.interval_last_step = IntervalsEveryT(m.num_steps(), t);
    return m;
  }
  // Epochs: where each recorded interval ended in the data.
  m.interval_last_step.clear();
  for (const RecordedInterval& iv : run.intervals) {
    const int64_t done = iv.stats.last_step + 1;  // recorded steps done
    // The first replayed step by which that data has been seen.
    const int64_t q =
        done / spe_r * spe_n + (done % spe_r * spe_n + spe_r - 1) / spe_r;
    int64_t last = std::min(std::max<int64_t>(q, 1), m.num_steps()) - 1;
    if (!m.interval_last_step.empty()) {
      last = std::max(last, m.interval_last_step.back());
    }
    m.interval_last_step.push_back(last);
  }
  return m;
}

}  // namespace freezing::sim
