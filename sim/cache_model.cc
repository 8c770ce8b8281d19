#include "sim/cache_model.h"

#include <algorithm>
#include <utility>

#include "sim/nanoseconds.h"

namespace freezing::sim {

CacheModel::CacheModel(Options options) : options_(std::move(options)) {
  inv_variants_ = options_.variants > 0 ? 1.0 / options_.variants : 0;
  if (options_.steps_per_epoch < 1) options_.steps_per_epoch = 1;
}

double CacheModel::ReadNs(int boundary) const {
  return options_.read_ns_per_element *
         static_cast<double>(options_.output_elements[boundary]) *
         static_cast<double>(options_.batch_size);
}

double CacheModel::CoverageAfterEpoch() const {
  return std::min(
      1.0, coverage_ + (1.0 - coverage_) *
                           static_cast<double>(steps_in_epoch_) /
                           static_cast<double>(options_.steps_per_epoch) *
                           inv_variants_);
}

void CacheModel::StartEpoch(int epoch) {
  if (boundary_ >= 0) coverage_ = CoverageAfterEpoch();
  hit_ = coverage_;
  old_hit_ = old_next_;
  steps_in_epoch_ = 0;
  epoch_ = epoch;
}

void CacheModel::MoveBoundary(int boundary) {
  if (boundary > boundary_ && boundary_ >= 0) {
    // Samples already seen this epoch come back only next epoch.
    old_boundary_ = boundary_;
    old_hit_ = hit_;
    old_next_ = CoverageAfterEpoch();
  } else {
    old_boundary_ = -1;
    old_hit_ = 0;
    old_next_ = 0;
  }
  boundary_ = boundary;
  coverage_ = 0;
  hit_ = 0;
  steps_in_epoch_ = 0;
}

CacheModel::StepCache CacheModel::Step(
    int epoch, int boundary, const std::vector<int64_t>& unit_forward_ns) {
  if (!started_) {
    started_ = true;
    epoch_ = epoch;
  }
  if (epoch != epoch_) StartEpoch(epoch);
  if (boundary != boundary_) MoveBoundary(boundary);
  StepCache out;
  if (boundary_ < 0) return out;
  // Shares of this step's samples: hits at this boundary, hits at the old
  // one (carried through the newly frozen units), misses.
  const double h = hit_;
  const double x = old_boundary_ >= 0 ? (1.0 - h) * old_hit_ : 0.0;
  const double miss = 1.0 - h - x;
  const double write = ReadNs(boundary_);
  int64_t prefix_fwd = 0, extend_fwd = 0;
  for (int u = 0; u <= boundary_; ++u) {
    prefix_fwd += unit_forward_ns[u];
    if (u > old_boundary_) extend_fwd += unit_forward_ns[u];
  }
  const double old_read = old_boundary_ >= 0 ? ReadNs(old_boundary_) : 0.0;
  const double cost = h * write +
                      x * (old_read + static_cast<double>(extend_fwd) + write) +
                      miss * (static_cast<double>(prefix_fwd) + write);
  out.active = true;
  out.ns = RoundNs(cost);
  out.hit_share = h;
  ++steps_in_epoch_;
  hit_sum_ += h;
  ++hit_steps_;
  return out;
}

double CacheModel::MeanHitShare() const {
  return hit_steps_ > 0 ? hit_sum_ / static_cast<double>(hit_steps_) : 0;
}

}  // namespace freezing::sim
