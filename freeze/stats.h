// Gradient statistics as the freezing policies see them.
//
// The trainer accumulates each unit's gradient over a base interval of T steps
// (Delta_i) and, for every window length k = 1..W, computes the norms of the
// sum of the last k base intervals. `BaseIntervalStats` carries those numbers
// for one base interval; it mirrors trace.proto's `Interval` field by field so
// that a trace replays into exactly the doubles the live run saw (the
// conversion lives in sim/, because freeze/ depends on no other folder).
//
// A policy acting every k base intervals gets an `IntervalStats`: the window-k
// norms at its own interval ends. `Freezer` (freezer.h) does that selection,
// online in train/ and offline in sim/, with the same code.
#ifndef FREEZING_FREEZE_STATS_H_
#define FREEZING_FREEZE_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace freezing::freeze {

// A freezable unit, in forward order.
struct UnitInfo {
  std::string name;
  int64_t params = 0;
  bool is_classifier = false;
};

// Norms of one unit's gradient summed over windows of 1..W base intervals.
// Index [k-1] is the window of the last k base intervals (k <= index + 1).
struct WindowNorms {
  std::vector<double> l2;
  std::vector<double> l1;
  // Per-rank statistics only: <local window sum, global window sum>.
  std::vector<double> dot_global;
  // Steps in the window in which the unit was trained (0: frozen throughout).
  std::vector<int64_t> trained_steps;
};

struct RankWindowStats {
  int rank = 0;
  std::vector<int64_t> samples;    // [k-1]
  std::vector<double> mean_loss;   // [k-1]
  std::vector<WindowNorms> units;  // per unit
};

// Statistics of one base interval (trace.proto `Interval`).
struct BaseIntervalStats {
  int64_t index = 0;
  int64_t first_step = 0;
  int64_t last_step = 0;  // inclusive; decisions apply from last_step + 1
  int epoch = 0;
  double progress = 0;              // (last_step + 1) / total steps of the run
  std::vector<WindowNorms> global;  // per unit, of the averaged gradient
  std::vector<RankWindowStats> ranks;  // per rank; may be empty
};

// One unit's accumulated gradient over a policy interval.
struct UnitNorms {
  double l2 = 0;
  double l1 = 0;
  int64_t trained_steps = 0;
};

struct RankIntervalStats {
  int rank = 0;
  int64_t samples = 0;
  double mean_loss = 0;
  std::vector<UnitNorms> units;
  std::vector<double> dot_global;  // per unit
};

// What a policy sees at the end of one of its intervals. The policies of this
// library decide from `units` alone; `ranks` is context (online it may hold
// only this process's rank), so that a policy instance decides the same
// online and offline.
struct IntervalStats {
  int64_t interval = 0;  // index of this policy interval, from 0
  int64_t last_step = 0;
  int epoch = 0;
  double progress = 0;           // elapsed fraction of training, in (0, 1]
  std::vector<UnitNorms> units;  // the statistics this policy instance uses
  // All ranks' local statistics, when recorded (weights of the vote rules).
  std::vector<RankIntervalStats> ranks;
};

// The rank used for the global statistics in SelectWindow.
inline constexpr int kGlobalRank = -1;

// ValidateBaseIntervalStats: checks the shape of one base interval's
// statistics for a model of `num_units` units: one WindowNorms per unit
// (globally and for every rank given), l2/l1/trained_steps of equal length,
// per-rank dot_global/samples/mean_loss as long as the windows, ranks
// distinct. InvalidArgument names the first offender.
absl::Status ValidateBaseIntervalStats(const BaseIntervalStats& stats,
                                       size_t num_units);

// FindRank: the per-rank statistics of `rank` in `stats`, or nullptr.
const RankWindowStats* FindRank(const BaseIntervalStats& stats, int rank);

// SelectWindow: the statistics of the last `window` base intervals ending at
// `base`, as a policy instance sees them at its `policy_interval`-th
// interval. `units` holds the global norms for rank == kGlobalRank, else that
// rank's local norms; `ranks` holds every rank present in `base`.
// InvalidArgument (naming --stats_window) when a needed window was not
// recorded; NotFound when `rank` has no statistics in `base`.
absl::StatusOr<IntervalStats> SelectWindow(const BaseIntervalStats& base,
                                           int window, int64_t policy_interval,
                                           int rank);

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_STATS_H_
