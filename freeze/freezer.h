// Freezer: runs a freezing policy over base-interval statistics and combines
// the ranks' votes into one decision. The same code runs online (train/, one
// policy instance per process: its own rank's) and offline (sim/, one
// instance per recorded rank), so a policy replayed on the trace of the run
// that used it reproduces that run's freeze schedule exactly.
//
// Vote rules:
//   global    one instance on the averaged gradient (what a single node does);
//             no votes are exchanged.
//   majority  each rank's instance decides on its local gradient; weight 1.
//   samples   weight = the rank's sample count in the interval.
//   loss      weight = 1 / the rank's mean loss in the interval.
//   snr       weight = agreement (cosine, clipped at 0) of the rank's local
//             accumulated gradient with the global one, averaged over the
//             trainable units.
// A unit is frozen (unfrozen) when the weight of the votes asking for it is
// more than half the total; an exact half is broken deterministically (see
// freezer.cc). Every rank computes the same result from the same votes.
#ifndef FREEZING_FREEZE_FREEZER_H_
#define FREEZING_FREEZE_FREEZER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "freeze/policy.h"
#include "freeze/stats.h"

namespace freezing::freeze {

enum class VoteRule { kGlobal, kMajority, kSamples, kLoss, kSnr };

absl::StatusOr<VoteRule> ParseVoteRule(std::string_view name);
std::string VoteRuleName(VoteRule rule);
std::vector<std::string> VoteRuleNames();

struct Vote {
  int rank = 0;
  std::vector<int> freeze;
  std::vector<int> unfreeze;
  double weight = 0;
};

// A decision with the votes that made it.
struct FreezeDecision {
  int64_t interval = 0;  // base interval index whose statistics decided it
  int64_t apply_step = 0;  // first step with the new frozen set
  int epoch = 0;
  Decision decision;
  std::vector<Vote> votes;  // by rank; empty for the global rule
};

// Exchanges this process's votes for every rank's (an all-gather). Offline,
// where one Freezer owns all ranks, no exchange is needed.
using VoteExchange =
    std::function<absl::StatusOr<std::vector<Vote>>(const std::vector<Vote>&)>;

class Freezer {
 public:
  // `owned_ranks`: the ranks whose policy instances live here: {my rank}
  // online, all ranks offline. Ignored for the global rule.
  static absl::StatusOr<std::unique_ptr<Freezer>> Create(
      std::string_view policy_spec, VoteRule rule,
      const PolicyContext& context, std::vector<int> owned_ranks);

  // Decision before the first step (static:K), applied to `frozen`.
  FreezeDecision Initial();

  // Feed the statistics of each base interval, in order. Returns a non-empty
  // decision when one of the policy's intervals ends and it changes the
  // frozen set; `frozen` is updated in place. `exchange` is required online
  // for vote rules other than global.
  absl::StatusOr<std::optional<FreezeDecision>> OnBaseInterval(
      const BaseIntervalStats& stats, std::vector<bool>& frozen,
      const VoteExchange& exchange = nullptr);

  const FreezePolicy& policy() const;  // the global (or first owned) one
  VoteRule rule() const;
  std::string SaveState() const;
  absl::Status LoadState(std::string_view state);
  ~Freezer();

 private:
  Freezer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_FREEZER_H_
