// Freezer: policy intervals over base intervals, vote weights and their
// combination, errors, and the property that every rank reaches the same
// decision: N online Freezers (one rank each, votes exchanged through a
// gather) decide exactly as one offline Freezer that owns all ranks.
#include "freeze/freezer.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "freeze/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using testing::DecisionText;
using ::testing::HasSubstr;
using testing::MakeContext;
using testing::RandomBaseInterval;
using testing::Rng;
using testing::StreamContext;
using testing::StreamOptions;

// A base interval of 3 units with windows 1..W; the window-k norms are
// given per unit; one rank per entry of `rank_scale` with local norms =
// global * scale.
BaseIntervalStats Base(int64_t index, int steps,
                       const std::vector<std::vector<double>>& l2_by_window,
                       std::vector<double> rank_scale = {}) {
  BaseIntervalStats s;
  s.index = index;
  s.first_step = index * steps;
  s.last_step = s.first_step + steps - 1;
  s.epoch = 0;
  s.progress = (s.last_step + 1) / 100.0;
  const size_t units = l2_by_window.size();
  for (size_t u = 0; u < units; ++u) {
    WindowNorms n;
    n.l2 = l2_by_window[u];
    n.l1 = l2_by_window[u];
    n.trained_steps.assign(n.l2.size(), steps);
    s.global.push_back(n);
  }
  for (size_t r = 0; r < rank_scale.size(); ++r) {
    RankWindowStats rs;
    rs.rank = static_cast<int>(r);
    const size_t w = l2_by_window[0].size();
    rs.samples.assign(w, 10 * (r + 1));
    rs.mean_loss.assign(w, 1.0 + r);
    for (size_t u = 0; u < units; ++u) {
      WindowNorms n = s.global[u];
      for (double& x : n.l2) x *= rank_scale[r];
      n.l1 = n.l2;
      n.dot_global.assign(w, 0.0);
      rs.units.push_back(n);
    }
    s.ranks.push_back(rs);
  }
  return s;
}

TEST(FreezerTest, PolicyIntervalReadsTheWindowOfKBaseIntervals) {
  // T = 5, W = 2, policy interval 10 = 2 base intervals.
  auto f = Freezer::Create("gradnorm:interval=10", VoteRule::kGlobal,
                           MakeContext(3, 5, 2), {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->window(), 2);
  std::vector<bool> frozen(3, false);
  // Window-1 norms would freeze unit 1 after the first policy interval;
  // the window-2 norms (second entries) freeze unit 0.
  const std::vector<BaseIntervalStats> stream = {
      Base(0, 5, {{1}, {1}, {1}}),
      Base(1, 5, {{1, 10}, {1, 10}, {1, 10}}),
      Base(2, 5, {{1, 1}, {9.9, 1}, {1, 1}}),
      Base(3, 5, {{5, 9.9}, {5, 5}, {1, 10}}),
  };
  for (int i = 0; i < 3; ++i) {
    auto d = (*f)->OnBaseInterval(stream[i], frozen);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_FALSE(d->has_value()) << i;
  }
  auto d = (*f)->OnBaseInterval(stream[3], frozen);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->interval, 3);
  EXPECT_EQ((*d)->apply_step, 20);
  EXPECT_EQ((*d)->decision.freeze, std::vector<int>{0});
  EXPECT_TRUE((*d)->votes.empty());
  EXPECT_EQ(frozen, (std::vector<bool>{true, false, false}));
  EXPECT_EQ((*f)->next_index(), 4);
}

TEST(FreezerTest, BaseIntervalsMustComeInOrder) {
  auto f = Freezer::Create("gradnorm", VoteRule::kGlobal, MakeContext(3), {});
  ASSERT_TRUE(f.ok());
  std::vector<bool> frozen(3, false);
  auto d = (*f)->OnBaseInterval(Base(1, 1, {{1}, {1}, {1}}), frozen);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("base interval 1 given, expected 0"));
}

TEST(FreezerTest, WrongShapesAreInvalidArgument) {
  auto f = Freezer::Create("gradnorm", VoteRule::kMajority,
                           MakeContext(3, 1, 1, 2), {0, 1});
  ASSERT_TRUE(f.ok());
  std::vector<bool> frozen(3, false);
  // No per-rank statistics for a vote rule.
  auto d = (*f)->OnBaseInterval(Base(0, 1, {{1}, {1}, {1}}), frozen);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("no statistics for rank 0"));
  std::vector<bool> short_frozen(2, false);
  d = (*f)->OnBaseInterval(Base(0, 1, {{1}, {1}, {1}}, {1, 1}), short_frozen);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->next_index(), 0);
}

