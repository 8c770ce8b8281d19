#include "freeze/freezer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "freeze/state_codec.h"

namespace freezing::freeze {
namespace {

struct RuleName {
  VoteRule rule;
  const char* name;
};

const RuleName kRules[] = {
    {VoteRule::kGlobal, "global"},   {VoteRule::kMajority, "majority"},
    {VoteRule::kSamples, "samples"}, {VoteRule::kLoss, "loss"},
    {VoteRule::kSnr, "snr"},
};

std::string List(const std::vector<int>& units) {
  return absl::StrCat("[", absl::StrJoin(units, ","), "]");
}

// Numbers in reasons: fixed format, for humans (exact values are in votes).
std::string Short(double v) { return absl::StrFormat("%.6g", v); }

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool SameVote(const Vote& a, const Vote& b) {
  return a.rank == b.rank && a.freeze == b.freeze && a.unfreeze == b.unfreeze &&
         SameBits(a.weight, b.weight);
}

// Sum of the weights of the votes for which `pick` holds, in rank order.
template <typename Pick>
double SumWeights(const std::vector<Vote>& votes,
                  const std::vector<double>& weights, Pick pick) {
  double sum = 0;
  for (size_t i = 0; i < votes.size(); ++i) {
    if (pick(votes[i])) sum += weights[i];
  }
  return sum;
}

bool Contains(const std::vector<int>& v, int u) {
  return std::find(v.begin(), v.end(), u) != v.end();
}

// CombineVotes' checks on votes sorted by rank: one vote a rank, each
// changing only units that exist and are in the state it asks to leave.
absl::Status CheckVotes(const std::vector<Vote>& votes,
                        const std::vector<bool>& frozen) {
  const int n = static_cast<int>(frozen.size());
  for (size_t i = 0; i < votes.size(); ++i) {
    const Vote& v = votes[i];
    if (i > 0 && votes[i - 1].rank == v.rank) {
      return absl::FailedPreconditionError(
          absl::StrCat("two votes from rank ", v.rank));
    }
    for (int u : v.freeze) {
      if (u < 0 || u >= n || frozen[u]) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rank ", v.rank, " votes to freeze unit ", u,
            u < 0 || u >= n ? ", which does not exist"
                            : ", which is frozen here: the ranks' frozen "
                              "sets differ"));
      }
    }
    for (int u : v.unfreeze) {
      if (u < 0 || u >= n || !frozen[u]) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rank ", v.rank, " votes to unfreeze unit ", u,
            u < 0 || u >= n ? ", which does not exist"
                            : ", which is not frozen here: the ranks' "
                              "frozen sets differ"));
      }
    }
  }
  return absl::OkStatus();
}

// The votes as the reason lists them: "r0 [1,2]-[3] w=0.5 r1 [] w=1".
std::string Ballot(const std::vector<Vote>& votes) {
  std::vector<std::string> ballot;
  for (size_t i = 0; i < votes.size(); ++i) {
    const Vote& v = votes[i];
    std::string b = absl::StrCat("r", v.rank, " ", List(v.freeze));
    if (!v.unfreeze.empty()) absl::StrAppend(&b, "-", List(v.unfreeze));
    absl::StrAppend(&b, " w=", Short(v.weight));
    ballot.push_back(std::move(b));
  }
  return absl::StrJoin(ballot, " ");
}

}  // namespace

absl::StatusOr<VoteRule> ParseVoteRule(std::string_view name) {
  for (const RuleName& r : kRules) {
    if (name == r.name) return r.rule;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown vote rule '", std::string(name),
                   "'; valid rules: ", absl::StrJoin(VoteRuleNames(), ", ")));
}

std::string VoteRuleName(VoteRule rule) {
  for (const RuleName& r : kRules) {
    if (rule == r.rule) return r.name;
  }
  return "unknown";
}

std::vector<std::string> VoteRuleNames() {
  std::vector<std::string> names;
  for (const RuleName& r : kRules) names.push_back(r.name);
  return names;
}

