#include "sim/rank_skew.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/nanoseconds.h"

namespace freezing::sim {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A uniform in (0, 1) from 53 bits of `x`.
double Uniform(uint64_t x) {
  return (static_cast<double>(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// A standard normal drawn from (seed, rank, step) alone (Box-Muller).
double Normal(uint64_t seed, int rank, int64_t step) {
  const uint64_t a = SplitMix64(
      seed ^ SplitMix64(static_cast<uint64_t>(rank) ^ SplitMix64(step)));
  const uint64_t b = SplitMix64(a);
  constexpr double kTwoPi = 6.283185307179586;
  return std::sqrt(-2.0 * std::log(Uniform(a))) * std::cos(kTwoPi * Uniform(b));
}

int64_t Scale(int64_t ns, double m) {
  return RoundNs(static_cast<double>(ns) * m);
}

}  // namespace

absl::StatusOr<std::vector<Straggler>> ParseStragglers(absl::string_view text) {
  std::vector<Straggler> out;
  if (absl::StripAsciiWhitespace(text).empty()) return out;
  std::set<int> seen;
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    const absl::string_view piece = absl::StripAsciiWhitespace(raw);
    std::vector<absl::string_view> parts = absl::StrSplit(piece, ':');
    Straggler s;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &s.rank) ||
        !absl::SimpleAtod(parts[1], &s.factor) || s.rank < 0 ||
        !std::isfinite(s.factor) || !(s.factor > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--straggler='", piece, "': valid values are RANK:FACTOR with a ",
          "rank from 0 and a factor > 0 (e.g. 1:1.5: rank 1 computes 1.5x as ",
          "long), comma-separated"));
    }
    if (!seen.insert(s.rank).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--straggler: rank ", s.rank,
                       " is given twice; give each rank once"));
    }
    out.push_back(s);
  }
  return out;
}

absl::Status CheckRankSkew(const RankSkewOptions& options, int world_size) {
  for (const Straggler& s : options.stragglers) {
    if (s.rank >= world_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("--straggler=", s.rank, ":", s.factor, ": rank ", s.rank,
                       " is outside a world of ", world_size,
                       " ranks; valid ranks are 0..", world_size - 1));
    }
  }
  if (!std::isfinite(options.jitter) || options.jitter < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--jitter=", options.jitter, ": valid values are fractions >= 0 ",
        "(the standard deviation of per-step compute noise, e.g. 0.05)"));
  }
  return absl::OkStatus();
}

int64_t AllReduceChannel(const std::vector<int64_t>& ready,
                         const std::vector<int64_t>& work,
                         const std::vector<int64_t>& bytes,
                         int64_t backward_end, double overlap,
                         std::vector<std::array<int64_t, 3>>* out) {
  int64_t channel_free = 0;
  for (size_t b = 0; b < work.size(); ++b) {
    const int64_t start = std::max(ready[b], channel_free);
    const int64_t w = work[b];
    if (start >= backward_end || overlap >= 1.0) {
      channel_free = start + w;
    } else {
      // Slower while backward computes, full speed after.
      const double during = overlap * static_cast<double>(backward_end - start);
      channel_free =
          during >= static_cast<double>(w)
              ? start + RoundNs(static_cast<double>(w) / overlap)
              : backward_end + RoundNs(static_cast<double>(w) - during);
    }
    if (out != nullptr && w > 0)
      out->push_back({bytes[b], start, channel_free});
  }
  return channel_free;
}

RankSkew::RankSkew(const RankSkewOptions& options, int world_size)
    : options_(options) {
  std::vector<double> factor(world_size, 1.0);
  for (const Straggler& s : options.stragglers) factor[s.rank] = s.factor;
  for (int r = 0; r < world_size; ++r) {
    // Without jitter the ranks without a factor run alike: one group (the
    // first such rank stands for them).
    if (options.jitter == 0 && factor[r] == 1.0 && r > 0) {
      bool grouped = false;
      for (size_t g = 0; g < rank_of_group_.size(); ++g) {
        grouped = grouped || factor_[g] == 1.0;
      }
      if (grouped) continue;
    }
    rank_of_group_.push_back(r);
    factor_.push_back(factor[r]);
  }
  lag_.assign(rank_of_group_.size(), 0);
  rank0_group_ = 0;  // rank 0 always has its own group, the first
}