TEST(FreezerTest, CreateErrors) {
  EXPECT_FALSE(
      Freezer::Create("bogus", VoteRule::kGlobal, MakeContext(3), {}).ok());
  auto f = Freezer::Create("gradnorm", VoteRule::kMajority,
                           MakeContext(3, 1, 1, 2), {});
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("at least one owned rank"));
  f = Freezer::Create("gradnorm", VoteRule::kMajority, MakeContext(3, 1, 1, 2),
                      {0, 2});
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("in [0, 2)"));
  f = Freezer::Create("gradnorm", VoteRule::kMajority, MakeContext(3, 1, 1, 2),
                      {1, 1});
  EXPECT_FALSE(f.ok());
}

TEST(FreezerTest, InitialAppliesStaticToTheFrozenSet) {
  auto f = Freezer::Create("static:2", VoteRule::kMajority,
                           MakeContext(4, 1, 1, 2), {1});
  ASSERT_TRUE(f.ok());
  std::vector<bool> frozen(4, false);
  FreezeDecision d = (*f)->Initial(frozen);
  EXPECT_EQ(d.interval, -1);
  EXPECT_EQ(d.apply_step, 0);
  EXPECT_EQ(d.decision.freeze, (std::vector<int>{0, 1}));
  EXPECT_EQ(frozen, (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ((*f)->Initial().decision.freeze, (std::vector<int>{0, 1}));
}

TEST(VoteRuleTest, NamesRoundTrip) {
  for (const std::string& name : VoteRuleNames()) {
    auto rule = ParseVoteRule(name);
    ASSERT_TRUE(rule.ok()) << name;
    EXPECT_EQ(VoteRuleName(*rule), name);
  }
  auto bad = ParseVoteRule("median");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("valid rules: global, majority, samples, loss, snr"));
}

TEST(VoteWeightTest, EachRule) {
  BaseIntervalStats s = Base(0, 1, {{4}, {2}, {1}}, {1, 2});
  // Rank 1: local l2 = 8, 4, 2; dot with global chosen for cosines
  // 0.5, -0.2 (clipped to 0) and 1.5 (clipped to 1).
  s.ranks[1].units[0].dot_global = {0.5 * 8 * 4};
  s.ranks[1].units[1].dot_global = {-0.2 * 4 * 2};
  s.ranks[1].units[2].dot_global = {1.5 * 2 * 1};
  const std::vector<bool> none(3, false);
  EXPECT_EQ(*VoteWeight(VoteRule::kMajority, s, 1, 1, none), 1.0);
  EXPECT_EQ(*VoteWeight(VoteRule::kSamples, s, 1, 1, none), 20.0);
  EXPECT_EQ(*VoteWeight(VoteRule::kLoss, s, 1, 1, none), 0.5);
  EXPECT_DOUBLE_EQ(*VoteWeight(VoteRule::kSnr, s, 1, 1, none),
                   (0.5 + 0 + 1) / 3);
  // Frozen units do not count.
  EXPECT_DOUBLE_EQ(*VoteWeight(VoteRule::kSnr, s, 1, 1, {true, false, false}),
                   0.5);
  // Unusable numbers weigh 0.
  s.ranks[1].mean_loss = {0.0};
  EXPECT_EQ(*VoteWeight(VoteRule::kLoss, s, 1, 1, none), 0.0);
  EXPECT_EQ(*VoteWeight(VoteRule::kSnr, s, 1, 0, none), 0.0);  // dot 0
  EXPECT_FALSE(VoteWeight(VoteRule::kSamples, s, 1, 7, none).ok());
  EXPECT_FALSE(VoteWeight(VoteRule::kSamples, s, 2, 1, none).ok());
}

struct CombineCase {
  std::string name;
  std::vector<bool> frozen;
  std::vector<Vote> votes;
  std::vector<int> freeze;
  std::vector<int> unfreeze;
  std::string reason;
};

void PrintTo(const CombineCase& c, std::ostream* os) { *os << c.name; }

class CombineVotesTest : public ::testing::TestWithParam<CombineCase> {};

TEST_P(CombineVotesTest, Combines) {
  const CombineCase& c = GetParam();
  auto d = CombineVotes(VoteRule::kSamples, c.votes, c.frozen);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->freeze, c.freeze) << d->reason;
  EXPECT_EQ(d->unfreeze, c.unfreeze) << d->reason;
  EXPECT_THAT(d->reason, HasSubstr(c.reason));
  // The order in which votes arrive does not matter.
  std::vector<Vote> reversed(c.votes.rbegin(), c.votes.rend());
  auto again = CombineVotes(VoteRule::kSamples, reversed, c.frozen);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->freeze, d->freeze);
  EXPECT_EQ(again->reason, d->reason);
}

