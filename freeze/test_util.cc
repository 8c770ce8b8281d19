#include "freeze/test_util.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "freeze/state_codec.h"

namespace freezing::freeze::testing {

PolicyContext MakeContext(int units, int base_interval_steps, int max_window,
                          int ranks, int64_t total_steps,
                          int64_t steps_per_epoch) {
  PolicyContext c;
  for (int u = 0; u < units; ++u) {
    c.units.push_back(
        UnitInfo{absl::StrCat("unit", u), 100 * (u + 1), u == units - 1});
  }
  c.total_steps = total_steps;
  c.steps_per_epoch = steps_per_epoch;
  c.base_interval_steps = base_interval_steps;
  c.max_window = max_window;
  c.ranks = ranks;
  return c;
}

IntervalStats MakeIntervalStats(int64_t interval, int64_t last_step,
                                double progress, const std::vector<double>& l2,
                                const std::vector<double>& l1,
                                const std::vector<int64_t>& trained) {
  IntervalStats s;
  s.interval = interval;
  s.last_step = last_step;
  s.progress = progress;
  for (size_t u = 0; u < l2.size(); ++u) {
    s.units.push_back(UnitNorms{l2[u], l1.empty() ? l2[u] : l1[u],
                                trained.empty() ? 1 : trained[u]});
  }
  return s;
}

PolicyContext StreamContext(const StreamOptions& o) {
  const int64_t total = int64_t{o.intervals} * o.base_interval_steps;
  PolicyContext c = MakeContext(o.units, o.base_interval_steps, o.max_window,
                                o.ranks, total, total / 5);
  for (size_t u = 0; u < o.unit_params.size() && u < c.units.size(); ++u) {
    c.units[u].params = o.unit_params[u];
  }
  return c;
}

StreamOptions VitShapedStream(uint64_t seed) {
  StreamOptions o;
  o.units = 14;
  o.ranks = 3;
  o.base_interval_steps = 4;
  o.max_window = 3;
  o.intervals = 80;
  o.seed = seed;
  o.unit_params.assign(14, 444864);
  o.unit_params.front() = 22080;
  o.unit_params.back() = 2314;
  o.depth_growth = 0.05;
  return o;
}

BaseIntervalStats RandomBaseInterval(Rng& rng, const StreamOptions& o,
                                     int64_t index,
                                     const std::vector<bool>& frozen) {
  const int64_t total = int64_t{o.intervals} * o.base_interval_steps;
  BaseIntervalStats s;
  s.index = index;
  s.first_step = index * o.base_interval_steps;
  s.last_step = s.first_step + o.base_interval_steps - 1;
  s.epoch = static_cast<int>(s.last_step / (total / 5));
  s.progress = static_cast<double>(s.last_step + 1) / total;
  const int windows =
      static_cast<int>(std::min<int64_t>(o.max_window, index + 1));
  auto degenerate = [&](double x) {
    if (rng.Uniform() >= o.degenerate_probability) return x;
    const double pick = rng.Uniform();
    if (pick < 1.0 / 3) return std::numeric_limits<double>::quiet_NaN();
    if (pick < 2.0 / 3) return std::numeric_limits<double>::infinity();
    return 0.0;
  };
  for (int u = 0; u < o.units; ++u) {
    WindowNorms n;
    for (int k = 1; k <= windows; ++k) {
      // Early units settle first: faster decay, less noise.
      const double depth = 1.0 + o.depth_growth * u;
      const double level = depth * (0.2 + std::exp(-0.15 * index / depth));
      const double noise = 1 + 0.05 * (u + 1) * (rng.Uniform() - 0.5);
      const double l2 =
          frozen[u] ? 0.0 : degenerate(level * noise * std::sqrt(k));
      n.l2.push_back(l2);
      n.l1.push_back(frozen[u] ? 0.0 : l2 * (3 + rng.Uniform()));
      n.trained_steps.push_back(frozen[u] ? 0
                                          : int64_t{k} * o.base_interval_steps);
    }
    s.global.push_back(std::move(n));
  }
  for (int r = 0; r < o.ranks; ++r) {
    RankWindowStats rs;
    rs.rank = r;
    for (int k = 1; k <= windows; ++k) {
      rs.samples.push_back(int64_t{k} * o.base_interval_steps * 16 * (1 + r));
      rs.mean_loss.push_back((2.0 / (1.0 + 0.1 * index)) * (1 + 0.3 * r) *
                             (1 + 0.1 * rng.Uniform()));
    }
    for (int u = 0; u < o.units; ++u) {
      WindowNorms n;
      for (int k = 1; k <= windows; ++k) {
        const double g = s.global[u].l2[k - 1];
        // Non-IID: each rank's local gradient is skewed its own way.
        const double skew = 1 + 0.4 * r * (rng.Uniform() - 0.3);
        const double l2 = frozen[u] ? 0.0 : degenerate(g * skew);
        const double cosine = 0.95 - 0.35 * r + 0.3 * (rng.Uniform() - 0.5);
        n.l2.push_back(l2);
        n.l1.push_back(frozen[u] ? 0.0 : l2 * (3 + rng.Uniform()));
        n.dot_global.push_back(frozen[u] ? 0.0 : cosine * l2 * g);
        n.trained_steps.push_back(
            frozen[u] ? 0 : int64_t{k} * o.base_interval_steps);
      }
      rs.units.push_back(std::move(n));
    }
    s.ranks.push_back(std::move(rs));
  }
  return s;
}

std::string DecisionText(const FreezeDecision& d) {
  std::string votes;
  for (const Vote& v : d.votes) {
    absl::StrAppend(&votes, " r", v.rank, ":[", absl::StrJoin(v.freeze, ","),
                    "]-[", absl::StrJoin(v.unfreeze, ","), "]w",
                    EncodeDouble(v.weight));
  }
  return absl::StrCat("interval=", d.interval, " step=", d.apply_step,
                      " epoch=", d.epoch, " freeze=[",
                      absl::StrJoin(d.decision.freeze, ","), "] unfreeze=[",
                      absl::StrJoin(d.decision.unfreeze, ","),
                      "] votes=", votes, " reason=", d.decision.reason);
}

}  // namespace freezing::freeze::testing