double RankSkew::Multiplier(size_t group, int64_t step) const {
  double m = factor_[group];
  if (options_.jitter > 0) {
    m *= 1.0 +
         options_.jitter * Normal(options_.seed, rank_of_group_[group], step);
  }
  return std::max(0.05, m);
}

SkewedStep RankSkew::Step(int64_t step, const StepWork& w) {
  const size_t groups = rank_of_group_.size();
  std::vector<double> m(groups);
  std::vector<int64_t> bwd_start(groups), bwd_end(groups);
  std::vector<int64_t> ready(w.bucket_ns.size(), 0);
  int64_t last_backward = 0;
  for (size_t g = 0; g < groups; ++g) {
    m[g] = Multiplier(g, step);
    bwd_start[g] = lag_[g] + Scale(w.data_ns + w.forward_ns, m[g]);
    bwd_end[g] = bwd_start[g] + Scale(w.backward_ns, m[g]);
    last_backward = std::max(last_backward, bwd_end[g]);
    for (size_t b = 0; b < ready.size(); ++b) {
      const int64_t r = bwd_start[g] + Scale(w.bucket_ready_ns[b], m[g]);
      ready[b] = g == 0 ? r : std::max(ready[b], r);
    }
  }
  // The channel on rank 0's clock from its backward's start, as the
  // timeline shows it.
  const int64_t origin = bwd_start[rank0_group_];
  for (int64_t& r : ready) r -= origin;
  SkewedStep out;
  out.rank0_multiplier = m[rank0_group_];
  const int64_t comm_done =
      origin + AllReduceChannel(ready, w.bucket_ns, w.bucket_bytes,
                                last_backward - origin, w.overlap,
                                &out.buckets);
  // Each rank after the gradients' all-reduce (and the recorded wait),
  // its optimizer and its statistics.
  std::vector<int64_t> after(groups);
  int64_t collective = 0;
  for (size_t g = 0; g < groups; ++g) {
    after[g] = bwd_end[g] +
               WithRecordedWait(std::max<int64_t>(0, comm_done - bwd_end[g]),
                                w.wait_ns) +
               Scale(w.optimizer_ns, m[g]) + Scale(w.interval_compute_ns, m[g]);
    collective = std::max(collective, after[g]);
  }
  const size_t r0 = rank0_group_;
  std::vector<int64_t> end(groups);
  for (size_t g = 0; g < groups; ++g) {
    const int64_t stats_done =
        w.interval_end ? collective + w.interval_comm_ns : after[g];
    end[g] = stats_done + Scale(w.other_ns, m[g]);
  }
  out.data_ns = Scale(w.data_ns, m[r0]);
  out.forward_ns = Scale(w.data_ns + w.forward_ns, m[r0]) - out.data_ns;
  out.backward_ns = bwd_end[r0] - bwd_start[r0];
  out.exposed_ns = WithRecordedWait(
      std::max<int64_t>(0, comm_done - bwd_end[r0]), w.wait_ns);
  out.optimizer_ns = Scale(w.optimizer_ns, m[r0]);
  out.other_ns =
      end[r0] - (w.interval_end ? collective + w.interval_comm_ns : after[r0]);
  out.total_ns = end[r0];
  out.interval_ns = out.total_ns - out.data_ns - out.forward_ns -
                    out.backward_ns - out.exposed_ns - out.optimizer_ns -
                    out.other_ns;
  for (size_t g = 0; g < groups; ++g) lag_[g] = end[g] - end[r0];
  return out;
}

}  // namespace freezing::sim