const std::vector<bool> kThree = {false, false, false};

INSTANTIATE_TEST_SUITE_P(
    Cases, CombineVotesTest,
    ::testing::Values(
        CombineCase{"ExactTieKeepsTheUnit",
                    kThree,
                    {{0, {0}, {}, 1}, {1, {}, {}, 1}},
                    {},
                    {},
                    "freeze 0 1:1 tie, kept"},
        CombineCase{"HeavierSideWins",
                    kThree,
                    {{0, {0}, {}, 3}, {1, {}, {}, 1}},
                    {0},
                    {},
                    "freeze 0 3:1 yes"},
        CombineCase{"LighterSideLoses",
                    kThree,
                    {{0, {0}, {}, 1}, {1, {}, {}, 3}},
                    {},
                    {},
                    "freeze 0 1:3 no"},
        CombineCase{"PerUnitMajority",
                    kThree,
                    {{0, {0, 1}, {}, 1}, {1, {0}, {}, 1}, {2, {}, {}, 1}},
                    {0},
                    {},
                    "freeze 1 1:2 no"},
        CombineCase{"NoPositiveWeightCountsEqually",
                    kThree,
                    {{0, {0}, {}, 0}, {1, {0}, {}, 0}, {2, {}, {}, 0}},
                    {0},
                    {},
                    "no positive weight: equal"},
        CombineCase{"NaNAndNegativeWeightsCountZero",
                    kThree,
                    {{0, {0}, {}, std::numeric_limits<double>::quiet_NaN()},
                     {1, {0}, {}, -5},
                     {2, {}, {}, 1}},
                    {},
                    {},
                    "freeze 0 0:1 no"},
        CombineCase{"Unfreeze",
                    {true, false, false},
                    {{0, {}, {0}, 1}, {1, {}, {0}, 1}, {2, {}, {}, 1}},
                    {},
                    {0},
                    "unfreeze 0 2:1 yes"},
        CombineCase{"NobodyAsks",
                    kThree,
                    {{0, {}, {}, 1}},
                    {},
                    {},
                    "no unit asked for"}));

TEST(CombineVotesTest, InconsistentVotesAreFailedPrecondition) {
  auto d = CombineVotes(VoteRule::kMajority, {{0, {0}, {}, 1}},
                        {true, false, false});
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("the ranks' frozen sets differ"));
  d = CombineVotes(VoteRule::kMajority, {{0, {}, {1}, 1}}, kThree);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  d = CombineVotes(VoteRule::kMajority, {{0, {}, {}, 1}, {0, {}, {}, 1}},
                   kThree);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("two votes from rank 0"));
}

TEST(FreezerTest, VotesAreCombinedAndTiesKeepTheUnit) {
  // Rank 0's local norms make gradnorm freeze unit 0; rank 1's do not.
  auto base = [](int64_t i, std::vector<double> r0, std::vector<double> r1) {
    BaseIntervalStats s = Base(i, 1, {{1}, {1}, {1}}, {1, 1});
    for (int u = 0; u < 3; ++u) {
      s.ranks[0].units[u].l2 = s.ranks[0].units[u].l1 = {r0[u]};
      s.ranks[1].units[u].l2 = s.ranks[1].units[u].l1 = {r1[u]};
    }
    return s;
  };
  for (VoteRule rule : {VoteRule::kMajority, VoteRule::kSamples}) {
    auto f = Freezer::Create("gradnorm", rule, MakeContext(3, 1, 1, 2), {0, 1});
    ASSERT_TRUE(f.ok());
    std::vector<bool> frozen(3, false);
    ASSERT_TRUE(
        (*f)->OnBaseInterval(base(0, {10, 10, 1}, {10, 10, 1}), frozen).ok());
    auto d = (*f)->OnBaseInterval(base(1, {9.9, 5, 1}, {5, 9.9, 1}), frozen);
    ASSERT_TRUE(d.ok()) << d.status();
    if (rule == VoteRule::kMajority) {
      EXPECT_FALSE(d->has_value()) << "1:1 is a tie: nothing changes";
      EXPECT_EQ(frozen, kThree);
    } else {
      // samples: rank 1 (20 samples) outweighs rank 0 (10), and voted no.
      EXPECT_FALSE(d->has_value());
    }
  }
  // With the ranks swapped, samples favours freezing.
  auto f = Freezer::Create("gradnorm", VoteRule::kSamples,
                           MakeContext(3, 1, 1, 2), {0, 1});
  std::vector<bool> frozen(3, false);
  ASSERT_TRUE(
      (*f)->OnBaseInterval(base(0, {10, 10, 1}, {10, 10, 1}), frozen).ok());
  auto d = (*f)->OnBaseInterval(base(1, {5, 9.9, 1}, {9.9, 5, 1}), frozen);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->decision.freeze, std::vector<int>{0});
  ASSERT_EQ((*d)->votes.size(), 2u);
  EXPECT_EQ((*d)->votes[0].freeze, std::vector<int>{});
  EXPECT_EQ((*d)->votes[1].freeze, std::vector<int>{0});
  EXPECT_EQ((*d)->votes[1].weight, 20.0);
  EXPECT_THAT((*d)->decision.reason, HasSubstr("freeze 0 20:10 yes"));
}