absl::StatusOr<double> VoteWeight(VoteRule rule, const BaseIntervalStats& stats,
                                  int window, int rank,
                                  const std::vector<bool>& frozen) {
  if (rule == VoteRule::kGlobal || rule == VoteRule::kMajority) return 1.0;
  const RankWindowStats* r = FindRank(stats, rank);
  if (r == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("base interval ", stats.index, ": no statistics for rank ",
                     rank, "; vote rule ", VoteRuleName(rule), " needs them"));
  }
  const size_t k = static_cast<size_t>(window) - 1;
  if (window < 1 || r->samples.size() <= k || r->mean_loss.size() <= k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base interval ", stats.index, ": rank ", rank, " has no window of ",
        window, " base intervals (record with --stats_window >= ", window,
        ")"));
  }
  switch (rule) {
    case VoteRule::kSamples:
      return std::max<double>(0.0, static_cast<double>(r->samples[k]));
    case VoteRule::kLoss: {
      const double loss = r->mean_loss[k];
      return std::isfinite(loss) && loss > 0 ? 1.0 / loss : 0.0;
    }
    case VoteRule::kSnr: {
      double sum = 0;
      int n = 0;
      for (size_t u = 0; u < r->units.size() && u < stats.global.size(); ++u) {
        if (u < frozen.size() && frozen[u]) continue;
        const WindowNorms& local = r->units[u];
        const WindowNorms& global = stats.global[u];
        if (local.trained_steps.size() <= k || local.trained_steps[k] <= 0) {
          continue;
        }
        ++n;
        if (local.l2.size() <= k || local.dot_global.size() <= k ||
            global.l2.size() <= k) {
          continue;
        }
        const double denom = local.l2[k] * global.l2[k];
        const double cos = local.dot_global[k] / denom;
        if (denom > 0 && std::isfinite(denom) && std::isfinite(cos)) {
          sum += std::min(1.0, std::max(0.0, cos));
        }
      }
      return n > 0 ? sum / n : 0.0;
    }
    default:
      return 1.0;
  }
}

absl::StatusOr<Decision> CombineVotes(VoteRule rule, std::vector<Vote> votes,
                                      const std::vector<bool>& frozen) {
  const int n = static_cast<int>(frozen.size());
  std::sort(votes.begin(), votes.end(),
            [](const Vote& a, const Vote& b) { return a.rank < b.rank; });
  RETURN_IF_ERROR(CheckVotes(votes, frozen));
  std::vector<double> weights;
  double total = 0;
  for (const Vote& v : votes) {
    const double w = std::isfinite(v.weight) && v.weight > 0 ? v.weight : 0.0;
    weights.push_back(w);
    total += w;
  }
  const bool equal = !(total > 0) || !std::isfinite(total);
  if (equal) std::fill(weights.begin(), weights.end(), 1.0);

  Decision d;
  std::vector<std::string> tallies;
  for (int u = 0; u < n; ++u) {
    const bool is_frozen = frozen[u];
    bool asked = false;
    for (const Vote& v : votes) {
      asked = asked || Contains(is_frozen ? v.unfreeze : v.freeze, u);
    }
    if (!asked) continue;
    const double yes = SumWeights(votes, weights, [&](const Vote& v) {
      return Contains(is_frozen ? v.unfreeze : v.freeze, u);
    });
    const double no = SumWeights(votes, weights, [&](const Vote& v) {
      return !Contains(is_frozen ? v.unfreeze : v.freeze, u);
    });
    const char* verb = is_frozen ? "unfreeze" : "freeze";
    std::string outcome = yes > no ? "yes" : yes == no ? "tie, kept" : "no";
    tallies.push_back(absl::StrCat(verb, " ", u, " ", Short(yes), ":",
                                   Short(no), " ", outcome));
    if (yes > no) (is_frozen ? d.unfreeze : d.freeze).push_back(u);
  }
  d.reason = absl::StrCat(
      "vote ", VoteRuleName(rule), equal ? " (no positive weight: equal)" : "",
      ": ",
      tallies.empty() ? "no unit asked for" : absl::StrJoin(tallies, ", "),
      "; votes ", Ballot(votes));
  return d;
}

