#include "base/json.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/json_test_util.h"
#include "gtest/gtest.h"

namespace freezing::base {
namespace {

TEST(JsonQuoteTest, EscapesEveryControlCharacter) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string in(1, static_cast<char>(c));
    EXPECT_EQ(JsonQuote(in), absl::StrFormat("\"\\u%04x\"", c)) << c;
    EXPECT_EQ(ParseJsonForTest(JsonQuote(in)).string_value(), in) << c;
  }
  EXPECT_EQ(JsonQuote("\x7f"), "\"\\u007f\"");
  // All of them in one string, between other characters.
  std::string all;
  for (int c = 0; c < 0x20; ++c) all += absl::StrFormat("%c%c", 'a', c);
  EXPECT_EQ(ParseJsonForTest(JsonQuote(all)).string_value(), all);
}

struct QuoteCase {
  const char* name;
  std::string in;
  std::string want;
  // Valid UTF-8 in, so the parser must give `in` back.
  bool reads_back = true;
};

class JsonQuoteCases : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(JsonQuoteCases, Quotes) {
  const QuoteCase& c = GetParam();
  EXPECT_EQ(JsonQuote(c.in), c.want);
  const std::string back = ParseJsonForTest(JsonQuote(c.in)).string_value();
  if (c.reads_back) EXPECT_EQ(back, c.in);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonQuoteCases,
    ::testing::Values(
        QuoteCase{"Empty", "", "\"\""},
        QuoteCase{"Plain", "layer1.0", "\"layer1.0\""},
        QuoteCase{"Quote", "say \"hi\"", "\"say \\\"hi\\\"\""},
        QuoteCase{"Backslash", "a\\b", "\"a\\\\b\""},
        QuoteCase{"NewlineAndTab", "a\nb\tc", "\"a\\u000ab\\u0009c\""},
        QuoteCase{"SlashKept", "a/b", "\"a/b\""},
        QuoteCase{"NulInside", std::string("a\0b", 3), "\"a\\u0000b\""},
        QuoteCase{"TwoByteUtf8", "caf\xc3\xa9", "\"caf\xc3\xa9\""},
        QuoteCase{"ThreeByteUtf8", "\xe2\x82\xac", "\"\xe2\x82\xac\""},
        QuoteCase{"FourByteUtf8", "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},
        QuoteCase{"LoneContinuation", "a\x80z", "\"a\\ufffdz\"", false},
        QuoteCase{"Overlong", "\xc0\xaf", "\"\\ufffd\\ufffd\"", false},
        QuoteCase{"Surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"",
                  false},
        QuoteCase{"CutOff", "\xe2\x82", "\"\\ufffd\\ufffd\"", false},
        QuoteCase{"AboveUnicode", "\xf4\x90\x80\x80",
                  "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", false},
        QuoteCase{"ByteFF", "\xff", "\"\\ufffd\"", false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JsonWriterTest, EscapesKeysLikeValues) {
  JsonWriter w;
  w.BeginObject().Key("a \"quoted\"\nkey\\").String("v").EndObject();
  const std::string text = w.TakeText();
  EXPECT_EQ(text, "{\"a \\\"quoted\\\"\\u000akey\\\\\":\"v\"}");
  EXPECT_EQ(ParseJsonForTest(text).struct_value().fields().count(
                "a \"quoted\"\nkey\\"),
            1u);
}

struct NumberCase {
  const char* name;
  std::string (*write)();
  std::string want;
};

template <typename F>
std::string One(F f) {
  JsonWriter w;
  f(w);
  return w.TakeText();
}

class JsonNumbers : public ::testing::TestWithParam<NumberCase> {};

TEST_P(JsonNumbers, Prints) {
  const NumberCase& c = GetParam();
  const std::string text = c.write();
  EXPECT_EQ(text, c.want);
  if (text != "null") {
    // Valid JSON numbers, and the value they print.
    EXPECT_EQ(ParseJsonForTest(text).kind_case(),
              google::protobuf::Value::kNumberValue);
  }
}

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonNumbers,
    ::testing::Values(
        NumberCase{"IntZero", [] { return One([](auto& w) { w.Int(0); }); },
                   "0"},
        NumberCase{"IntMin", [] { return One([](auto& w) { w.Int(kMin64); }); },
                   "-9223372036854775808"},
        NumberCase{"IntMax", [] { return One([](auto& w) { w.Int(kMax64); }); },
                   "9223372036854775807"},
        NumberCase{"UintMax",
                   [] {
                     return One([](auto& w) {
                       w.Uint(std::numeric_limits<uint64_t>::max());
                     });
                   },
                   "18446744073709551615"},
        NumberCase{"DoubleTenth",
                   [] { return One([](auto& w) { w.Double(0.1); }); }, "0.1"},
        NumberCase{"DoubleSum",
                   [] { return One([](auto& w) { w.Double(0.1 + 0.2); }); },
                   "0.30000000000000004"},
        NumberCase{"DoubleSmall",
                   [] { return One([](auto& w) { w.Double(1e-5); }); },
                   "1e-05"},
        NumberCase{"DoubleLarge",
                   [] { return One([](auto& w) { w.Double(1e300); }); },
                   "1e+300"},
        NumberCase{"DoubleWhole",
                   [] { return One([](auto& w) { w.Double(123456789); }); },
                   "123456789"},
        NumberCase{"DoubleNegativeZero",
                   [] { return One([](auto& w) { w.Double(-0.0); }); }, "-0"},
        NumberCase{"DoubleNaN",
                   [] { return One([](auto& w) { w.Double(std::nan("")); }); },
                   "null"},
        NumberCase{"DoubleInfinity",
                   [] { return One([](auto& w) { w.Double(-kInf); }); },
                   "null"},
        NumberCase{"FloatTenth",
                   [] { return One([](auto& w) { w.Float(0.1f); }); }, "0.1"},
        NumberCase{"Fixed",
                   [] { return One([](auto& w) { w.Fixed(2.0 / 3, 6); }); },
                   "0.666667"},
        NumberCase{"FixedNoDigits",
                   [] { return One([](auto& w) { w.Fixed(2.5e9, 0); }); },
                   "2500000000"},
        NumberCase{"FixedInfinity",
                   [] { return One([](auto& w) { w.Fixed(kInf, 6); }); },
                   "null"},
        NumberCase{
            "DecimalSeconds",
            [] { return One([](auto& w) { w.Decimal(12345678901, 9); }); },
            "12.345678901"},
        NumberCase{"DecimalBelowOne",
                   [] { return One([](auto& w) { w.Decimal(5, 3); }); },
                   "0.005"},
        NumberCase{"DecimalNegative",
                   [] { return One([](auto& w) { w.Decimal(-1500, 3); }); },
                   "-1.500"},
        NumberCase{"DecimalScaleZero",
                   [] { return One([](auto& w) { w.Decimal(-42, 0); }); },
                   "-42"},
        NumberCase{"DecimalMin",
                   [] { return One([](auto& w) { w.Decimal(kMin64, 9); }); },
                   "-9223372036.854775808"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JsonWriterTest, DoublesReadBackExactly) {
  for (double v : {0.1, 1.0 / 3, 6.02214076e23, 5e-324, 1.7976931348623157e308,
                   0.9999999999999999, 123.456, -2.5e-7}) {
    const std::string text = One([&](auto& w) { w.Double(v); });
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
  for (float v : {0.1f, 1.0f / 3, 3.4028235e38f, 1e-45f}) {
    const std::string text = One([&](auto& w) { w.Float(v); });
    EXPECT_EQ(std::strtof(text.c_str(), nullptr), v) << text;
  }
}

// A document with every kind of value, nested both ways.
void Example(JsonWriter& w) {
  w.BeginObject();
  w.Key("name").String("x");
  w.Key("n").Int(3);
  w.Key("ok").Bool(true);
  w.Key("none").Null();
  w.Key("list").BeginArray().Int(1).Int(2).EndArray();
  w.Key("row").BeginObject(JsonWriter::Span::kOneLine);
  w.Key("a").Int(1).Key("b").BeginArray().Int(2).Int(3).EndArray();
  w.EndObject();
  w.Key("empty_object").BeginObject().EndObject();
  w.Key("empty_array").BeginArray(JsonWriter::Span::kOneLine).EndArray();
  w.Key("rows").BeginArray();
  w.BeginObject(JsonWriter::Span::kOneLine).Key("k").Bool(false).EndObject();
  w.EndArray();
  w.EndObject();
}

struct LayoutCase {
  const char* name;
  JsonWriter::Layout layout;
  std::string want;
};

class JsonLayouts : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(JsonLayouts, Lays) {
  const LayoutCase& c = GetParam();
  JsonWriter w(c.layout);
  Example(w);
  const std::string text = w.TakeText();
  EXPECT_EQ(text, c.want);
  EXPECT_EQ(ParseJsonForTest(text).struct_value().fields().size(), 9u);
  // Streaming gives the same bytes.
  std::ostringstream out;
  JsonWriter streaming(out, c.layout);
  Example(streaming);
  EXPECT_EQ(out.str(), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonLayouts,
    ::testing::Values(
        LayoutCase{"Compact", JsonWriter::Layout::kCompact,
                   "{\"name\":\"x\",\"n\":3,\"ok\":true,\"none\":null,"
                   "\"list\":[1,2],\"row\":{\"a\":1,\"b\":[2,3]},"
                   "\"empty_object\":{},\"empty_array\":[],"
                   "\"rows\":[{\"k\":false}]}"},
        LayoutCase{"Pretty", JsonWriter::Layout::kPretty,
                   R"({
  "name": "x",
  "n": 3,
  "ok": true,
  "none": null,
  "list": [
    1,
    2
  ],
  "row": {"a": 1, "b": [2, 3]},
  "empty_object": {},
  "empty_array": [],
  "rows": [
    {"k": false}
  ]
}
)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JsonWriterTest, StreamsLargeDocumentsInChunks) {
  std::ostringstream out;
  JsonWriter w(out, JsonWriter::Layout::kCompact);
  w.BeginArray();
  for (int i = 0; i < 100000; ++i) w.Int(i);
  // Most of it has reached the stream before the document is complete.
  EXPECT_GT(out.str().size(), 400000u);
  w.EndArray();
  EXPECT_EQ(ParseJsonForTest(out.str()).list_value().values_size(), 100000);
}

TEST(JsonWriterTest, WritesAnotherDocumentAfterTakeText) {
  JsonWriter w;
  w.Int(1);
  EXPECT_EQ(w.TakeText(), "1");
  w.String("two");
  EXPECT_EQ(w.TakeText(), "\"two\"");
}

struct MisuseCase {
  const char* name;
  void (*misuse)(JsonWriter&);
  const char* message;
};

class JsonMisuse : public ::testing::TestWithParam<MisuseCase> {};

TEST_P(JsonMisuse, Aborts) {
  const MisuseCase& c = GetParam();
  EXPECT_DEATH(
      {
        JsonWriter w;
        c.misuse(w);
      },
      c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonMisuse,
    ::testing::Values(
        MisuseCase{"ValueWithoutKey",
                   [](JsonWriter& w) { w.BeginObject().Int(1); },
                   "without a Key"},
        MisuseCase{"KeyInArray", [](JsonWriter& w) { w.BeginArray().Key("k"); },
                   "outside an object"},
        MisuseCase{"TwoKeys",
                   [](JsonWriter& w) { w.BeginObject().Key("a").Key("b"); },
                   "where a value is due"},
        MisuseCase{"WrongEnd",
                   [](JsonWriter& w) { w.BeginObject().EndArray(); },
                   "EndArray without its Begin"},
        MisuseCase{"KeyWithoutValue",
                   [](JsonWriter& w) { w.BeginObject().Key("a").EndObject(); },
                   "after a Key without its value"},
        MisuseCase{"TwoDocuments", [](JsonWriter& w) { w.Int(1).Int(2); },
                   "after the top-level value"},
        MisuseCase{"Unfinished",
                   [](JsonWriter& w) { w.BeginArray().Int(1).TakeText(); },
                   "before the top-level value is complete"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace freezing::base