TEST(FreezerTest, OnlineWithoutExchangeFailsAndChangesNothing) {
  const StreamOptions o{.units = 4, .ranks = 2, .max_window = 1};
  auto f =
      Freezer::Create("gradnorm", VoteRule::kMajority, StreamContext(o), {1});
  ASSERT_TRUE(f.ok());
  std::vector<bool> frozen(4, false);
  Rng rng(3);
  const BaseIntervalStats s = RandomBaseInterval(rng, o, 0, frozen);
  const std::string before = (*f)->SaveState();
  auto d = (*f)->OnBaseInterval(s, frozen);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("needs a VoteExchange"));
  EXPECT_EQ((*f)->SaveState(), before);

  // A broken exchange: the error is reported, the state restored, and the
  // interval can be fed again.
  VoteExchange lossy =
      [](const std::vector<Vote>& mine) -> absl::StatusOr<std::vector<Vote>> {
    return mine;
  };
  d = (*f)->OnBaseInterval(s, frozen, lossy);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("expected each of 0..1 once"));
  EXPECT_EQ((*f)->SaveState(), before);
  VoteExchange down =
      [](const std::vector<Vote>&) -> absl::StatusOr<std::vector<Vote>> {
    return absl::UnavailableError("peer gone");
  };
  d = (*f)->OnBaseInterval(s, frozen, down);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("vote exchange: peer gone"));
  EXPECT_EQ((*f)->SaveState(), before);
  VoteExchange echo =
      [](const std::vector<Vote>& mine) -> absl::StatusOr<std::vector<Vote>> {
    std::vector<Vote> all = mine;
    all.push_back(Vote{0, {}, {}, 1});
    return all;
  };
  d = (*f)->OnBaseInterval(s, frozen, echo);
  EXPECT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*f)->next_index(), 1);
}

