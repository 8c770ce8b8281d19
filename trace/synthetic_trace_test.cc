#include "trace/synthetic_trace.h"

#include "gtest/gtest.h"

namespace freezing::trace {
namespace {

TEST(SyntheticTraceTest, HeaderIsResNet18WithItsRealParameters) {
  const std::vector<TraceRecord> records =
      MakeSyntheticTrace(SyntheticTraceOptions());
  ASSERT_EQ(records[0].kind_case(), TraceRecord::kHeader);
  const Header& h = records[0].header();
  ASSERT_EQ(h.units_size(), 10);
  EXPECT_EQ(h.units(4).name(), "layer1");
  EXPECT_EQ(h.units(2).params(), 0);  // relu
  int64_t params = 0;
  for (const Unit& u : h.units()) params += u.params();
  // torchvision resnet18(num_classes=10).
  EXPECT_EQ(params, 11181642);
  EXPECT_EQ(h.params_size(), 62);
}

TEST(SyntheticTraceTest, IsDeterministicInTheSeed) {
  SyntheticTraceOptions o;
  EXPECT_EQ(EncodeTrace(MakeSyntheticTrace(o)),
            EncodeTrace(MakeSyntheticTrace(o)));
  SyntheticTraceOptions other = o;
  other.seed = 2;
  EXPECT_NE(EncodeTrace(MakeSyntheticTrace(o)),
            EncodeTrace(MakeSyntheticTrace(other)));
}

TEST(SyntheticTraceTest, RecordsHaveTheShapeOfARun) {
  SyntheticTraceOptions o;
  int64_t intervals = 0;
  for (const TraceRecord& r : MakeSyntheticTrace(o)) {
    if (r.has_interval()) {
      const Interval& iv = r.interval();
      EXPECT_EQ(iv.index(), intervals++);
      const int windows = std::min<int>(o.stats_window, iv.index() + 1);
      ASSERT_EQ(iv.global_size(), 10);
      EXPECT_EQ(iv.global(0).l2_size(), windows);
      ASSERT_EQ(iv.ranks_size(), o.ranks);
      EXPECT_EQ(iv.ranks(1).units(9).dot_global_size(), windows);
      EXPECT_EQ(iv.ranks(1).samples_size(), windows);
    }
    if (r.has_step()) {
      const Step& s = r.step();
      EXPECT_EQ(s.unit_forward_ns_size(), 10);
      EXPECT_EQ(s.buckets(), s.bucket_timings_size());
      for (const BucketTiming& b : s.bucket_timings()) {
        EXPECT_GE(b.start_ns(), b.ready_ns());
        EXPECT_GT(b.done_ns(), b.start_ns());
      }
    }
  }
  EXPECT_EQ(intervals, 8);
}

}  // namespace
}  // namespace freezing::trace
