// FreezePolicy: decides, at the end of each of its statistics intervals,
// which units to freeze (and, for policies that can, to unfreeze).
//
// Policies are pure and deterministic: the same statistics and the same
// frozen set give the same decision, on any machine, online (train/) or
// offline (sim/). Their state round-trips through SaveState/LoadState for
// checkpoints. A spec string selects and configures one:
//   none | static:K[,at=STEP] | gradnorm[:norm=l2|l1,variant=single|prefix]
//   autofreeze[:percentile=P,norm=l1|l2] | threshold[:tau=X,patience=M,norm=..]
//   freezeout[:t0=F,cubic=0|1] | pipetransformer[:alpha=A]
//   apf[:ema=B,threshold=S,period=P,increase=I,decrease=D,norm=..]
// plus the keys every policy accepts: interval=STEPS (how often it decides;
// default the base interval T), warmup=STEPS (no freezing before),
// max_frozen=FRACTION (cap on the frozen share of parameters). The classifier
// (the last unit) is never frozen. `PolicyNames()` lists the valid names;
// freeze/README.md gives each policy's exact semantics and defaults.
#ifndef FREEZING_FREEZE_POLICY_H_
#define FREEZING_FREEZE_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "freeze/stats.h"

namespace freezing::freeze {

// What the policy is told about the run when it is made.
struct PolicyContext {
  std::vector<UnitInfo> units;  // forward order; the last is the classifier
  int64_t total_steps = 0;      // of the whole run
  int64_t steps_per_epoch = 0;
  int base_interval_steps = 1;  // T: statistics are recorded every T steps
  int max_window = 1;  // W: windows of up to W base intervals are recorded
  int ranks = 1;
};

// The guards every policy applies to its own decisions, and Freezer again to
// the combined votes.
struct Guards {
  int64_t warmup_steps = 0;  // no unit is frozen from a step before this
  double max_frozen = 1;     // cap on the frozen share of parameters, in [0, 1]
};

struct Decision {
  std::vector<int> freeze;    // ascending unit indices
  std::vector<int> unfreeze;  // ascending unit indices
  std::string reason;         // human-readable, for logs and the trace
  bool empty() const { return freeze.empty() && unfreeze.empty(); }
};

class FreezePolicy {
 public:
  virtual ~FreezePolicy() = default;

  // The canonical spec (all options spelled out), e.g.
  // "gradnorm:interval=50,norm=l2,variant=single,warmup=0,max_frozen=1".
  virtual std::string spec() const = 0;

  // The policy acts every `interval_steps()` steps; a multiple of the base
  // interval T and at most W*T (checked by MakePolicy).
  virtual int interval_steps() const = 0;

  // Units frozen before the first step (static:K); empty for most policies.
  virtual Decision Initial() { return {}; }

  // Called at the end of each of the policy's intervals. `frozen[u]` is true
  // for units frozen now. Must not freeze the classifier.
  virtual Decision Decide(const IntervalStats& stats,
                          const std::vector<bool>& frozen) = 0;

  // Policies that can unfreeze (apf) return true; their frozen sets need not
  // be a prefix.
  virtual bool can_unfreeze() const { return false; }

  // The policy's warmup and max_frozen (Freezer re-applies them to the
  // combined votes).
  virtual Guards guards() const = 0;

  // Opaque, deterministic serialisation of the policy's state: text, doubles
  // as bit patterns, byte-identical for equal states. LoadState accepts only
  // a state saved by a policy with the same spec() (InvalidArgument
  // otherwise) and reports broken bytes as DataLoss; on error the policy is
  // unchanged.
  virtual std::string SaveState() const = 0;
  virtual absl::Status LoadState(std::string_view state) = 0;
};

// IsClassifier: whether unit `u` is the classifier, which is never frozen:
// the last unit, or one marked is_classifier (MakePolicy accepts the mark
// only on the last unit).
bool IsClassifier(const std::vector<UnitInfo>& units, int u);

// ApplyGuards: what is left of `proposal` when the guards hold. In order:
//  1. drops freezes of the classifier, of frozen units and of unknown
//     indices, and unfreezes of units that are not frozen;
//  2. drops every freeze when apply_step < guards.warmup_steps;
//  3. with `keep_prefix`, keeps only the freezes that extend the frozen
//     prefix (walking from unit 0 through frozen or proposed units);
//  4. takes the remaining freezes in ascending order and stops at the first
//     that would lift the frozen share of parameters (after the unfreezes)
//     above guards.max_frozen; the share counts units instead when every
//     UnitInfo::params is 0.
// Unfreezes are never dropped by 2-4. Each drop is noted in the reason.
Decision ApplyGuards(const Guards& guards, const std::vector<UnitInfo>& units,
                     const std::vector<bool>& frozen, int64_t apply_step,
                     bool keep_prefix, Decision proposal);

// Makes a policy from its spec. Errors (InvalidArgument) name the bad part
// and list the valid names or keys; an interval that is not a positive
// multiple of context.base_interval_steps or exceeds max_window of them says
// which flag to change (--stats_interval / --stats_window). The context must
// have at least one unit, and only the last may be marked is_classifier.
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakePolicy(
    std::string_view spec, const PolicyContext& context);

// The valid policy names, for help texts and errors.
std::vector<std::string> PolicyNames();

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_POLICY_H_
