#include "train/grad_stats.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "freeze/window_norms.h"

namespace freezing::train {
namespace {

using base::NowNs;

constexpr int kMaxWindow = freeze::kMaxWindowSums;

// Accumulation: gradients above this many elements are added over the torch
// threads (smaller ones on the calling thread: a parallel region costs more
// than it saves there).
constexpr int64_t kParallelElements = int64_t{1} << 15;

// acc[0, n) = 0 + g (the first gradient of the interval: the same float as
// adding it to a zeroed accumulator, without reading or zeroing acc), or
// acc += g.
void AddContiguous(float* acc, const float* g, int64_t n, bool first) {
  auto body = [acc, g, first](int64_t b, int64_t e) {
    if (first) {
#pragma omp simd
      for (int64_t j = b; j < e; ++j) acc[j] = 0.0f + g[j];
    } else {
#pragma omp simd
      for (int64_t j = b; j < e; ++j) acc[j] += g[j];
    }
  };
  if (n >= kParallelElements) {
    at::parallel_for(0, n, kParallelElements, body);
  } else {
    body(0, n);
  }
}

// The same for a gradient [O, C, H, W] in channels-last memory order
// (O, H, W, C) into an accumulator in logical order (O, C, H, W): the
// accumulator, its norms and checkpoints do not depend on the memory format.
void AddChannelsLast(float* acc, const float* g, int64_t out, int64_t c,
                     int64_t hw, bool first) {
  const int64_t per = c * hw;
  auto body = [=](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      float* a = acc + o * per;
      const float* x = g + o * per;
      for (int64_t s = 0; s < hw; ++s) {
        for (int64_t i = 0; i < c; ++i) {
          float& dst = a[i * hw + s];
          dst = (first ? 0.0f : dst) + x[s * c + i];
        }
      }
    }
  };
  if (out * per >= kParallelElements) {
    at::parallel_for(0, out, std::max<int64_t>(1, kParallelElements / per),
                     body);
  } else {
    body(0, out);
  }
}

// The norm pass's chunks over the torch threads (its result does not depend
// on how they are spread).
void ParallelChunks(int64_t chunks,
                    const std::function<void(int64_t, int64_t)>& fn) {
  at::parallel_for(0, chunks, 1, fn);
}

// Fixed-layout encoding of one rank's statistics for the all-gather.
void PutI64(std::string& s, int64_t v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(v));
}
void PutF64(std::string& s, double v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

class Cursor {
 public:
  explicit Cursor(const std::string& s) : s_(s) {}
  bool I64(int64_t& v) { return Take(&v, sizeof(v)); }
  bool F64(double& v) { return Take(&v, sizeof(v)); }
  bool done() const { return pos_ == s_.size(); }

 private:
  bool Take(void* out, size_t n) {
    if (pos_ + n > s_.size()) return false;
    std::memcpy(out, s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  const std::string& s_;
  size_t pos_ = 0;
};

std::string EncodeRank(const freeze::RankWindowStats& r, int k) {
  std::string s;
  PutI64(s, r.rank);
  for (int w = 0; w < k; ++w) {
    PutI64(s, r.samples[w]);
    PutF64(s, r.mean_loss[w]);
  }
  PutI64(s, static_cast<int64_t>(r.units.size()));
  for (const freeze::WindowNorms& u : r.units) {
    for (int w = 0; w < k; ++w) {
      PutF64(s, u.l2[w]);
      PutF64(s, u.l1[w]);
      PutF64(s, u.dot_global[w]);
      PutI64(s, u.trained_steps[w]);
    }
  }
  return s;
}

absl::StatusOr<freeze::RankWindowStats> DecodeRank(const std::string& s, int k,
                                                   int num_units) {
  Cursor c(s);
  freeze::RankWindowStats r;
  int64_t rank = 0, units = 0;
  bool ok = c.I64(rank);
  r.rank = static_cast<int>(rank);
  r.samples.resize(k);
  r.mean_loss.resize(k);
  for (int w = 0; ok && w < k; ++w)
    ok = c.I64(r.samples[w]) && c.F64(r.mean_loss[w]);
  ok = ok && c.I64(units) && units == num_units;
  if (ok) r.units.resize(num_units);
  for (int u = 0; ok && u < num_units; ++u) {
    freeze::WindowNorms& n = r.units[u];
    n.l2.resize(k);
    n.l1.resize(k);
    n.dot_global.resize(k);
    n.trained_steps.resize(k);
    for (int w = 0; ok && w < k; ++w) {
      ok = c.F64(n.l2[w]) && c.F64(n.l1[w]) && c.F64(n.dot_global[w]) &&
           c.I64(n.trained_steps[w]);
    }
  }
  if (!ok || !c.done()) {
    return absl::InternalError(
        absl::StrCat("gradient statistics from another rank are malformed (",
                     s.size(), " bytes for ", num_units, " units, window ", k,
                     "): are all ranks running the same binary and model?"));
  }
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GradientStatistics>> GradientStatistics::Create(
    const StatsLayout& layout, int window, comm::Communicator* comm) {
  if (window < 1 || window > kMaxWindow) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--stats_window must be in [1, ", kMaxWindow, "], got ", window));
  }
  if (layout.param_numel.size() != layout.param_unit.size()) {
    return absl::InvalidArgumentError("statistics layout: sizes differ");
  }
  auto s = std::unique_ptr<GradientStatistics>(new GradientStatistics());
  s->window_ = window;
  s->num_units_ = layout.num_units;
  s->comm_ = comm;
  s->unit_begin_.assign(layout.num_units, -1);
  s->unit_end_.assign(layout.num_units, -1);
  int64_t offset = 0;
  int last_unit = -1;
  for (size_t p = 0; p < layout.param_numel.size(); ++p) {
    const int u = layout.param_unit[p];
    if (u < 0 || u >= layout.num_units) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", p, " belongs to unknown unit ", u));
    }
    if (u != last_unit) {
      if (s->unit_begin_[u] != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("the parameters of unit ", u,
                         " are not contiguous in registration order"));
      }
      s->unit_begin_[u] = offset;
      last_unit = u;
    }
    s->param_offset_.push_back(offset);
    s->param_numel_.push_back(layout.param_numel[p]);
    offset += layout.param_numel[p];
    s->unit_end_[u] = offset;
  }
  for (int u = 0; u < layout.num_units; ++u) {
    if (s->unit_begin_[u] == -1) s->unit_begin_[u] = s->unit_end_[u] = offset;
  }
  s->total_numel_ = offset;
  // With one rank the global sums are the local ones: no buffers, no copy,
  // and the fused norms read each interval sum once.
  const bool one_rank = comm->size() == 1;
  for (int w = 0; w < window; ++w) {
    s->local_.push_back(at::zeros({offset}, at::kFloat));
    if (!one_rank) s->global_.push_back(at::zeros({offset}, at::kFloat));
  }
  s->touched_.assign(layout.param_numel.size(), 0);
  s->dirty_.assign(window, std::vector<char>(layout.param_numel.size(), 0));
  s->trained_steps_.assign(window, std::vector<int64_t>(layout.num_units, 0));
  s->samples_.assign(window, 0);
  s->loss_sum_.assign(window, 0.0);
  return s;
}

void AccumulateGradient(float* acc, const at::Tensor& grad, bool first) {
  const int64_t n = grad.numel();
  if (grad.scalar_type() == at::kFloat && grad.is_contiguous()) {
    AddContiguous(acc, grad.data_ptr<float>(), n, first);
  } else if (grad.scalar_type() == at::kFloat && grad.dim() == 4 &&
             grad.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    AddChannelsLast(acc, grad.data_ptr<float>(), grad.size(0), grad.size(1),
                    grad.size(2) * grad.size(3), first);
  } else {
    at::NoGradGuard no_grad;
    at::Tensor a = at::from_blob(acc, {n}, at::kFloat);
    if (first) a.zero_();
    a.add_(grad.reshape({-1}));
  }
}

void GradientStatistics::AccumulateLocal(int param, const at::Tensor& grad) {
  const int64_t t0 = NowNs();
  const bool first = !touched_[param];
  touched_[param] = 1;
  TORCH_CHECK(grad.numel() == param_numel_[param], "parameter ", param,
              ": a gradient of ", grad.numel(), " elements for ",
              param_numel_[param]);
  AccumulateGradient(local_[head_].data_ptr<float>() + param_offset_[param],
                     grad, first);
  accumulate_ns_ += NowNs() - t0;
}

void GradientStatistics::ZeroUntouched() {
  // The head slot last held the interval W before this one. A parameter
  // accumulated in this interval overwrote its segment at its first
  // gradient; one that was not must read as zeros, as if the slot had been
  // zeroed when the interval began.
  std::vector<char>& dirty = dirty_[head_];
  for (size_t p = 0; p < touched_.size(); ++p) {
    if (touched_[p]) {
      dirty[p] = 1;
    } else if (dirty[p]) {
      local_[head_].narrow(0, param_offset_[p], param_numel_[p]).zero_();
      dirty[p] = 0;
    }
  }
}

void GradientStatistics::EndStep(int64_t samples, double loss_sum,
                                 const std::vector<bool>& unit_trained) {
  samples_[head_] += samples;
  loss_sum_[head_] += loss_sum;
  for (int u = 0; u < num_units_; ++u) {
    if (unit_trained[u]) ++trained_steps_[head_][u];
  }
}

int64_t GradientStatistics::TakeAccumulateNs() {
  return std::exchange(accumulate_ns_, 0);
}

absl::StatusOr<freeze::BaseIntervalStats> GradientStatistics::FinishInterval(
    int64_t index, int64_t first_step, int64_t last_step, int epoch,
    double progress) {
  at::NoGradGuard no_grad;
  const int ranks = comm_->size();
  int64_t t = NowNs();
  const auto lap = [&t] {
    const int64_t now = NowNs();
    return now - std::exchange(t, now);
  };
  ZeroUntouched();
  interval_cost_.zero_ns = lap();
  if (ranks > 1) RETURN_IF_ERROR(SumOverRanks());
  interval_cost_.all_reduce_ns = lap();
  freeze::BaseIntervalStats stats;
  stats.index = index;
  stats.first_step = first_step;
  stats.last_step = last_step;
  stats.epoch = epoch;
  stats.progress = progress;
  const int k =
      static_cast<int>(std::min<int64_t>(window_, intervals_done_ + 1));
  freeze::RankWindowStats mine = WindowStats(k, stats.global);
  interval_cost_.norms_ns = lap();
  if (ranks > 1) {
    ASSIGN_OR_RETURN(stats.ranks, GatherRanks(mine, k));
  } else {
    stats.ranks.push_back(std::move(mine));
  }
  interval_cost_.gather_ns = lap();
  StartNextInterval();
  return stats;
}

absl::Status GradientStatistics::SumOverRanks() {
  // Global sum of this interval: all-reduce the local sums of the units
  // trained in it (the same units on every rank), in maximal runs. The
  // global buffers hold sums over ranks; norms are scaled by 1/ranks.
  at::Tensor& g = global_[head_];
  for (int u = 0; u < num_units_;) {
    if (unit_begin_[u] == unit_end_[u]) {
      ++u;
      continue;
    }
    if (trained_steps_[head_][u] == 0) {
      g.narrow(0, unit_begin_[u], unit_end_[u] - unit_begin_[u]).zero_();
      ++u;
      continue;
    }
    int v = u;
    while (v + 1 < num_units_ && trained_steps_[head_][v + 1] > 0) ++v;
    const int64_t begin = unit_begin_[u];
    const int64_t n = unit_end_[v] - begin;
    at::Tensor seg = g.narrow(0, begin, n);
    seg.copy_(local_[head_].narrow(0, begin, n));
    RETURN_IF_ERROR(
        comm_->AllReduceSum(seg.data_ptr<float>(), n, comm::DType::kFloat32));
    u = v + 1;
  }
  return absl::OkStatus();
}

freeze::RankWindowStats GradientStatistics::WindowStats(
    int k, std::vector<freeze::WindowNorms>& global) const {
  const int ranks = comm_->size();
  const double inv_ranks = 1.0 / ranks;
  std::vector<const float*> lp(k), gp(k);
  std::vector<int> slot(k);
  for (int w = 0; w < k; ++w) {
    slot[w] = (head_ - w + window_) % window_;
    lp[w] = local_[slot[w]].data_ptr<float>();
    gp[w] = ranks > 1 ? global_[slot[w]].data_ptr<float>() : lp[w];
  }
  global.resize(num_units_);
  freeze::RankWindowStats mine;
  mine.rank = comm_->rank();
  mine.units.resize(num_units_);
  for (int w = 0; w < k; ++w) {
    int64_t samples = 0;
    double loss = 0;
    for (int x = 0; x <= w; ++x) {
      samples += samples_[slot[x]];
      loss += loss_sum_[slot[x]];
    }
    mine.samples.push_back(samples);
    mine.mean_loss.push_back(samples > 0 ? loss / samples : 0.0);
  }
  for (int u = 0; u < num_units_; ++u) {
    std::vector<int64_t> trained(k);
    int64_t t = 0;
    for (int w = 0; w < k; ++w) {
      t += trained_steps_[slot[w]][u];
      trained[w] = t;
    }
    freeze::WindowSums sums;
    if (t > 0) {
      sums = freeze::WindowNormSums(lp, gp, unit_begin_[u], unit_end_[u],
                                    /*same=*/ranks == 1, ParallelChunks);
    } else {
      sums.local_l2.assign(k, 0.0);
      sums.local_l1 = sums.global_l2 = sums.global_l1 = sums.dot =
          sums.local_l2;
    }
    freeze::WindowNorms& gn = global[u];
    freeze::WindowNorms& ln = mine.units[u];
    for (int w = 0; w < k; ++w) {
      gn.l2.push_back(std::sqrt(sums.global_l2[w]) * inv_ranks);
      gn.l1.push_back(sums.global_l1[w] * inv_ranks);
      gn.trained_steps.push_back(trained[w]);
      ln.l2.push_back(std::sqrt(sums.local_l2[w]));
      ln.l1.push_back(sums.local_l1[w]);
      ln.dot_global.push_back(sums.dot[w] * inv_ranks);
      ln.trained_steps.push_back(trained[w]);
    }
  }
  return mine;
}

absl::StatusOr<std::vector<freeze::RankWindowStats>>
GradientStatistics::GatherRanks(const freeze::RankWindowStats& mine,
                                int k) const {
  ASSIGN_OR_RETURN(std::vector<std::string> all,
                   comm_->AllGatherBytes(EncodeRank(mine, k)));
  std::vector<freeze::RankWindowStats> ranks;
  for (const std::string& bytes : all) {
    ASSIGN_OR_RETURN(freeze::RankWindowStats r,
                     DecodeRank(bytes, k, num_units_));
    ranks.push_back(std::move(r));
  }
  return ranks;
}

void GradientStatistics::StartNextInterval() {
  // The oldest slot becomes the next interval's accumulator (its segments
  // are overwritten by their first gradient; ZeroUntouched clears the rest).
  ++intervals_done_;
  head_ = (head_ + 1) % window_;
  std::fill(touched_.begin(), touched_.end(), 0);
  std::fill(trained_steps_[head_].begin(), trained_steps_[head_].end(), 0);
  samples_[head_] = 0;
  loss_sum_[head_] = 0;
}

StatsState GradientStatistics::SaveState() const {
  StatsState s;
  s.head = head_;
  s.intervals_done = intervals_done_;
  s.local = local_;
  // The head slot as a zeroed-then-accumulated buffer would be: segments not
  // accumulated yet in this interval hold zeros, not an older interval.
  for (size_t p = 0; p < touched_.size(); ++p) {
    if (touched_[p] || !dirty_[head_][p]) continue;
    if (s.local[head_].is_same(local_[head_])) {
      s.local[head_] = local_[head_].clone();
    }
    s.local[head_].narrow(0, param_offset_[p], param_numel_[p]).zero_();
  }
  s.global = global_;
  s.trained_steps = trained_steps_;
  s.samples = samples_;
  s.loss_sum = loss_sum_;
  return s;
}

absl::Status GradientStatistics::LoadState(const StatsState& s) {
  if (s.local.size() != static_cast<size_t>(window_) ||
      s.global.size() != global_.size() ||
      s.trained_steps.size() != static_cast<size_t>(window_) ||
      s.samples.size() != static_cast<size_t>(window_) ||
      s.loss_sum.size() != static_cast<size_t>(window_) || s.head < 0 ||
      s.head >= window_) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpointed gradient statistics were made with another "
                     "--stats_window (this run: ",
                     window_, ", checkpoint: ", s.local.size(), ")"));
  }
  for (int w = 0; w < window_; ++w) {
    if (s.local[w].numel() != total_numel_ ||
        (!global_.empty() && s.global[w].numel() != total_numel_) ||
        s.trained_steps[w].size() != static_cast<size_t>(num_units_)) {
      return absl::InvalidArgumentError(
          "checkpointed gradient statistics do not fit this model");
    }
  }
  at::NoGradGuard no_grad;
  head_ = s.head;
  intervals_done_ = s.intervals_done;
  for (int w = 0; w < window_; ++w) {
    local_[w].copy_(s.local[w].reshape({-1}));
    if (!global_.empty()) global_[w].copy_(s.global[w].reshape({-1}));
  }
  trained_steps_ = s.trained_steps;
  samples_ = s.samples;
  loss_sum_ = s.loss_sum;
  // Every loaded segment may hold data; the head slot's are this interval's
  // sums so far (zeros where nothing was accumulated), added to from now on.
  std::fill(touched_.begin(), touched_.end(), 1);
  for (std::vector<char>& d : dirty_) std::fill(d.begin(), d.end(), 1);
  return absl::OkStatus();
}

}  // namespace freezing::train
