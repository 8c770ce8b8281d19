#include "trace/chrome_trace.h"

#include <cmath>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/json_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trace/synthetic_trace.h"

namespace freezing::trace {
namespace {

using ::testing::HasSubstr;

// Contents: a synthetic trace as the reader would return it.
TraceContents Contents() {
  TraceContents c;
  c.path = "runs/\"quoted\"\\trace.pb";
  for (const TraceRecord& r : MakeSyntheticTrace({})) {
    switch (r.kind_case()) {
      case TraceRecord::kHeader:
        c.header = r.header();
        break;
      case TraceRecord::kProfile:
        c.profile = r.profile();
        break;
      case TraceRecord::kStep:
        c.steps.push_back(r.step());
        break;
      case TraceRecord::kFreezeEvent:
        c.freeze_events.push_back(r.freeze_event());
        break;
      case TraceRecord::kEpoch:
        c.epochs.push_back(r.epoch());
        break;
      case TraceRecord::kFooter:
        c.footer = r.footer();
        break;
      default:
        break;
    }
  }
  return c;
}

std::string Chrome(const TraceContents& c) {
  std::ostringstream out;
  WriteChromeTrace(c, out);
  return out.str();
}

// Names that need escaping: in unit names (slices, freeze events), the
// policy (process name, otherData), the reason and the path.
TEST(ChromeTraceTest, EscapesNames) {
  TraceContents c = Contents();
  const std::string unit = "conv\"1\"\n\\x\x01";
  const std::string policy = "gradnorm:\"odd\"\t";
  ASSERT_FALSE(c.freeze_events.empty());
  c.header->mutable_units(0)->set_name(unit);
  c.header->mutable_config()->set_policy(policy);
  c.freeze_events[0].set_reason("line one\nline \"two\"");
  const google::protobuf::Struct parsed =
      base::ParseJsonForTest(Chrome(c)).struct_value();
  const auto& other = parsed.fields().at("otherData").struct_value().fields();
  EXPECT_EQ(other.at("trace").string_value(), c.path);
  EXPECT_EQ(other.at("policy").string_value(), policy);
  int unit_slices = 0, reasons = 0, processes = 0;
  for (const auto& v :
       parsed.fields().at("traceEvents").list_value().values()) {
    const auto& e = v.struct_value().fields();
    const std::string& name = e.at("name").string_value();
    if (name == "fwd " + unit || name == "bwd " + unit) ++unit_slices;
    if (e.count("args") == 0) continue;
    const auto& args = e.at("args").struct_value().fields();
    if (args.count("reason") &&
        args.at("reason").string_value() == "line one\nline \"two\"") {
      ++reasons;
    }
    if (name == "process_name" &&
        args.at("name").string_value() ==
            absl::StrCat("rank 0 of 2: resnet18 ", policy)) {
      ++processes;
    }
  }
  EXPECT_GT(unit_slices, 0);
  EXPECT_EQ(reasons, 1);
  EXPECT_EQ(processes, 1);
}

TEST(ChromeTraceTest, OneEventPerLineAndNonFiniteAsNull) {
  TraceContents c = Contents();
  c.steps[0].set_loss(std::nan(""));
  const std::string json = Chrome(c);
  EXPECT_THAT(json, HasSubstr("\"loss\": null"));
  EXPECT_THAT(json, HasSubstr("\n  \"traceEvents\": [\n    {\"name\": "
                              "\"step 0\", \"cat\": \"step\", \"ph\": \"X\", "
                              "\"ts\": 0.000, \"pid\": 0, \"tid\": 1, "
                              "\"dur\": "));
  base::ParseJsonForTest(json);
}

}  // namespace
}  // namespace freezing::trace