struct Freezer::Impl {
  std::string spec;
  VoteRule rule = VoteRule::kGlobal;
  PolicyContext context;
  std::vector<int> owned;  // ascending; empty for the global rule
  // One instance for the global rule, else one per owned rank (same order).
  std::vector<std::unique_ptr<FreezePolicy>> instances;
  int window = 1;
  int64_t next_index = 0;

  absl::StatusOr<std::vector<std::unique_ptr<FreezePolicy>>> MakeInstances()
      const {
    std::vector<std::unique_ptr<FreezePolicy>> out;
    const size_t count = rule == VoteRule::kGlobal ? 1 : owned.size();
    for (size_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(std::unique_ptr<FreezePolicy> p,
                       MakePolicy(spec, context));
      out.push_back(std::move(p));
    }
    return out;
  }

  Decision Guard(const std::vector<bool>& frozen, int64_t apply_step,
                 Decision d) const {
    const FreezePolicy& p = *instances[0];
    return ApplyGuards(p.guards(), context.units, frozen, apply_step,
                       !p.can_unfreeze(), std::move(d));
  }

  // OnBaseInterval's checks of what it is fed.
  absl::Status CheckFeed(const BaseIntervalStats& stats,
                         const std::vector<bool>& frozen) const {
    const size_t n = context.units.size();
    if (stats.index != next_index) {
      return absl::FailedPreconditionError(absl::StrCat(
          "base interval ", stats.index, " given, expected ", next_index,
          " (feed every base interval once, in order)"));
    }
    if (frozen.size() != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frozen set of ", frozen.size(), " units, the model has ", n));
    }
    return ValidateBaseIntervalStats(stats, n);
  }

  // The decision of a vote rule at the end of a policy interval: the owned
  // instances vote, the others' votes come through `exchange` (unless every
  // rank is owned), and the combined votes are guarded into `out`. On an
  // error every instance keeps the state it had.
  absl::Status DecideByVotes(const BaseIntervalStats& stats,
                             int64_t policy_interval,
                             const std::vector<bool>& frozen,
                             const VoteExchange& exchange,
                             FreezeDecision& out) {
    // Check everything that can fail before any instance changes its state.
    std::vector<IntervalStats> local;
    std::vector<double> weights;
    for (int r : owned) {
      auto s = SelectWindow(stats, window, policy_interval, r);
      if (!s.ok()) return absl::InvalidArgumentError(s.status().message());
      local.push_back(*std::move(s));
      ASSIGN_OR_RETURN(double w, VoteWeight(rule, stats, window, r, frozen));
      weights.push_back(w);
    }
    const bool all_owned = static_cast<int>(owned.size()) == context.ranks;
    if (!all_owned && !exchange) {
      return absl::FailedPreconditionError(absl::StrCat(
          "vote rule ", VoteRuleName(rule), " owns ranks {",
          absl::StrJoin(owned, ","), "} of ", context.ranks,
          " and needs a VoteExchange to gather the others' votes"));
    }
    // Online, the exchange can fail after the instances have decided: keep
    // their states so that a failure leaves this Freezer as it was and the
    // interval can be fed again. Offline nothing can fail from here on (the
    // votes are the instances' own guarded decisions), so no copy is made.
    std::vector<std::string> saved;
    if (!all_owned) {
      for (const auto& p : instances) saved.push_back(p->SaveState());
    }
    std::vector<Vote> mine;
    for (size_t i = 0; i < owned.size(); ++i) {
      Decision d = instances[i]->Decide(local[i], frozen);
      mine.push_back(Vote{owned[i], d.freeze, d.unfreeze, weights[i]});
    }
    absl::StatusOr<std::vector<Vote>> all = mine;
    if (!all_owned) all = GatherVotes(mine, exchange);
    absl::StatusOr<Decision> combined =
        all.ok() ? CombineVotes(rule, *all, frozen) : all.status();
    if (!combined.ok()) {
      for (size_t i = 0; i < saved.size(); ++i) {
        instances[i]->LoadState(saved[i]).IgnoreError();
      }
      return combined.status();
    }
    out.decision = Guard(frozen, out.apply_step, *std::move(combined));
    out.votes = *std::move(all);
    return absl::OkStatus();
  }

