// Internal to freeze/: what every policy of this library shares — the common
// spec keys (interval, warmup, max_frozen), the guards, the canonical spec
// and the state envelope — and the eta of the gradient norm test, which
// gradnorm, autofreeze and threshold share. Policies implement Propose() and
// their state fields; PolicyBase turns proposals into guarded decisions.
#ifndef FREEZING_FREEZE_POLICY_BASE_H_
#define FREEZING_FREEZE_POLICY_BASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "freeze/policy.h"
#include "freeze/spec.h"
#include "freeze/state_codec.h"
#include "freeze/stats.h"

namespace freezing::freeze::internal {

// The keys every policy accepts, after its own.
inline const std::vector<std::string>& CommonKeys() {
  static const auto* keys =
      new std::vector<std::string>{"interval", "warmup", "max_frozen"};
  return *keys;
}

struct CommonOptions {
  int interval_steps = 1;
  Guards guards;
};

// ParseCommonOptions: interval (default T; a positive multiple of T and at
// most W*T), warmup (>= 0), max_frozen (in [0, 1]).
absl::StatusOr<CommonOptions> ParseCommonOptions(const SpecOptions& options,
                                                 const PolicyContext& context);

// SpecOptions for a policy that accepts `own_keys` plus CommonKeys().
absl::StatusOr<SpecOptions> OptionsFor(
    const ParsedSpec& spec, std::vector<std::string> own_keys,
    std::optional<std::string> positional_key = std::nullopt);

class PolicyBase : public FreezePolicy {
 public:
  PolicyBase(std::string name, PolicyContext context, CommonOptions common)
      : name_(std::move(name)), context_(std::move(context)), common_(common) {}

  std::string spec() const final;
  int interval_steps() const final { return common_.interval_steps; }
  Guards guards() const final { return common_.guards; }
  Decision Initial() final;
  Decision Decide(const IntervalStats& stats,
                  const std::vector<bool>& frozen) final;
  std::string SaveState() const final;
  absl::Status LoadState(std::string_view state) final;

 protected:
  // The policy's own options, canonical and in a fixed order ("" for none),
  // e.g. "norm=l2,variant=single".
  virtual std::string OwnOptions() const = 0;
  virtual Decision InitialProposal() { return {}; }
  // The unguarded proposal; may update the policy's state. Called only with
  // statistics and a frozen set for every unit.
  virtual Decision Propose(const IntervalStats& stats,
                           const std::vector<bool>& frozen) = 0;
  virtual void SaveFields(StateWriter& writer) const = 0;
  // Reads every field into locals, then reader.ExpectEnd(), and only then
  // assigns them, so that a failed load leaves the policy unchanged.
  virtual absl::Status LoadFields(StateReader& reader) = 0;

  const PolicyContext& context() const { return context_; }
  int num_units() const { return static_cast<int>(context_.units.size()); }
  bool IsClassifierUnit(int u) const { return IsClassifier(context_.units, u); }
  // Units that may ever be frozen: all but the classifier.
  int num_freezable() const;
  // The first unit that is neither frozen nor the classifier, or -1.
  int FirstActive(const std::vector<bool>& frozen) const;

 private:
  std::string name_;
  PolicyContext context_;
  CommonOptions common_;
};

// Which norm a gradient policy reads.
enum class NormKind { kL2, kL1 };
std::string NormName(NormKind kind);
double NormOf(const UnitNorms& n, NormKind kind);

// The eta of one unit at one interval. Undefined (never frozen on) when the
// unit was not trained in this or the previous interval, the previous norm
// is 0, or a norm or eta is not finite; `why` says which.
struct Eta {
  bool defined = false;
  double value = 0;
  std::string why;
};

// EtaTracker: remembers each unit's norm from the previous interval and
// computes eta_l = |(||D_prev|| - ||D_cur||) / ||D_prev|||.
class EtaTracker {
 public:
  explicit EtaTracker(int num_units)
      : prev_(num_units, 0.0), prev_valid_(num_units, false) {}

  // The etas of this interval; then remembers its norms for the next.
  std::vector<Eta> Next(const IntervalStats& stats, NormKind kind);

  void Save(StateWriter& writer) const;
  // Reads into `*out` (not into this), for the load-then-commit pattern.
  static absl::Status Load(StateReader& reader, int num_units, EtaTracker* out);

 private:
  std::vector<double> prev_;
  std::vector<bool> prev_valid_;
};

// Fixed-format text for reasons.
std::string Num(double v);
std::string UnitList(const std::vector<int>& units);
// AppendNote: adds `note` to the notes in `text`, "; "-separated.
void AppendNote(std::string& text, const std::string& note);

// Factories, one per policy (policies are selected in policy.cc).
using Factory = absl::StatusOr<std::unique_ptr<FreezePolicy>> (*)(
    const ParsedSpec& spec, const PolicyContext& context);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeNone(const ParsedSpec&,
                                                       const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeStatic(const ParsedSpec&,
                                                         const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeFreezeOut(
    const ParsedSpec&, const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakePipeTransformer(
    const ParsedSpec&, const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeGradNorm(
    const ParsedSpec&, const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeAutoFreeze(
    const ParsedSpec&, const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeThreshold(
    const ParsedSpec&, const PolicyContext&);
absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeApf(const ParsedSpec&,
                                                      const PolicyContext&);

}  // namespace freezing::freeze::internal

#endif  // FREEZING_FREEZE_POLICY_BASE_H_
