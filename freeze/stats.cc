#include "freeze/stats.h"

#include "absl/strings/str_cat.h"

namespace freezing::freeze {
namespace {

// `where` builds the error's location only when there is an error: these
// checks run for every unit of every rank at every base interval.
template <typename Where>
absl::Status CheckNorms(const WindowNorms& n, bool per_rank,
                        const Where& where) {
  const size_t w = n.l2.size();
  if (n.l1.size() != w || n.trained_steps.size() != w) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": l2, l1 and trained_steps have ", n.l2.size(),
                     ", ", n.l1.size(), " and ", n.trained_steps.size(),
                     " windows; they must be equal"));
  }
  if (per_rank && n.dot_global.size() != w) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": dot_global has ",
                                                   n.dot_global.size(),
                                                   " windows, l2 has ", w));
  }
  return absl::OkStatus();
}

template <typename Where>
absl::Status NeedWindow(size_t have, int window, const Where& where) {
  if (static_cast<int>(have) < window) {
    return absl::InvalidArgumentError(absl::StrCat(
        where(), " has windows of up to ", have, " base intervals; the policy ",
        "needs ", window, " (record with --stats_window >= ", window,
        " or lower the policy's interval)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBaseIntervalStats(const BaseIntervalStats& stats,
                                       size_t num_units) {
  auto at = [&stats] { return absl::StrCat("base interval ", stats.index); };
  if (stats.global.size() != num_units) {
    return absl::InvalidArgumentError(
        absl::StrCat(at(), ": global statistics for ", stats.global.size(),
                     " units, the model has ", num_units));
  }
  for (size_t u = 0; u < num_units; ++u) {
    absl::Status s = CheckNorms(stats.global[u], /*per_rank=*/false, [&] {
      return absl::StrCat(at(), ": global unit ", u);
    });
    if (!s.ok()) return s;
  }
  for (size_t i = 0; i < stats.ranks.size(); ++i) {
    const RankWindowStats& r = stats.ranks[i];
    auto where = [&] { return absl::StrCat(at(), ": rank ", r.rank); };
    for (size_t j = 0; j < i; ++j) {
      if (stats.ranks[j].rank == r.rank) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), " appears twice"));
      }
    }
    if (r.units.size() != num_units) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": statistics for ", r.units.size(),
                       " units, the model has ", num_units));
    }
    if (r.mean_loss.size() != r.samples.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), ": samples and mean_loss have ", r.samples.size(), " and ",
          r.mean_loss.size(), " windows"));
    }
    for (size_t u = 0; u < num_units; ++u) {
      absl::Status s = CheckNorms(r.units[u], /*per_rank=*/true, [&] {
        return absl::StrCat(where(), " unit ", u);
      });
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

const RankWindowStats* FindRank(const BaseIntervalStats& stats, int rank) {
  for (const RankWindowStats& r : stats.ranks) {
    if (r.rank == rank) return &r;
  }
  return nullptr;
}

absl::StatusOr<IntervalStats> SelectWindow(const BaseIntervalStats& base,
                                           int window, int64_t policy_interval,
                                           int rank) {
  if (window < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("window must be >= 1, got ", window));
  }
  auto at = [&base] { return absl::StrCat("base interval ", base.index); };
  const size_t k = static_cast<size_t>(window) - 1;
  IntervalStats out;
  out.interval = policy_interval;
  out.last_step = base.last_step;
  out.epoch = base.epoch;
  out.progress = base.progress;
  auto unit_norms = [&](const WindowNorms& n,
                        const auto& where) -> absl::StatusOr<UnitNorms> {
    absl::Status s = NeedWindow(n.l2.size(), window, where);
    if (!s.ok()) return s;
    return UnitNorms{n.l2[k], n.l1[k], n.trained_steps[k]};
  };
  for (const RankWindowStats& r : base.ranks) {
    auto where = [&] { return absl::StrCat(at(), ": rank ", r.rank); };
    absl::Status s = NeedWindow(r.samples.size(), window, where);
    if (!s.ok()) return s;
    RankIntervalStats ri;
    ri.rank = r.rank;
    ri.samples = r.samples[k];
    ri.mean_loss = r.mean_loss[k];
    for (size_t u = 0; u < r.units.size(); ++u) {
      auto n = unit_norms(r.units[u],
                          [&] { return absl::StrCat(where(), " unit ", u); });
      if (!n.ok()) return n.status();
      ri.units.push_back(*n);
      ri.dot_global.push_back(
          r.units[u].dot_global.size() > k ? r.units[u].dot_global[k] : 0.0);
    }
    out.ranks.push_back(std::move(ri));
  }
  if (rank == kGlobalRank) {
    for (size_t u = 0; u < base.global.size(); ++u) {
      auto n = unit_norms(base.global[u], [&] {
        return absl::StrCat(at(), ": global unit ", u);
      });
      if (!n.ok()) return n.status();
      out.units.push_back(*n);
    }
    return out;
  }
  for (const RankIntervalStats& r : out.ranks) {
    if (r.rank == rank) {
      out.units = r.units;
      return out;
    }
  }
  return absl::NotFoundError(
      absl::StrCat(at(), ": no statistics for rank ", rank,
                   " (vote rules need per-rank statistics; use the global "
                   "rule for a trace without them)"));
}

}  // namespace freezing::freeze
