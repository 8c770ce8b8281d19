// FreezePolicy: decides, at the end of each of its statistics intervals,
// which units to freeze (and, for policies that can, to unfreeze).
//
// Policies are pure and deterministic: the same statistics and the same
// frozen set give the same decision, on any machine, online (train/) or
// offline (sim/). Their state round-trips through SaveState/LoadState for
// checkpoints. A spec string selects and configures one:
//   none | static:K | gradnorm[:interval=N,norm=l2|l1,variant=single|prefix]
//   autofreeze[:percentile=P] | threshold:tau=X,patience=M | freezeout[:t0=F,cubic=1]
//   pipetransformer:alpha=A | apf[:...]
// plus the guards every policy accepts: warmup=STEPS (no freezing before),
// max_frozen=FRACTION (cap on the frozen share of parameters). The classifier
// (the last unit) is never frozen. `PolicyNames()` lists the valid names.
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
  int64_t total_steps = 0;  // of the whole run
  int64_t steps_per_epoch = 0;
  int base_interval_steps = 1;  // T: statistics are recorded every T steps
  int max_window = 1;  // W: windows of up to W base intervals are recorded
  int ranks = 1;
};

struct Decision {
  std::vector<int> freeze;  // ascending unit indices
  std::vector<int> unfreeze;  // ascending unit indices
  std::string reason;  // human-readable, for logs and the trace
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

  // Opaque, deterministic serialisation of the policy's state.
  virtual std::string SaveState() const = 0;
  virtual absl::Status LoadState(std::string_view state) = 0;
};

// Makes a policy from its spec. Errors (InvalidArgument) name the bad part
// and list the valid names or keys.
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakePolicy(
    std::string_view spec, const PolicyContext& context);

// The valid policy names, for help texts and errors.
std::vector<std::string> PolicyNames();

}  // namespace freezing::freeze

#endif  // FREEZING_FREEZE_POLICY_H_
