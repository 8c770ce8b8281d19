// The start-up profile (trace.proto StartupProfile): measured on a real batch
// before training, on every rank at once (so ranks compete for cores as they
// will in training). It tells the simulator what the recorded run never
// executed: a frozen unit's no-grad forward, plain and in its inference form
// (folded), the backward of a unit that was frozen from the start, the first
// trainable unit's backward without its input gradient, the optimizer's cost
// per parameter, all-reduce times per bucket size on this run's ranks; and,
// for models with 4-d activations, a training step's forward, backward and
// statistics accumulation in either memory format (whether
// --memory_format=channels_last would pay on this machine and batch: the
// trainer says so at start-up).
//
// The model's state is left as it was (BatchNorm running statistics are
// restored, gradients cleared); the reducer must not exist yet, since its
// gradient hooks would see the profile's backward passes.
#ifndef FREEZING_TRAIN_PROFILER_H_
#define FREEZING_TRAIN_PROFILER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "trace/trace.pb.h"
#include "train/models/unit_model.h"

namespace freezing::train {

// `bucket_bytes`: the all-reduce message sizes to measure (with more than one
// rank). Medians of `repeats` measurements after one warm-up each.
absl::StatusOr<trace::StartupProfile> ProfileStartup(
    UnitModel& model, const at::Tensor& images, const at::Tensor& labels,
    comm::Communicator& comm, const std::vector<int64_t>& bucket_bytes,
    int repeats);

// PrefixForwardNsPerSample: every unit's forward per sample as part of the
// frozen prefix, from `profile`: in its inference form when `folded` (the
// no-grad forward where an older profile has no folded number).
std::vector<double> PrefixForwardNsPerSample(
    const trace::StartupProfile& profile, bool folded);

// ForwardNoGradNsPerSample: every unit's no-grad forward time per sample on
// `images`, in eval mode (what the start-up profile's forward_nograd_ns
// measures; folded units in their inference form), for a resumed run, which
// has no profile. Medians of `repeats`
// measurements after one warm-up. Leaves the model's modes and buffers as
// they were.
std::vector<double> ForwardNoGradNsPerSample(UnitModel& model,
                                             const at::Tensor& images,
                                             int repeats);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_PROFILER_H_
