#include "base/proto_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "base/testdata/proto_json_test.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace freezing::base {
namespace {

using test_protos::AllKinds;
using ::testing::HasSubstr;
using ::testing::Not;

AllKinds Full() {
  AllKinds m;
  m.set_i32(-7);
  m.set_i64(std::numeric_limits<int64_t>::min());
  m.set_u32(4000000000u);
  m.set_u64(std::numeric_limits<uint64_t>::max());
  m.set_s64(-(int64_t{1} << 60) - 1);
  m.set_f64((uint64_t{1} << 63) + 1);
  m.set_sf64(std::numeric_limits<int64_t>::max());
  m.set_real(0.1);
  m.set_single(0.1f);
  m.set_flag(true);
  m.set_text("a \"quoted\"\nline\\ \xc3\xa9");
  m.set_blob(std::string("\0\xff\x01", 3));
  m.set_color(test_protos::GREEN);
  m.mutable_inner()->set_name("in");
  m.mutable_inner()->set_count(9007199254740993);  // 2^53 + 1
  m.add_i64s(1);
  m.add_i64s(-(int64_t{1} << 62));
  m.add_reals(1e-300);
  m.add_texts("x");
  m.add_colors(test_protos::RED);
  m.add_colors(static_cast<test_protos::Color>(7));  // unnamed
  m.add_inners()->set_name("first");
  m.add_inners()->set_count(2);
  (*m.mutable_by_name())["b"] = 2;
  (*m.mutable_by_name())["a"] = int64_t{1} << 55;
  (*m.mutable_by_number())[10] = "ten";
  (*m.mutable_by_number())[-1] = "minus one";
  m.set_choice_number(int64_t{1} << 54);
  m.set_maybe(0);
  m.set_snake_case_name(5);
  return m;
}

AllKinds ReadBack(const std::string& json) {
  AllKinds m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return m;
}

bool Same(const AllKinds& a, const AllKinds& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(ProtoJsonTest, ReadsBackAsTheSameMessage) {
  const AllKinds m = Full();
  for (auto layout :
       {JsonWriter::Layout::kPretty, JsonWriter::Layout::kCompact}) {
    const std::string json = ProtoToJson(m, layout);
    EXPECT_TRUE(Same(ReadBack(json), m)) << json;
  }
}

TEST(ProtoJsonTest, NonFiniteNumbersReadBack) {
  AllKinds m;
  m.set_real(std::numeric_limits<double>::infinity());
  m.set_single(-std::numeric_limits<float>::infinity());
  m.add_reals(std::nan(""));
  const std::string json = ProtoToJson(m);
  EXPECT_THAT(json, HasSubstr("\"real\": \"Infinity\""));
  EXPECT_THAT(json, HasSubstr("\"single\": \"-Infinity\""));
  EXPECT_THAT(json, HasSubstr("\"reals\": [\"NaN\"]"));
  const AllKinds back = ReadBack(json);
  EXPECT_EQ(back.real(), m.real());
  EXPECT_EQ(back.single(), m.single());
  EXPECT_TRUE(std::isnan(back.reals(0)));
}

struct TextCase {
  const char* name;
  const char* want;
};

class ProtoJsonText : public ::testing::TestWithParam<TextCase> {};

// What the text says, piece by piece (kPretty).
TEST_P(ProtoJsonText, Contains) {
  EXPECT_THAT(ProtoToJson(Full()), HasSubstr(GetParam().want));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProtoJsonText,
    ::testing::Values(
        TextCase{"Int64AsNumber", "\"i64\": -9223372036854775808,"},
        TextCase{"Uint64AsNumber", "\"u64\": 18446744073709551615,"},
        TextCase{"Fixed64AsNumber", "\"f64\": 9223372036854775809,"},
        TextCase{"Above2To53", "\"count\": 9007199254740993"},
        TextCase{"SnakeCaseName", "\"snake_case_name\": 5"},
        TextCase{"EnumByName", "\"color\": \"GREEN\""},
        TextCase{"UnnamedEnumByNumber", "\"colors\": [\"RED\", 7]"},
        TextCase{"BytesBase64", "\"blob\": \"AP8B\""},
        TextCase{"EscapedString",
                 "\"text\": \"a \\\"quoted\\\"\\u000aline\\\\ \xc3\xa9\""},
        TextCase{"RepeatedScalarsOnOneLine",
                 "\"i64s\": [1, -4611686018427387904]"},
        TextCase{"ShortestDouble", "\"real\": 0.1,"},
        TextCase{"ShortestFloat", "\"single\": 0.1,"},
        TextCase{"MapSortedByKey",
                 "\"by_name\": {\n    \"a\": 36028797018963968,\n    "
                 "\"b\": 2\n  }"},
        TextCase{"IntegerMapKeysAsStrings",
                 "\"by_number\": {\n    \"-1\": \"minus one\",\n    "
                 "\"10\": \"ten\"\n  }"},
        TextCase{"OneofMember", "\"choice_number\": 18014398509481984"},
        TextCase{"OptionalSetToDefault", "\"maybe\": 0"},
        TextCase{"NestedMessage",
                 "\"inner\": {\n    \"name\": \"in\",\n    \"count\": "}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ProtoJsonTest, PrintsDefaultsButNotUnsetPresence) {
  const std::string json = ProtoToJson(AllKinds());
  // Fields without presence, at their defaults.
  for (const char* field :
       {"\"i64\": 0", "\"text\": \"\"", "\"flag\": false", "\"real\": 0",
        "\"color\": \"COLOR_UNSPECIFIED\"", "\"i64s\": []", "\"inners\": []",
        "\"by_name\": {}", "\"blob\": \"\""}) {
    EXPECT_THAT(json, HasSubstr(field));
  }
  // Fields with presence, unset.
  for (const char* field :
       {"\"inner\"", "\"choice_text\"", "\"choice_number\"", "\"maybe\""}) {
    EXPECT_THAT(json, Not(HasSubstr(field)));
  }
  EXPECT_TRUE(Same(ReadBack(json), AllKinds()));
}

TEST(ProtoJsonTest, WritesIntoADocumentOnOneLine) {
  AllKinds m;
  m.set_i32(3);
  m.add_inners()->set_name("n");
  JsonWriter w(JsonWriter::Layout::kPretty);
  w.BeginObject().Key("m");
  WriteProtoJson(m, w, JsonWriter::Span::kOneLine);
  w.EndObject();
  const std::string json = w.TakeText();
  EXPECT_THAT(json, HasSubstr("\n  \"m\": {\"i32\": 3, \"i64\": 0,"));
  EXPECT_THAT(json,
              HasSubstr("\"inners\": [{\"name\": \"n\", \"count\": 0}], "));
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 3);
}

}  // namespace
}  // namespace freezing::base
