#include "freeze_trace/convert.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"
#include "trace/trace_reader.h"

namespace freezing::freeze_trace {
namespace {

// Bitwise equality, so that NaN and -0.0 count as themselves.
bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void ExpectSameWindows(const trace::UnitWindowNorms& t,
                       const freeze::WindowNorms& f) {
  ASSERT_EQ(t.l2_size(), static_cast<int>(f.l2.size()));
  ASSERT_EQ(t.l1_size(), static_cast<int>(f.l1.size()));
  ASSERT_EQ(t.dot_global_size(), static_cast<int>(f.dot_global.size()));
  ASSERT_EQ(t.trained_steps_size(), static_cast<int>(f.trained_steps.size()));
  for (int k = 0; k < t.l2_size(); ++k) EXPECT_TRUE(SameBits(t.l2(k), f.l2[k]));
  for (int k = 0; k < t.l1_size(); ++k) EXPECT_TRUE(SameBits(t.l1(k), f.l1[k]));
  for (int k = 0; k < t.dot_global_size(); ++k) {
    EXPECT_TRUE(SameBits(t.dot_global(k), f.dot_global[k]));
  }
  for (int k = 0; k < t.trained_steps_size(); ++k) {
    EXPECT_EQ(t.trained_steps(k), f.trained_steps[k]);
  }
}

TEST(ToBaseIntervalStats, CopiesEveryFieldExactly) {
  trace::SyntheticTraceOptions o;
  o.units = 6;
  o.ranks = 3;
  o.stats_window = 3;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  ASSERT_TRUE(t.status.ok()) << t.status;
  ASSERT_GE(t.intervals.size(), 4u);
  for (trace::Interval iv : t.intervals) {
    // Doubles that a text round trip would lose.
    iv.mutable_global(1)->set_l2(0, std::numeric_limits<double>::quiet_NaN());
    iv.mutable_ranks(2)->mutable_units(0)->set_dot_global(0, -0.0);
    iv.mutable_global(0)->set_l1(0, 0.1 + 0.2);
    auto s = ToBaseIntervalStats(iv, o.units);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->index, iv.index());
    EXPECT_EQ(s->first_step, iv.first_step());
    EXPECT_EQ(s->last_step, iv.last_step());
    EXPECT_EQ(s->epoch, iv.epoch());
    EXPECT_TRUE(SameBits(s->progress, iv.progress()));
    ASSERT_EQ(s->global.size(), 6u);
    for (int u = 0; u < 6; ++u) ExpectSameWindows(iv.global(u), s->global[u]);
    ASSERT_EQ(s->ranks.size(), 3u);
    for (int r = 0; r < 3; ++r) {
      const trace::RankStats& tr = iv.ranks(r);
      const freeze::RankWindowStats& fr = s->ranks[r];
      EXPECT_EQ(fr.rank, tr.rank());
      ASSERT_EQ(fr.samples.size(), static_cast<size_t>(tr.samples_size()));
      for (int k = 0; k < tr.samples_size(); ++k) {
        EXPECT_EQ(fr.samples[k], tr.samples(k));
        EXPECT_TRUE(SameBits(fr.mean_loss[k], tr.mean_loss(k)));
      }
      for (int u = 0; u < 6; ++u) ExpectSameWindows(tr.units(u), fr.units[u]);
    }
    EXPECT_TRUE(freeze::ValidateBaseIntervalStats(*s, 6).ok());
  }
}

TEST(ToBaseIntervalStats, PlacesUnitsByIndex) {
  trace::Interval iv;
  for (int u : {1, 0}) {
    trace::UnitWindowNorms* n = iv.add_global();
    n->set_unit(u);
    n->add_l2(u + 1.0);
    n->add_l1(u + 2.0);
    n->add_trained_steps(10);
  }
  auto s = ToBaseIntervalStats(iv, 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->global[0].l2[0], 1.0);
  EXPECT_EQ(s->global[1].l2[0], 2.0);
}

TEST(ToBaseIntervalStats, RejectsBadUnits) {
  trace::Interval iv;
  iv.add_global()->set_unit(0);
  iv.add_global()->set_unit(0);
  EXPECT_EQ(ToBaseIntervalStats(iv, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToBaseIntervalStats(iv, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  trace::Interval far;
  far.add_global()->set_unit(5);
  EXPECT_EQ(ToBaseIntervalStats(far, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TotalSteps, FromProgressOrPlan) {
  trace::SyntheticTraceOptions o;
  o.steps_per_epoch = 30;
  o.epochs = 3;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  EXPECT_EQ(TotalSteps(t), 90);
  // A run stopped by --max_steps: progress says 45.
  for (trace::Interval& iv : t.intervals) {
    iv.set_progress(static_cast<double>(iv.last_step() + 1) / 45.0);
  }
  EXPECT_EQ(TotalSteps(t), 45);
  t.intervals.clear();
  EXPECT_EQ(TotalSteps(t), 90);
}

TEST(PolicyContextFromTrace, MirrorsTheRun) {
  trace::SyntheticTraceOptions o;
  o.units = 10;
  o.ranks = 4;
  o.stats_interval = 5;
  o.stats_window = 3;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  auto c = PolicyContextFromTrace(t);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->units.size(), 10u);
  EXPECT_EQ(c->units[0].name, "conv1");
  EXPECT_TRUE(c->units[9].is_classifier);
  EXPECT_EQ(c->ranks, 4);
  EXPECT_EQ(c->base_interval_steps, 5);
  EXPECT_EQ(c->max_window, 3);
  EXPECT_EQ(c->steps_per_epoch, 40);
  EXPECT_EQ(c->total_steps, 80);
}

// Bitwise equality of two serialized messages: NaN and -0.0 survive.
void ExpectSameInterval(const trace::Interval& a, const trace::Interval& b) {
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString())
      << a.DebugString() << "\n---\n"
      << b.DebugString();
}

TEST(RoundTrip, TraceIntervalThroughFreezeStatsIsTheIdentity) {
  trace::SyntheticTraceOptions o;
  o.units = 7;
  o.ranks = 3;
  o.stats_window = 4;
  trace::TraceContents t = trace::ReadTraceFromBytes(
      trace::EncodeTrace(trace::MakeSyntheticTrace(o)));
  ASSERT_TRUE(t.status.ok()) << t.status;
  ASSERT_GE(t.intervals.size(), 4u);
  for (trace::Interval iv : t.intervals) {
    iv.mutable_global(2)->set_l2(0, std::numeric_limits<double>::quiet_NaN());
    iv.mutable_ranks(1)->mutable_units(3)->set_l1(0, -0.0);
    auto s = ToBaseIntervalStats(iv, o.units);
    ASSERT_TRUE(s.ok()) << s.status();
    ExpectSameInterval(ToTraceInterval(*s), iv);
  }
}

TEST(RoundTrip, FreezeStatsThroughTraceIntervalIsTheIdentity) {
  freeze::BaseIntervalStats s;
  s.index = 3;
  s.first_step = 30;
  s.last_step = 39;
  s.epoch = 1;
  s.progress = 0.1 + 0.2;
  for (int u = 0; u < 3; ++u) {
    freeze::WindowNorms w;
    w.l2 = {1.0 / (u + 3), -0.0};
    w.l1 = {u + 0.5, 2.0};
    w.dot_global = {0.25};
    w.trained_steps = {10, u};
    s.global.push_back(w);
  }
  for (int r = 0; r < 2; ++r) {
    freeze::RankWindowStats rs;
    rs.rank = r;
    rs.samples = {640, 320};
    rs.mean_loss = {1.0 / 3, 0.7};
    rs.units = s.global;
    rs.units[r].l2[0] = std::numeric_limits<double>::infinity();
    s.ranks.push_back(rs);
  }
  const trace::Interval once = ToTraceInterval(s);
  auto back = ToBaseIntervalStats(once, 3);
  ASSERT_TRUE(back.ok()) << back.status();
  // Field by field through the existing checks, then bitwise on the wire.
  for (int u = 0; u < 3; ++u)
    ExpectSameWindows(once.global(u), back->global[u]);
  ASSERT_EQ(back->ranks.size(), 2u);
  EXPECT_TRUE(SameBits(back->ranks[1].mean_loss[0], 1.0 / 3));
  ExpectSameInterval(ToTraceInterval(*back), once);
}

TEST(Votes, EncodeDecodeKeepsEveryRanksVote) {
  std::vector<freeze::Vote> mine = {{2, {0, 1}, {}, 0.75}, {2, {}, {4}, 0.0}};
  std::vector<freeze::Vote> all = {{0, {3}, {}, 1.0 / 3}};
  ASSERT_TRUE(DecodeVotes(EncodeVotes(mine), all).ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].rank, 0);
  EXPECT_EQ(all[1].rank, 2);
  EXPECT_EQ(all[1].freeze, (std::vector<int>{0, 1}));
  EXPECT_TRUE(SameBits(all[1].weight, 0.75));
  EXPECT_EQ(all[2].unfreeze, (std::vector<int>{4}));
  // No votes at all is a valid message.
  std::vector<freeze::Vote> none;
  ASSERT_TRUE(DecodeVotes(EncodeVotes({}), none).ok());
  EXPECT_TRUE(none.empty());
}

TEST(Votes, MalformedBytesAreDataLoss) {
  std::vector<freeze::Vote> out;
  EXPECT_EQ(DecodeVotes(std::string("\xff\xff\xff", 3), out).code(),
            absl::StatusCode::kDataLoss);
}

TEST(ToTraceFreezeEvent, CarriesTheDecisionAndEveryVote) {
  freeze::FreezeDecision d;
  d.interval = 4;
  d.apply_step = 50;
  d.epoch = 2;
  d.decision.freeze = {0, 1};
  d.decision.reason = "eta below the median";
  d.votes = {{0, {0, 1}, {}, 0.6}, {1, {0}, {}, 0.4}};
  const trace::FreezeEvent e = ToTraceFreezeEvent(d, "gradnorm", "majority");
  EXPECT_EQ(e.step(), 50);
  EXPECT_EQ(e.epoch(), 2);
  EXPECT_EQ(e.interval(), 4);
  EXPECT_EQ(e.policy(), "gradnorm");
  EXPECT_EQ(e.rule(), "majority");
  EXPECT_EQ(e.freeze_size(), 2);
  EXPECT_EQ(e.unfreeze_size(), 0);
  EXPECT_EQ(e.reason(), "eta below the median");
  ASSERT_EQ(e.votes_size(), 2);
  // A vote survives the event, as it survives the exchange between ranks.
  for (int r = 0; r < 2; ++r) {
    const freeze::Vote v = FromTraceVote(e.votes(r));
    EXPECT_EQ(v.rank, d.votes[r].rank);
    EXPECT_EQ(v.freeze, d.votes[r].freeze);
    EXPECT_TRUE(SameBits(v.weight, d.votes[r].weight));
  }
}

}  // namespace
}  // namespace freezing::freeze_trace
