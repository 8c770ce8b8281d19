// Properties over random statistic streams (fixed seeds) of a ResNet-like and
// a ViT-shaped model, for every policy through Freezer, with the global rule
// and with offline majority votes:
//  - prefix policies keep the frozen set a prefix; no policy ever freezes
//    the classifier or exceeds max_frozen;
//  - two runs give identical decisions;
//  - saving the state mid-stream and continuing in a new Freezer after
//    LoadState gives the same decisions as running straight through.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "freeze/freezer.h"
#include "freeze/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using testing::DecisionText;
using testing::RandomBaseInterval;
using testing::Rng;
using testing::StreamContext;
using testing::StreamOptions;

struct PropertyCase {
  std::string spec;
  VoteRule rule;
  // A ViT-shaped model (VitShapedStream: 14 units, parameters spread evenly
  // over 12 identical blocks) instead of 7 ResNet-like groups.
  bool vit = false;
};

void PrintTo(const PropertyCase& c, std::ostream* os) {
  *os << c.spec << " " << VoteRuleName(c.rule) << (c.vit ? " vit" : "");
}

StreamOptions Options(uint64_t seed, bool vit = false) {
  if (vit) return testing::VitShapedStream(seed);
  return StreamOptions{.units = 7,
                       .ranks = 3,
                       .base_interval_steps = 4,
                       .max_window = 3,
                       .intervals = 80,
                       .seed = seed};
}

std::unique_ptr<Freezer> MakeFreezer(const PropertyCase& c,
                                     const StreamOptions& o) {
  auto f = Freezer::Create(c.spec, c.rule, StreamContext(o), {0, 1, 2});
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *std::move(f) : nullptr;
}

// Runs the stream; at base interval `cut` (if >= 0) the Freezer is saved
// and replaced by a new one restored from the state. Returns one line per
// base interval, and checks the invariants on the way.
std::vector<std::string> RunStream(const PropertyCase& c, uint64_t seed,
                                   int cut) {
  const StreamOptions o = Options(seed, c.vit);
  const PolicyContext context = StreamContext(o);
  std::unique_ptr<Freezer> f = MakeFreezer(c, o);
  if (f == nullptr) return {};
  const bool prefix = !f->policy().can_unfreeze();
  const double max_frozen = f->policy().guards().max_frozen;
  double total_params = 0;
  for (const UnitInfo& u : context.units) total_params += u.params;

  std::vector<std::string> log;
  std::vector<bool> frozen(o.units, false);
  log.push_back(DecisionText(f->Initial(frozen)));
  Rng rng(seed);
  for (int i = 0; i < o.intervals; ++i) {
    if (i == cut) {
      const std::string state = f->SaveState();
      std::unique_ptr<Freezer> g = MakeFreezer(c, o);
      absl::Status s = g->LoadState(state);
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_EQ(g->SaveState(), state) << "state is not a fixed point";
      f = std::move(g);
    }
    const BaseIntervalStats stats = RandomBaseInterval(rng, o, i, frozen);
    auto d = f->OnBaseInterval(stats, frozen);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) break;
    log.push_back(d->has_value() ? DecisionText(**d) : "-");

    EXPECT_FALSE(frozen.back()) << "classifier frozen at " << i;
    double share = 0;
    for (int u = 0; u < o.units; ++u) {
      if (frozen[u]) share += context.units[u].params / total_params;
      if (prefix && u > 0) {
        EXPECT_TRUE(frozen[u - 1] || !frozen[u])
            << "not a prefix at base interval " << i << ": unit " << u;
      }
    }
    EXPECT_LE(share, max_frozen + 1e-12) << "base interval " << i;
  }
  return log;
}

class StreamPropertyTest : public ::testing::TestWithParam<PropertyCase> {};

TEST_P(StreamPropertyTest, InvariantsDeterminismAndCheckpoints) {
  for (uint64_t seed : {11, 12, 13}) {
    const std::vector<std::string> straight = RunStream(GetParam(), seed, -1);
    ASSERT_EQ(straight.size(), Options(seed, GetParam().vit).intervals + 1u);
    EXPECT_EQ(RunStream(GetParam(), seed, -1), straight) << "not deterministic";
    for (int cut : {1, 17, 40, 79}) {
      const std::vector<std::string> resumed = RunStream(GetParam(), seed, cut);
      ASSERT_EQ(resumed.size(), straight.size());
      for (size_t i = 0; i < straight.size(); ++i) {
        EXPECT_EQ(resumed[i], straight[i])
            << "seed " << seed << " cut " << cut << " line " << i;
      }
    }
  }
}

