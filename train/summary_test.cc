#include "train/summary.h"

#include <string>

#include "gtest/gtest.h"

namespace freezing::train {
namespace {

RunSummary Example() {
  RunSummary s;
  s.policy = "static:2";
  s.ranks = 2;
  s.threads = 1;
  s.epochs = 2;
  s.steps = 4;
  s.images = 256;
  s.phases.forward_ns = 4'000'000'000;
  s.phases.backward_ns = 2'000'000'000;
  s.phases.total_ns = 8'000'000'000;
  s.bytes_allreduced = 1234;
  s.test_accuracy_per_epoch = {0.5, 0.75};
  s.test_loss_per_epoch = {1.0, 0.5};
  s.freeze_events.push_back({0, "conv1", 0, 0, false});
  return s;
}

TEST(SummaryTest, JsonHasTheFieldsToolsRead) {
  const std::string json = SummaryJson(Example());
  for (const char* field :
       {"\"total_time_s\": 8.000000", "\"final_test_accuracy\": 0.750000",
        "\"test_accuracy_per_epoch\": [0.500000, 0.750000]",
        "\"bytes_allreduced\": 1234", "\"ranks\": 2", "\"steps\": 4",
        "\"images_per_s\": 32.000000",
        "\"phase_avg_s\": {\"data\": 0.000000, \"forward\": 1.000000",
        "\"phase_per_epoch_s\": {\"data\": 0.000000, \"forward\": 2.000000",
        "\"freeze_events\": [{\"unit\": 0, \"name\": \"conv1\", \"step\": 0, "
        "\"epoch\": 0, \"unfreeze\": false}]"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << "\n" << json;
  }
}

TEST(SummaryTest, TableShowsPhasesPerEpoch) {
  const std::string table = SummaryTable(Example());
  EXPECT_NE(table.find("forward             2.00"), std::string::npos) << table;
  EXPECT_NE(table.find("froze conv1 (unit 0) at step 0"), std::string::npos);
}

}  // namespace
}  // namespace freezing::train