  // Every rank's vote through `exchange`, in rank order; an error unless it
  // returns one vote a rank with `mine` unchanged.
  absl::StatusOr<std::vector<Vote>> GatherVotes(
      const std::vector<Vote>& mine, const VoteExchange& exchange) const {
    auto gathered = exchange(mine);
    if (!gathered.ok()) {
      return absl::Status(
          gathered.status().code(),
          absl::StrCat("vote exchange: ", gathered.status().message()));
    }
    std::vector<Vote> all = *std::move(gathered);
    std::sort(all.begin(), all.end(),
              [](const Vote& a, const Vote& b) { return a.rank < b.rank; });
    bool ok = static_cast<int>(all.size()) == context.ranks;
    for (size_t i = 0; ok && i < all.size(); ++i) {
      ok = all[i].rank == static_cast<int>(i);
    }
    for (const Vote& v : mine) ok = ok && SameVote(all[v.rank], v);
    if (!ok) {
      std::vector<int> ranks;
      for (const Vote& v : all) ranks.push_back(v.rank);
      return absl::FailedPreconditionError(absl::StrCat(
          "vote exchange returned votes of ranks {", absl::StrJoin(ranks, ","),
          "}; expected each of 0..", context.ranks - 1,
          " once, with this process's own votes "
          "unchanged"));
    }
    return all;
  }
};

Freezer::Freezer() : impl_(std::make_unique<Impl>()) {}
Freezer::~Freezer() = default;

absl::StatusOr<std::unique_ptr<Freezer>> Freezer::Create(
    std::string_view policy_spec, VoteRule rule, const PolicyContext& context,
    std::vector<int> owned_ranks) {
  std::unique_ptr<Freezer> f(new Freezer());
  Impl& m = *f->impl_;
  m.rule = rule;
  m.context = context;
  ASSIGN_OR_RETURN(std::unique_ptr<FreezePolicy> first,
                   MakePolicy(policy_spec, context));
  m.spec = first->spec();
  m.window = first->interval_steps() / context.base_interval_steps;
  if (rule != VoteRule::kGlobal) {
    std::sort(owned_ranks.begin(), owned_ranks.end());
    if (owned_ranks.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vote rule ", VoteRuleName(rule), " needs at least one owned rank"));
    }
    for (size_t i = 0; i < owned_ranks.size(); ++i) {
      const int r = owned_ranks[i];
      if (r < 0 || r >= context.ranks || (i > 0 && owned_ranks[i - 1] == r)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "owned ranks {", absl::StrJoin(owned_ranks, ","),
            "}: each must be distinct and in [0, ", context.ranks, ")"));
      }
    }
    m.owned = std::move(owned_ranks);
  }
  ASSIGN_OR_RETURN(m.instances, m.MakeInstances());
  return f;
}

const FreezePolicy& Freezer::policy() const { return *impl_->instances[0]; }
VoteRule Freezer::rule() const { return impl_->rule; }
int Freezer::window() const { return impl_->window; }
int64_t Freezer::next_index() const { return impl_->next_index; }

FreezeDecision Freezer::Initial() {
  std::vector<bool> frozen(impl_->context.units.size(), false);
  return Initial(frozen);
}

FreezeDecision Freezer::Initial(std::vector<bool>& frozen) {
  FreezeDecision out;
  out.interval = -1;
  out.apply_step = 0;
  out.epoch = 0;
  if (frozen.size() != impl_->context.units.size()) {
    out.decision.reason =
        absl::StrCat("no initial decision: frozen set of ", frozen.size(),
                     " units, the model has ", impl_->context.units.size());
    return out;
  }
  out.decision = impl_->Guard(frozen, 0, impl_->instances[0]->Initial());
  for (int u : out.decision.freeze) frozen[u] = true;
  for (int u : out.decision.unfreeze) frozen[u] = false;
  return out;
}

