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
// more than the weight of the votes that do not: more than half the total.
// An exact tie keeps the unit as it is (no majority, no change). Weights that
// are negative or not finite count as 0; when no vote has a positive weight,
// every vote counts 1. For prefix policies (all but apf) only the part of the
// combined freezes that extends the frozen prefix is applied. The guards
// (classifier, warmup, max_frozen) are applied again to the combination.
// Every rank computes the same result from the same votes: the combination
// reads only the gathered votes (sorted by rank, sums taken in rank order)
// and its reason text is built from them alone, never from one rank's own
// policy reasons.
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

// One rank's vote: what its policy instance decided on its local statistics
// (after the policy's guards), and its weight under the rule.
struct Vote {
  int rank = 0;
  std::vector<int> freeze;
  std::vector<int> unfreeze;
  double weight = 0;
};

// A decision with the votes that made it.
struct FreezeDecision {
  int64_t interval = 0;    // base interval index whose statistics decided it
                           // (-1 for Initial)
  int64_t apply_step = 0;  // first step with the new frozen set
  int epoch = 0;
  Decision decision;
  std::vector<Vote> votes;  // by rank; empty for the global rule
};

// Exchanges this process's votes for every rank's (an all-gather). Offline,
// where one Freezer owns all ranks, no exchange is needed.
using VoteExchange =
    std::function<absl::StatusOr<std::vector<Vote>>(const std::vector<Vote>&)>;

// VoteWeight: the weight of `rank`'s vote under `rule`, from the window of
// `window` base intervals ending at `stats` (see the rules above; snr
// averages over the units that are not frozen and were trained in the
// window, a unit with a zero or non-finite norm counting 0). 1 for global
// and majority; 0 when the number it needs is not usable (loss <= 0 or not
// finite, no trainable unit). Errors when `rank` or the window is missing.
absl::StatusOr<double> VoteWeight(VoteRule rule, const BaseIntervalStats& stats,
                                  int window, int rank,
                                  const std::vector<bool>& frozen);

// CombineVotes: the rule above, on every rank's vote (any order; one per
// rank). Validates that each vote freezes only units that are not frozen and
// unfreezes only frozen ones (FailedPrecondition otherwise: the ranks'
// frozen sets differ). The result is not yet guarded.
absl::StatusOr<Decision> CombineVotes(VoteRule rule, std::vector<Vote> votes,
                                      const std::vector<bool>& frozen);

class Freezer {
 public:
  // `owned_ranks`: the ranks whose policy instances live here: {my rank}
  // online, all ranks offline. Ignored for the global rule.
  static absl::StatusOr<std::unique_ptr<Freezer>> Create(
      std::string_view policy_spec, VoteRule rule, const PolicyContext& context,
      std::vector<int> owned_ranks);

  // Decision before the first step (static:K), applied to `frozen`. It
  // depends only on the spec and the context, so every rank computes it
  // alone (no votes).
  FreezeDecision Initial(std::vector<bool>& frozen);
  // The same for a run that starts with nothing frozen.
  FreezeDecision Initial();

  // Feed the statistics of each base interval, in order. Returns a non-empty
  // decision when one of the policy's intervals ends and it changes the
  // frozen set; `frozen` is updated in place. `exchange` is required online
  // for vote rules other than global (it is not called when the owned ranks
  // are all ranks). Errors: FailedPrecondition for an index out of order, a
  // missing exchange or votes that disagree (then nothing changes and the
  // interval is not consumed), InvalidArgument for statistics of the wrong
  // shape or without the needed window or ranks.
  absl::StatusOr<std::optional<FreezeDecision>> OnBaseInterval(
      const BaseIntervalStats& stats, std::vector<bool>& frozen,
      const VoteExchange& exchange = nullptr);

  const FreezePolicy& policy() const;  // the global (or first owned) one
  VoteRule rule() const;
  // Base intervals per policy interval: the policy decides at base intervals
  // whose (index + 1) % window() == 0, from the window-`window()` norms.
  int window() const;
  // The index of the next base interval OnBaseInterval expects.
  int64_t next_index() const;
  // Deterministic text: spec, rule, owned ranks, next index and every
  // instance's state. LoadState accepts only a state of the same spec, rule
  // and owned ranks (InvalidArgument), reports broken bytes as DataLoss, and
  // changes nothing on error.
  std::string SaveState() const;
  absl::Status LoadState(std::string_view state);
  // LoadStateOfRank: LoadState of a state saved by a Freezer of the same
  // spec and rule that owned {from_rank} (a run resumed on another number of
  // ranks: this rank's instance continues that rank's). This Freezer must
  // own one rank; for the global rule it is LoadState.
  absl::Status LoadStateOfRank(std::string_view state, int from_rank);
  ~Freezer();

 private:
  Freezer();
  // LoadState of a state whose owned ranks must be `saved_owned`.
  absl::Status LoadStateOwnedBy(std::string_view state,
                                const std::vector<int>& saved_owned);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_FREEZER_H_
