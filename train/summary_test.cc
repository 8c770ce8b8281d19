#include "train/summary.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/file.h"
#include "base/json_test_util.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "trace/trace.pb.h"

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
        "\"freeze_events\": [\n    {\"unit\": 0, \"name\": \"conv1\", "
        "\"step\": 0, \"epoch\": 0, \"unfreeze\": false}\n  ],",
        "\"cache\": {\"hits\": 0, \"misses\": 0, \"forward_saved_s\": "
        "0.000000, \"disabled\": false}\n}\n"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << "\n" << json;
  }
}

TEST(SummaryTest, JsonEscapesNames) {
  RunSummary s = Example();
  s.policy = "gradnorm:\"a\"\\b\nc";
  s.freeze_events[0].name = "odd \"unit\"\t\x01";
  const google::protobuf::Struct parsed =
      base::ParseJsonForTest(SummaryJson(s)).struct_value();
  EXPECT_EQ(parsed.fields().at("policy").string_value(), s.policy);
  EXPECT_EQ(parsed.fields()
                .at("freeze_events")
                .list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("name")
                .string_value(),
            s.freeze_events[0].name);
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(RunConfigJsonTest, SnakeCaseNamesAndInt64Numbers) {
  trace::RunConfig config;
  config.set_model("resnet18");
  config.set_policy("gradnorm:interval=50");
  config.set_stats_interval(5);
  config.set_train_samples(int64_t{1} << 40);
  config.add_shard_sizes(15000);
  config.add_shard_sizes(15001);
  config.set_seed(18446744073709551615u);
  config.set_bucket_cap_bytes(26214400);
  const std::string path = TempPath("config.json");
  ASSERT_TRUE(WriteRunConfigJson(config, path).ok());
  auto json = base::ReadFile(path);
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* field :
       {"\"stats_interval\": 5,", "\"train_samples\": 1099511627776,",
        "\"shard_sizes\": [15000, 15001],", "\"seed\": 18446744073709551615,",
        "\"bucket_cap_bytes\": 26214400,", "\"test_limit\": 0,",
        "\"init\": \"\","}) {
    EXPECT_NE(json->find(field), std::string::npos) << field << "\n" << *json;
  }
  trace::RunConfig back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, config));
  EXPECT_EQ(base::ParseJsonForTest(*json).struct_value().fields_size(),
            config.GetDescriptor()->field_count());
}

TEST(SummaryTest, TableShowsPhasesPerEpoch) {
  const std::string table = SummaryTable(Example());
  EXPECT_NE(table.find("forward             2.00"), std::string::npos) << table;
  EXPECT_NE(table.find("froze conv1 (unit 0) at step 0"), std::string::npos);
}

}  // namespace
}  // namespace freezing::train