absl::StatusOr<std::optional<FreezeDecision>> Freezer::OnBaseInterval(
    const BaseIntervalStats& stats, std::vector<bool>& frozen,
    const VoteExchange& exchange) {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.CheckFeed(stats, frozen));
  if ((stats.index + 1) % m.window != 0) {
    ++m.next_index;
    return std::optional<FreezeDecision>();
  }
  const int64_t policy_interval = (stats.index + 1) / m.window - 1;

  FreezeDecision out;
  out.interval = stats.index;
  out.apply_step = stats.last_step + 1;
  out.epoch = stats.epoch;
  if (m.rule == VoteRule::kGlobal) {
    ASSIGN_OR_RETURN(
        IntervalStats s,
        SelectWindow(stats, m.window, policy_interval, kGlobalRank));
    out.decision =
        m.Guard(frozen, out.apply_step, m.instances[0]->Decide(s, frozen));
  } else {
    RETURN_IF_ERROR(
        m.DecideByVotes(stats, policy_interval, frozen, exchange, out));
  }
  ++m.next_index;
  for (int u : out.decision.freeze) frozen[u] = true;
  for (int u : out.decision.unfreeze) frozen[u] = false;
  if (out.decision.empty()) return std::optional<FreezeDecision>();
  return std::optional<FreezeDecision>(std::move(out));
}

std::string Freezer::SaveState() const {
  const Impl& m = *impl_;
  StateWriter w;
  w.Add("freezer", "v1");
  w.Add("spec", m.spec);
  w.Add("rule", VoteRuleName(m.rule));
  w.AddInts("owned", std::vector<int64_t>(m.owned.begin(), m.owned.end()));
  w.AddInt("next_index", m.next_index);
  for (const auto& p : m.instances) w.AddBlob("instance", p->SaveState());
  return w.str();
}

absl::Status Freezer::LoadState(std::string_view state) {
  return LoadStateOwnedBy(state, impl_->owned);
}

absl::Status Freezer::LoadStateOfRank(std::string_view state, int from_rank) {
  if (impl_->rule == VoteRule::kGlobal) return LoadState(state);
  if (impl_->owned.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoadStateOfRank: this Freezer owns ", impl_->owned.size(),
                     " ranks; it needs one"));
  }
  return LoadStateOwnedBy(state, {from_rank});
}

absl::Status Freezer::LoadStateOwnedBy(std::string_view state,
                                       const std::vector<int>& saved_owned) {
  Impl& m = *impl_;
  StateReader r(absl::string_view(state.data(), state.size()), "freezer state");
  ASSIGN_OR_RETURN(std::string version, r.Get("freezer"));
  if (version != "v1") {
    return absl::DataLossError(absl::StrCat("freezer state: unknown version '",
                                            version,
                                            "' (this build reads v1)"));
  }
  ASSIGN_OR_RETURN(std::string spec, r.Get("spec"));
  ASSIGN_OR_RETURN(std::string rule, r.Get("rule"));
  ASSIGN_OR_RETURN(std::vector<int64_t> owned, r.GetInts("owned"));
  const std::vector<int64_t> mine(saved_owned.begin(), saved_owned.end());
  if (spec != m.spec || rule != VoteRuleName(m.rule) || owned != mine) {
    return absl::InvalidArgumentError(absl::StrCat(
        "freezer state is for policy '", spec, "', rule ", rule,
        ", owned ranks {", absl::StrJoin(owned, ","), "}; this Freezer runs '",
        m.spec, "', rule ", VoteRuleName(m.rule), ", owned ranks {",
        absl::StrJoin(mine, ","), "}"));
  }
  ASSIGN_OR_RETURN(int64_t next_index, r.GetInt("next_index"));
  if (next_index < 0) {
    return absl::DataLossError("freezer state: negative next_index");
  }
  ASSIGN_OR_RETURN(auto instances, m.MakeInstances());
  for (auto& p : instances) {
    ASSIGN_OR_RETURN(std::string blob, r.GetBlob("instance"));
    RETURN_IF_ERROR(p->LoadState(blob));
  }
  RETURN_IF_ERROR(r.ExpectEnd());
  m.instances = std::move(instances);
  m.next_index = next_index;
  return absl::OkStatus();
}

}  // namespace freezing::freeze
