// trace.proto's messages through base::ProtoToJson (config.json and
// //benchmarks:trace_json print them so): every record of a realistic trace
// reads back as itself with protobuf's JSON parser, and 64-bit integers are
// JSON numbers.
#include <cstdint>
#include <string>

#include "base/proto_json.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"
#include "trace/trace.pb.h"

namespace freezing::trace {
namespace {

using ::testing::HasSubstr;

template <typename M>
M ReadBack(const std::string& json) {
  M m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return m;
}

TEST(TraceProtoJsonTest, EveryRecordReadsBack) {
  const std::vector<TraceRecord> records = MakeSyntheticTrace({});
  int kinds[TraceRecord::kFooter + 1] = {};
  for (const TraceRecord& r : records) {
    for (auto layout : {base::JsonWriter::Layout::kPretty,
                        base::JsonWriter::Layout::kCompact}) {
      const TraceRecord back =
          ReadBack<TraceRecord>(base::ProtoToJson(r, layout));
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, r))
          << r.DebugString();
    }
    ++kinds[r.kind_case()];
  }
  for (int k = TraceRecord::kHeader; k <= TraceRecord::kFooter; ++k) {
    EXPECT_GT(kinds[k], 0) << "no record of kind " << k;
  }
}

TEST(TraceProtoJsonTest, HeaderAndRunConfigWithLargeIntegers) {
  Header h = MakeSyntheticTrace({})[0].header();
  ASSERT_GT(h.units_size(), 0);
  h.set_start_unix_ns(1700000000123456789);
  RunConfig& c = *h.mutable_config();
  c.set_seed(UINT64_MAX);
  c.set_train_samples((int64_t{1} << 53) + 1);  // not exact as a double
  c.add_shard_sizes(INT64_MAX);
  h.mutable_network()->add_points()->set_bytes(INT64_MIN);
  const std::string json = base::ProtoToJson(h);
  for (const char* field :
       {"\"start_unix_ns\": 1700000000123456789",
        "\"seed\": 18446744073709551615", "\"train_samples\": 9007199254740993",
        "9223372036854775807]", "\"bytes\": -9223372036854775808",
        "\"schema_version\": ", "\"stats_interval\": "}) {
    EXPECT_THAT(json, HasSubstr(field));
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      ReadBack<Header>(json), h));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      ReadBack<RunConfig>(base::ProtoToJson(c)), c));
}

}  // namespace
}  // namespace freezing::trace
