#include "freeze/stats.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::freeze {
namespace {

using ::testing::HasSubstr;

// Two units, windows of 1 and 2 base intervals, ranks 0 and 1.
BaseIntervalStats TwoWindows() {
  BaseIntervalStats s;
  s.index = 3;
  s.first_step = 30;
  s.last_step = 39;
  s.epoch = 1;
  s.progress = 0.4;
  for (int u = 0; u < 2; ++u) {
    s.global.push_back(
        WindowNorms{{1.0 + u, 10.0 + u}, {2.0 + u, 20.0 + u}, {}, {10, 20}});
  }
  for (int r = 0; r < 2; ++r) {
    RankWindowStats rs;
    rs.rank = r;
    rs.samples = {100 + r, 200 + r};
    rs.mean_loss = {0.5 + r, 0.25 + r};
    for (int u = 0; u < 2; ++u) {
      rs.units.push_back(WindowNorms{{3.0 + u + 10 * r, 30.0 + u + 10 * r},
                                     {4.0, 40.0},
                                     {5.0, 50.0 + r},
                                     {10, u == 1 ? 0 : 20}});
    }
    s.ranks.push_back(rs);
  }
  return s;
}

TEST(SelectWindowTest, GlobalPicksTheWindowOfKBaseIntervals) {
  auto s = SelectWindow(TwoWindows(), 2, /*policy_interval=*/1, kGlobalRank);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->interval, 1);
  EXPECT_EQ(s->last_step, 39);
  EXPECT_EQ(s->epoch, 1);
  EXPECT_EQ(s->progress, 0.4);
  ASSERT_EQ(s->units.size(), 2u);
  EXPECT_EQ(s->units[1].l2, 11.0);
  EXPECT_EQ(s->units[1].l1, 21.0);
  EXPECT_EQ(s->units[1].trained_steps, 20);
  ASSERT_EQ(s->ranks.size(), 2u);
  EXPECT_EQ(s->ranks[1].samples, 201);
  EXPECT_EQ(s->ranks[1].mean_loss, 1.25);
  EXPECT_EQ(s->ranks[1].dot_global[0], 51.0);
}

TEST(SelectWindowTest, RankUsesItsLocalNorms) {
  auto s = SelectWindow(TwoWindows(), 1, 3, /*rank=*/1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->units[0].l2, 13.0);
  EXPECT_EQ(s->units[1].trained_steps, 10);
}

TEST(SelectWindowTest, MissingWindowNamesTheFlag) {
  auto s = SelectWindow(TwoWindows(), 3, 0, kGlobalRank);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("--stats_window >= 3"));
}

TEST(SelectWindowTest, MissingRankIsNotFound) {
  auto s = SelectWindow(TwoWindows(), 1, 0, 5);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
}

TEST(ValidateBaseIntervalStatsTest, AcceptsWellFormed) {
  EXPECT_TRUE(ValidateBaseIntervalStats(TwoWindows(), 2).ok());
}

TEST(ValidateBaseIntervalStatsTest, NamesTheFirstOffender) {
  struct Case {
    void (*breakit)(BaseIntervalStats&);
    std::string message;
  };
  const Case cases[] = {
      {[](BaseIntervalStats& s) { s.global.pop_back(); },
       "global statistics for 1 units, the model has 2"},
      {[](BaseIntervalStats& s) { s.global[1].l1.pop_back(); },
       "global unit 1: l2, l1 and trained_steps"},
      {[](BaseIntervalStats& s) { s.ranks[1].rank = 0; },
       "rank 0 appears twice"},
      {[](BaseIntervalStats& s) { s.ranks[0].units.pop_back(); },
       "rank 0: statistics for 1 units"},
      {[](BaseIntervalStats& s) { s.ranks[1].units[0].dot_global.clear(); },
       "rank 1 unit 0: dot_global has 0 windows"},
      {[](BaseIntervalStats& s) { s.ranks[0].mean_loss.pop_back(); },
       "samples and mean_loss"},
  };
  for (const Case& c : cases) {
    BaseIntervalStats s = TwoWindows();
    c.breakit(s);
    absl::Status status = ValidateBaseIntervalStats(s, 2);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace freezing::freeze
