// The records the trainer's facts become (ToTraceStep, ToTraceHeader,
// ToTraceEpoch, ToTraceFooter), and a recorder's file read back.
#include "train/trace_recorder.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "trace/trace_format.h"
#include "trace/trace_reader.h"

namespace freezing::train {
namespace {

StepFacts SampleStep() {
  StepFacts f;
  f.step = 41;
  f.epoch = 3;
  f.lr = 0.025;
  f.phases.data_ns = 10;
  f.phases.forward_ns = 200;
  f.phases.backward_ns = 300;
  f.phases.comm_exposed_ns = 40;
  f.phases.comm_total_ns = 250;  // overlapped with backward: not subtracted
  f.phases.optimizer_ns = 50;
  f.phases.stats_ns = 60;
  f.phases.total_ns = 700;
  f.unit_forward_ns = {0, 120, 80};
  f.unit_backward_ns = {0, 0, 300};
  f.trainable = {false, true, true};
  f.bytes_allreduced = 4096;
  f.buckets = 2;
  f.bucket_times = {{1024, 5, 6, 70}, {3072, 80, 81, 200}};
  f.cache.hits = 12;
  f.cache.extended = 2;
  f.cache.misses = 4;
  f.cache.bytes_read = 12 * 512;
  f.cache.bytes_written = 4 * 512;
  f.cache.forward_saved_ns = 999;
  f.cache.boundary_unit = 0;
  f.cache.disabled = false;
  f.mean_loss = 1.25;
  f.max_rank_total_ns = 750;
  f.cache_disabled_anywhere = true;
  return f;
}

TEST(ToTraceStepTest, CopiesEveryFact) {
  const trace::Step s = ToTraceStep(SampleStep());
  EXPECT_EQ(s.step(), 41);
  EXPECT_EQ(s.epoch(), 3);
  EXPECT_EQ(s.lr(), 0.025);
  EXPECT_EQ(s.loss(), 1.25);
  EXPECT_EQ(s.max_rank_total_ns(), 750);
  const trace::PhaseTimes& p = s.phases();
  EXPECT_EQ(p.data_ns(), 10);
  EXPECT_EQ(p.forward_ns(), 200);
  EXPECT_EQ(p.backward_ns(), 300);
  EXPECT_EQ(p.comm_exposed_ns(), 40);
  EXPECT_EQ(p.comm_total_ns(), 250);
  EXPECT_EQ(p.optimizer_ns(), 50);
  EXPECT_EQ(p.stats_ns(), 60);
  EXPECT_EQ(p.total_ns(), 700);
  EXPECT_EQ(p.other_ns(), 700 - 10 - 200 - 300 - 40 - 50 - 60);
  ASSERT_EQ(s.unit_forward_ns_size(), 3);
  EXPECT_EQ(s.unit_forward_ns(1), 120);
  ASSERT_EQ(s.unit_backward_ns_size(), 3);
  EXPECT_EQ(s.unit_backward_ns(2), 300);
  ASSERT_EQ(s.trainable_size(), 3);
  EXPECT_FALSE(s.trainable(0));
  EXPECT_TRUE(s.trainable(1));
  EXPECT_EQ(s.bytes_allreduced(), 4096);
  EXPECT_EQ(s.buckets(), 2);
  ASSERT_EQ(s.bucket_timings_size(), 2);
  EXPECT_EQ(s.bucket_timings(1).bytes(), 3072);
  EXPECT_EQ(s.bucket_timings(1).ready_ns(), 80);
  EXPECT_EQ(s.bucket_timings(1).start_ns(), 81);
  EXPECT_EQ(s.bucket_timings(1).done_ns(), 200);
  const trace::CacheStep& c = s.cache();
  EXPECT_EQ(c.hits(), 12);
  EXPECT_EQ(c.misses(), 4);
  EXPECT_EQ(c.bytes_read(), 12 * 512);
  EXPECT_EQ(c.bytes_written(), 4 * 512);
  EXPECT_EQ(c.forward_saved_ns(), 999);
  EXPECT_EQ(c.boundary_unit(), 0);
  // Any rank's cache being off, not rank 0's own flag.
  EXPECT_TRUE(c.disabled());
}

TEST(ToTraceStepTest, OtherIsTotalMinusThePhasesAndNeverNegative) {
  struct Case {
    int64_t total_ns;
    int64_t other_ns;
  };
  // The phases of SampleStep() without comm_total sum to 660.
  for (const Case& c : {Case{700, 40}, Case{660, 0}, Case{659, 0}, Case{100, 0},
                        Case{1660, 1000}}) {
    StepFacts f = SampleStep();
    f.phases.total_ns = c.total_ns;
    EXPECT_EQ(ToTraceStep(f).phases().other_ns(), c.other_ns)
        << "total " << c.total_ns;
  }
}

TEST(ToTraceStepTest, NoCacheRecordsBoundaryMinusOne) {
  const trace::Step s = ToTraceStep(StepFacts{});
  ASSERT_TRUE(s.has_cache());
  EXPECT_EQ(s.cache().boundary_unit(), -1);
  EXPECT_FALSE(s.cache().disabled());
}

HeaderFacts SampleHeader() {
  HeaderFacts f;
  f.config.set_model("resnet_tiny");
  f.config.set_ranks(2);
  f.units = {{"conv1", 100, 1.5e6, 2048, false}, {"fc", 20, 40, 4, true}};
  f.params = {{"conv1.weight", 100, 4, 0},
              {"fc.weight", 16, 4, 1},
              {"fc.bias", 4, 4, 1}};
  f.cores = 8;
  f.threads_per_rank = 4;
  f.cpu_model = "Test CPU";
  f.hostname = "host";
  f.libraries = {{"libtorch", "1.13"}, {"protobuf", "3.21"}};
  f.revision = "abc123";
  f.start_unix_ns = 1700000000000000000;
  return f;
}

TEST(ToTraceHeaderTest, ModelMachineAndLibraries) {
  const trace::Header h = ToTraceHeader(SampleHeader());
  EXPECT_EQ(h.schema_version(), trace::kSchemaVersion);
  EXPECT_EQ(h.config().model(), "resnet_tiny");
  EXPECT_EQ(h.config().ranks(), 2);
  ASSERT_EQ(h.units_size(), 2);
  EXPECT_EQ(h.units(0).name(), "conv1");
  EXPECT_EQ(h.units(0).params(), 100);
  EXPECT_EQ(h.units(0).bytes(), 400);  // float32
  EXPECT_EQ(h.units(0).forward_flops_per_sample(), 1.5e6);
  EXPECT_EQ(h.units(0).output_elements_per_sample(), 2048);
  EXPECT_FALSE(h.units(0).is_classifier());
  EXPECT_TRUE(h.units(1).is_classifier());
  ASSERT_EQ(h.params_size(), 3);
  EXPECT_EQ(h.params(2).name(), "fc.bias");
  EXPECT_EQ(h.params(2).numel(), 4);
  EXPECT_EQ(h.params(2).element_bytes(), 4);
  EXPECT_EQ(h.params(2).unit(), 1);
  EXPECT_EQ(h.machine().cores(), 8);
  EXPECT_EQ(h.machine().threads_per_rank(), 4);
  EXPECT_EQ(h.machine().cpu_model(), "Test CPU");
  EXPECT_EQ(h.machine().hostname(), "host");
  ASSERT_EQ(h.libraries_size(), 2);
  EXPECT_EQ(h.libraries(1).name(), "protobuf");
  EXPECT_EQ(h.libraries(1).version(), "3.21");
  EXPECT_EQ(h.revision(), "abc123");
  EXPECT_EQ(h.start_unix_ns(), 1700000000000000000);
  EXPECT_FALSE(h.has_network());
}

TEST(ToTraceHeaderTest, NetworkCalibrationWhenGiven) {
  HeaderFacts f = SampleHeader();
  comm::Calibration cal;
  cal.set_world_size(4);
  cal.set_alpha_s(2e-5);
  cal.set_beta_s_per_byte(1e-9);
  cal.set_r_squared(0.99);
  cal.set_transport("tcp");
  comm::CalibrationPoint* p = cal.add_points();
  p->set_bytes(4096);
  p->set_median_s(25e-6);
  f.calibration = cal;
  f.calibration_source = "/tmp/net.json";
  const trace::Header h = ToTraceHeader(f);
  ASSERT_TRUE(h.has_network());
  const trace::NetworkCalibration& n = h.network();
  EXPECT_EQ(n.source(), "/tmp/net.json");
  EXPECT_EQ(n.ranks(), 4);
  EXPECT_EQ(n.alpha_s(), 2e-5);
  EXPECT_EQ(n.beta_s_per_byte(), 1e-9);
  EXPECT_EQ(n.r2(), 0.99);
  EXPECT_EQ(n.transport(), "tcp");
  ASSERT_EQ(n.points_size(), 1);
  EXPECT_EQ(n.points(0).bytes(), 4096);
  EXPECT_EQ(n.points(0).ns(), 25000);
}

TEST(ToTraceFooterTest, FromTheSummary) {
  RunSummary s;
  s.steps = 36;
  s.phases.total_ns = 123456;
  s.startup_ns = 77;
  s.eval_ns = 88;
  s.bytes_allreduced = 1 << 20;
  EXPECT_EQ(ToTraceFooter(s).final_test_accuracy(), 0.0);
  s.test_accuracy_per_epoch = {0.5, 0.75};
  const trace::Footer f = ToTraceFooter(s);
  EXPECT_EQ(f.steps(), 36);
  EXPECT_EQ(f.total_time_ns(), 123456);
  EXPECT_EQ(f.final_test_accuracy(), 0.75);
  EXPECT_EQ(f.startup_ns(), 77);
  EXPECT_EQ(f.eval_ns(), 88);
  EXPECT_EQ(f.bytes_allreduced(), 1 << 20);
  EXPECT_FALSE(f.resumed());
}

TEST(TraceRecorderTest, WritesTheRecordsOfTheFactsInOrder) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/recorder.pb";
  auto recorder = TraceRecorder::Create(path, SampleHeader());
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  ASSERT_TRUE((*recorder)->WriteProfile(trace::StartupProfile()).ok());
  ASSERT_TRUE((*recorder)->WriteStep(SampleStep()).ok());
  EpochFacts e;
  e.epoch = 3;
  e.last_step = 41;
  e.test_accuracy = 0.5;
  e.test_loss = 1.5;
  e.train_loss = 1.25;
  e.train_ns = 700;
  e.eval_ns = 30;
  e.wall_ns = 800;
  ASSERT_TRUE((*recorder)->WriteEpoch(e).ok());
  RunSummary s;
  s.steps = 1;
  ASSERT_TRUE((*recorder)->Finish(s).ok());

  const trace::TraceContents t = trace::ReadTrace(path);
  ASSERT_TRUE(t.complete()) << t.status;
  EXPECT_EQ(t.header->units_size(), 2);
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(t.steps[0].step(), 41);
  EXPECT_EQ(t.steps[0].phases().other_ns(), 40);
  ASSERT_EQ(t.epochs.size(), 1u);
  EXPECT_EQ(t.epochs[0].epoch(), 3);
  EXPECT_EQ(t.epochs[0].last_step(), 41);
  EXPECT_EQ(t.epochs[0].test_accuracy(), 0.5);
  EXPECT_EQ(t.epochs[0].test_loss(), 1.5);
  EXPECT_EQ(t.epochs[0].train_loss(), 1.25);
  EXPECT_EQ(t.epochs[0].train_ns(), 700);
  EXPECT_EQ(t.epochs[0].eval_ns(), 30);
  EXPECT_EQ(t.epochs[0].wall_ns(), 800);
  EXPECT_EQ(t.footer->steps(), 1);
  EXPECT_FALSE(t.footer->resumed());
}

}  // namespace
}  // namespace freezing::train