std::vector<PropertyCase> Cases() {
  std::vector<PropertyCase> cases;
  for (VoteRule rule : {VoteRule::kGlobal, VoteRule::kMajority}) {
    for (const char* spec :
         {"none", "static:3", "static:k=2,at=100", "gradnorm",
          "gradnorm:variant=prefix,norm=l1", "gradnorm:interval=12",
          "autofreeze", "autofreeze:percentile=80,interval=8",
          "threshold:tau=0.3,patience=2", "freezeout", "freezeout:cubic=1",
          "pipetransformer:alpha=0.3", "apf:threshold=0.6,period=2",
          "apf:ema=0.5,threshold=0.8,interval=8",
          "gradnorm:variant=prefix,max_frozen=0.4,warmup=60",
          "apf:threshold=0.9,max_frozen=0.3"}) {
      cases.push_back({spec, rule});
      cases.push_back({spec, rule, /*vit=*/true});
    }
  }
  for (VoteRule rule : {VoteRule::kGlobal, VoteRule::kMajority}) {
    cases.push_back({"static:13", rule, /*vit=*/true});  // all but the head
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Policies, StreamPropertyTest,
                         ::testing::ValuesIn(Cases()));

// Units listed after `key` ("freeze=[" or "unfreeze=[") in a log line.
int Listed(const std::string& line, const std::string& key) {
  const size_t at = line.find(" " + key);
  if (at == std::string::npos) return 0;
  const size_t open = at + 1 + key.size();
  const size_t close = line.find(']', open);
  if (close == open) return 0;
  int n = 1;
  for (size_t k = open; k < close; ++k) n += line[k] == ',';
  return n;
}

int Total(const std::vector<std::string>& log, const std::string& key) {
  int n = 0;
  for (const std::string& line : log) n += Listed(line, key);
  return n;
}

// On the ViT-shaped stream too, policies freeze blocks, apf unfreezes, and
// the cap on frozen parameters binds after a few blocks (8.3% each).
TEST(StreamCoverageTest, PoliciesActOnTheVitShapedStream) {
  for (const char* spec :
       {"gradnorm", "gradnorm:variant=prefix", "autofreeze",
        "threshold:tau=0.3,patience=2", "freezeout",
        "pipetransformer:alpha=0.3", "apf:threshold=0.6,period=2"}) {
    const auto log = RunStream({spec, VoteRule::kGlobal, true}, 11, -1);
    EXPECT_GT(Total(log, "freeze=["), 1) << spec;
  }
  const auto apf = RunStream(
      {"apf:threshold=0.6,period=2", VoteRule::kGlobal, true}, 11, -1);
  EXPECT_GT(Total(apf, "unfreeze=["), 0);
  const auto free =
      RunStream({"gradnorm:variant=prefix", VoteRule::kGlobal, true}, 11, -1);
  const auto capped = RunStream(
      {"gradnorm:variant=prefix,max_frozen=0.4", VoteRule::kGlobal, true}, 11,
      -1);
  EXPECT_GT(Total(free, "freeze=["), Total(capped, "freeze=["));
  // The embedding and 4 blocks: 0.4% + 4 x 8.3% <= 40% < + a fifth block.
  EXPECT_EQ(Total(capped, "freeze=["), 5);
}

// The streams exercise what they are meant to: policies do freeze, apf
// unfreezes, warmup and the cap bind.
TEST(StreamCoverageTest, PoliciesActOnTheStream) {
  for (const char* spec :
       {"gradnorm", "autofreeze", "threshold:tau=0.3,patience=2",
        "apf:threshold=0.6,period=2"}) {
    const auto log = RunStream({spec, VoteRule::kGlobal}, 11, -1);
    EXPECT_GT(Total(log, "freeze=["), 0) << spec;
  }
  const auto apf =
      RunStream({"apf:threshold=0.6,period=2", VoteRule::kGlobal}, 11, -1);
  EXPECT_GT(Total(apf, "unfreeze=["), 0);

  const auto free =
      RunStream({"gradnorm:variant=prefix", VoteRule::kGlobal}, 11, -1);
  const auto capped = RunStream(
      {"gradnorm:variant=prefix,max_frozen=0.4,warmup=60", VoteRule::kGlobal},
      11, -1);
  EXPECT_GT(Total(free, "freeze=["), Total(capped, "freeze=["));
  EXPECT_GT(Total(capped, "freeze=["), 0);
  for (size_t i = 0; i < capped.size(); ++i) {
    if (Listed(capped[i], "freeze=[") > 0) {
      EXPECT_NE(capped[i].find("step="), std::string::npos);
      const int64_t step =
          std::stoll(capped[i].substr(capped[i].find("step=") + 5));
      EXPECT_GE(step, 60) << capped[i];
    }
  }
}

}  // namespace
}  // namespace freezing::freeze