TEST(FreezerTest, StateErrors) {
  auto f = Freezer::Create("gradnorm", VoteRule::kMajority,
                           MakeContext(3, 1, 1, 2), {0, 1});
  auto g = Freezer::Create("gradnorm", VoteRule::kSnr, MakeContext(3, 1, 1, 2),
                           {0, 1});
  auto h = Freezer::Create("gradnorm", VoteRule::kMajority,
                           MakeContext(3, 1, 1, 2), {0});
  ASSERT_TRUE(f.ok() && g.ok() && h.ok());
  const std::string state = (*f)->SaveState();
  EXPECT_EQ((*g)->LoadState(state).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*h)->LoadState(state).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->LoadState("freezer v9\n").code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ((*f)->LoadState(state.substr(0, state.size() - 3)).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE((*f)->LoadState(state).ok());
  EXPECT_EQ((*f)->SaveState(), state);
}

// An all-gather for threads: each caller contributes its votes and gets
// everyone's, in arrival order (which the Freezer must not depend on).
class Gather {
 public:
  explicit Gather(int n) : n_(n) {}
  absl::StatusOr<std::vector<Vote>> Exchange(const std::vector<Vote>& mine) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t generation = generation_;
    pending_.insert(pending_.end(), mine.begin(), mine.end());
    if (++arrived_ == n_) {
      result_ = std::move(pending_);
      pending_.clear();
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    return result_;
  }

 private:
  const int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Vote> pending_, result_;
  int arrived_ = 0;
  int64_t generation_ = 0;
};

// One rank's (or the offline) log: one line per base interval.
using Log = std::vector<std::string>;

Log RunStream(const std::string& spec, VoteRule rule, const StreamOptions& o,
              std::vector<int> owned, const VoteExchange& exchange) {
  Log log;
  auto f = Freezer::Create(spec, rule, StreamContext(o), owned);
  if (!f.ok()) return {std::string(f.status().message())};
  std::vector<bool> frozen(o.units, false);
  (*f)->Initial(frozen);
  Rng rng(o.seed);
  for (int i = 0; i < o.intervals; ++i) {
    const BaseIntervalStats s = RandomBaseInterval(rng, o, i, frozen);
    auto d = (*f)->OnBaseInterval(s, frozen, exchange);
    if (!d.ok()) {
      log.push_back(std::string(d.status().message()));
      break;  // (the other ranks then wait forever: the test times out)
    }
    log.push_back(d->has_value() ? DecisionText(**d) : "-");
  }
  return log;
}

struct OnlineCase {
  std::string spec;
  VoteRule rule;
};

// Decisions (of an offline log) whose ranks did not all vote alike.
int Disagreements(const Log& log) {
  int n = 0;
  for (const std::string& line : log) {
    if (line == "-") continue;
    std::vector<std::string> ballots;
    for (int r = 0; r < 3; ++r) {
      const size_t at = line.find(absl::StrCat(" r", r, ":"));
      if (at == std::string::npos) continue;
      ballots.push_back(line.substr(at + 4, line.find('w', at) - at - 4));
    }
    for (const std::string& b : ballots) n += b != ballots[0] ? 1 : 0;
  }
  return n;
}

class OnlineEqualsOfflineTest : public ::testing::TestWithParam<OnlineCase> {};

TEST_P(OnlineEqualsOfflineTest, EveryRankReachesTheOfflineDecision) {
  for (uint64_t seed : {1, 2, 3}) {
    const StreamOptions o{.units = 6,
                          .ranks = 3,
                          .base_interval_steps = 4,
                          .max_window = 2,
                          .intervals = 60,
                          .seed = seed};
    const Log offline =
        RunStream(GetParam().spec, GetParam().rule, o, {0, 1, 2}, nullptr);
    Gather gather(o.ranks);
    VoteExchange exchange = [&gather](const std::vector<Vote>& mine) {
      return gather.Exchange(mine);
    };
    std::vector<Log> online(o.ranks);
    std::vector<std::thread> threads;
    for (int r = 0; r < o.ranks; ++r) {
      threads.emplace_back([&, r] {
        online[r] =
            RunStream(GetParam().spec, GetParam().rule, o, {r}, exchange);
      });
    }
    for (std::thread& t : threads) t.join();
    int decisions = 0;
    for (const std::string& line : offline) decisions += line != "-";
    EXPECT_GT(decisions, 0) << "seed " << seed << ": no decision to compare";
    for (int r = 0; r < o.ranks; ++r) {
      ASSERT_EQ(online[r].size(), offline.size()) << "rank " << r;
      for (size_t i = 0; i < offline.size(); ++i) {
        EXPECT_EQ(online[r][i], offline[i])
            << "seed " << seed << " rank " << r << " base interval " << i;
      }
    }
  }
}

// The comparison above means something only if the ranks' local statistics
// make them vote differently: check that the stream does.
TEST(OnlineEqualsOfflineStreamTest, RanksDoDisagree) {
  const StreamOptions o{.units = 6,
                        .ranks = 3,
                        .base_interval_steps = 4,
                        .max_window = 2,
                        .intervals = 60,
                        .seed = 1};
  for (const char* spec :
       {"gradnorm", "autofreeze:interval=8", "apf:threshold=0.6,period=2"}) {
    const Log log = RunStream(spec, VoteRule::kMajority, o, {0, 1, 2}, nullptr);
    EXPECT_GT(Disagreements(log), 0) << spec;
  }
}

std::vector<OnlineCase> OnlineCases() {
  std::vector<OnlineCase> cases;
  for (VoteRule rule : {VoteRule::kMajority, VoteRule::kSamples,
                        VoteRule::kLoss, VoteRule::kSnr}) {
    for (const char* spec :
         {"gradnorm", "gradnorm:variant=prefix", "gradnorm:interval=8",
          "autofreeze:interval=8", "threshold:tau=0.2,patience=2",
          "apf:threshold=0.6,period=2", "freezeout:t0=0.3",
          "gradnorm:variant=prefix,max_frozen=0.5,warmup=40"}) {
      cases.push_back({spec, rule});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Rules, OnlineEqualsOfflineTest,
                         ::testing::ValuesIn(OnlineCases()));

}  // namespace
}  // namespace freezing::freeze
