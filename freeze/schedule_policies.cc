// Policies that follow a schedule and read no gradient statistics: none,
// static, freezeout, pipetransformer. They are stateless (the decision is a
// function of the step, the progress and the frozen set), so their saved
// state holds only the spec.
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "freeze/policy_base.h"

namespace freezing::freeze::internal {
namespace {

class StatelessPolicy : public PolicyBase {
 public:
  using PolicyBase::PolicyBase;

 protected:
  void SaveFields(StateWriter&) const override {}
  absl::Status LoadFields(StateReader& reader) override {
    return reader.ExpectEnd();
  }
  // Freezes the active prefix up to (excluding) unit `end`.
  Decision FreezeBelow(int end, const std::vector<bool>& frozen,
                       std::string reason) const {
    Decision d;
    d.reason = std::move(reason);
    for (int u = FirstActive(frozen); u >= 0 && u < end; ++u) {
      if (frozen[u] || IsClassifierUnit(u)) break;
      d.freeze.push_back(u);
    }
    return d;
  }
};

class NonePolicy : public StatelessPolicy {
 public:
  using StatelessPolicy::StatelessPolicy;

 protected:
  std::string OwnOptions() const override { return ""; }
  Decision Propose(const IntervalStats&, const std::vector<bool>&) override {
    return {};
  }
};

// static:K[,at=STEP]: the first K units, before the first step (at=0) or
// at the end of the first interval whose next step is >= STEP.
class StaticPolicy : public StatelessPolicy {
 public:
  StaticPolicy(PolicyContext context, CommonOptions common, int k, int64_t at)
      : StatelessPolicy("static", std::move(context), common), k_(k), at_(at) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("k=", k_, ",at=", at_);
  }
  Decision InitialProposal() override {
    if (at_ > 0) return {};
    return FreezeBelow(k_, std::vector<bool>(num_units(), false),
                       absl::StrCat("static: first ", k_, " units"));
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    if (stats.last_step + 1 < at_) return {};
    return FreezeBelow(
        k_, frozen,
        absl::StrCat("static: first ", k_, " units from step ", at_));
  }

 private:
  int k_;
  int64_t at_;
};

// freezeout: unit j (0-based; j < L = units - 1, the classifier excluded)
// is frozen at the first interval end with progress >= t_j,
//   t_j = t0 + (1 - t0) * j / L          (cubic=0)
//   t_j = (t0 + (1 - t0) * j / L)^3      (cubic=1, FreezeOut's cubic scaling)
// so unit 0 freezes at t0 and the last non-classifier unit before the end.
class FreezeOutPolicy : public StatelessPolicy {
 public:
  FreezeOutPolicy(PolicyContext context, CommonOptions common, double t0,
                  bool cubic)
      : StatelessPolicy("freezeout", std::move(context), common),
        t0_(t0),
        cubic_(cubic) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("t0=", FormatDouble(t0_), ",cubic=", cubic_ ? 1 : 0);
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    const int l = num_freezable();
    int end = 0;
    while (end < l && FreezeTime(end, l) <= stats.progress) ++end;
    return FreezeBelow(end, frozen,
                       absl::StrCat("freezeout: progress ", Num(stats.progress),
                                    " passed t_j of units below ", end));
  }

 private:
  double FreezeTime(int j, int l) const {
    const double t = t0_ + (1 - t0_) * static_cast<double>(j) / l;
    return cubic_ ? t * t * t : t;
  }
  double t0_;
  bool cubic_;
};

// pipetransformer: after E completed epochs, the first
// floor(L * (1 - (1 - alpha)^E)) units are frozen (L = units - 1).
class PipeTransformerPolicy : public StatelessPolicy {
 public:
  PipeTransformerPolicy(PolicyContext context, CommonOptions common,
                        double alpha)
      : StatelessPolicy("pipetransformer", std::move(context), common),
        alpha_(alpha) {}

 protected:
  std::string OwnOptions() const override {
    return absl::StrCat("alpha=", FormatDouble(alpha_));
  }
  Decision Propose(const IntervalStats& stats,
                   const std::vector<bool>& frozen) override {
    const int l = num_freezable();
    const int64_t epochs = (stats.last_step + 1) / context().steps_per_epoch;
    const double share = 1 - std::pow(1 - alpha_, static_cast<double>(epochs));
    int target = static_cast<int>(std::floor(l * share));
    target = std::max(0, std::min(target, l));
    return FreezeBelow(
        target, frozen,
        absl::StrCat("pipetransformer: ", epochs, " epochs done, ", target,
                     " of ", l, " units frozen"));
  }

 private:
  double alpha_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeNone(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options, OptionsFor(spec, {}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  return std::make_unique<NonePolicy>("none", context, common);
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeStatic(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options, OptionsFor(spec, {"k", "at"}, "k"));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  const int64_t freezable = static_cast<int64_t>(context.units.size()) - 1;
  if (!options.Has("k")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy spec '", spec.text, "': static needs K, the number of units ",
        "to freeze (static:K or static:k=K), 0..", freezable));
  }
  ASSIGN_OR_RETURN(int64_t k, options.Int("k", 0, 0, freezable));
  ASSIGN_OR_RETURN(int64_t at, options.Int("at", 0, 0, int64_t{1} << 50));
  return std::make_unique<StaticPolicy>(context, common, static_cast<int>(k),
                                        at);
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakeFreezeOut(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options, OptionsFor(spec, {"t0", "cubic"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ASSIGN_OR_RETURN(double t0, options.Double("t0", 0.5, 0.0, 1.0));
  ASSIGN_OR_RETURN(bool cubic, options.Bool("cubic", false));
  return std::make_unique<FreezeOutPolicy>(context, common, t0, cubic);
}

absl::StatusOr<std::unique_ptr<FreezePolicy>> MakePipeTransformer(
    const ParsedSpec& spec, const PolicyContext& context) {
  ASSIGN_OR_RETURN(SpecOptions options, OptionsFor(spec, {"alpha"}));
  ASSIGN_OR_RETURN(CommonOptions common, ParseCommonOptions(options, context));
  ASSIGN_OR_RETURN(double alpha, options.DoubleAboveMin("alpha", 0.1, 0, 1));
  if (context.steps_per_epoch <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy spec '", spec.text,
        "': pipetransformer counts epochs and needs steps_per_epoch > 0 in "
        "the policy context"));
  }
  return std::make_unique<PipeTransformerPolicy>(context, common, alpha);
}

}  // namespace freezing::freeze::internal
