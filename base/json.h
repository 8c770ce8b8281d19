// JSON text (RFC 8259) for every file the project writes: one writer, one
// string escaper, one way to print each kind of number.
//
//   base::JsonWriter w(base::JsonWriter::Layout::kPretty);
//   w.BeginObject();
//   w.Key("policy").String("static:2");
//   w.Key("total_s").Decimal(total_ns, 9);  // exact: 12.345678901
//   w.Key("phases").BeginObject(base::JsonWriter::Span::kOneLine);
//   w.Key("forward").Fixed(0.25, 6).Key("backward").Fixed(0.5, 6);
//   w.EndObject();
//   w.EndObject();
//   std::string text = w.TakeText();
//
// gives
//
//   {
//     "policy": "static:2",
//     "total_s": 12.345678901,
//     "phases": {"forward": 0.250000, "backward": 0.500000}
//   }
//
// Strings (keys and values), by JsonQuote: '"' and '\' are escaped with a
// backslash; the control characters U+0000..U+001F and U+007F as \u00xx
// (lower-case hex, never the short forms \n, \t); valid UTF-8 passes through
// unchanged; a byte that does not begin a valid UTF-8 sequence (a stray
// continuation byte, an overlong form, a surrogate, a cut-off sequence)
// becomes \ufffd, so that a damaged name cannot make a whole file unreadable.
//
// Numbers:
//   Int, Uint        decimal integers, all 64 bits (no quotes: readers that
//                    need 64-bit precision, such as Python and protobuf's
//                    JSON parser, read them exactly);
//   Double, Float    the shortest decimal text that reads back as exactly the
//                    same double (float), as std::to_chars prints it: "0.1",
//                    "1e-05", "123456789", "-0". Deterministic and locale-free;
//   Fixed            printf's "%.*f" with the caller's number of digits;
//   Decimal          an integer count of 10^-scale units as an exact decimal:
//                    Decimal(1500, 3) is 1.500 (nanoseconds as seconds:
//                    Decimal(ns, 9); as microseconds: Decimal(ns, 3));
//   NaN and infinities, which JSON cannot express, are written as null by
//   Double, Float and Fixed.
//
// Layout: kCompact writes no whitespace at all. kPretty puts each member of
// an object and each element of an array on its own line, indented by two
// spaces per level, with ": " after keys, and ends the document with a
// newline; a container opened with Span::kOneLine keeps itself and all it
// contains on one line, with ", " between members (for records of a few
// fields, such as one trace event or one freeze event). Empty containers are
// "{}" and "[]".
//
// Misuse is a programming error and aborts with a message on stderr (never a
// half-written file): a value where a key is due, a key outside an object,
// an End that does not match its Begin, a second top-level value, taking the
// text of an unfinished document.
#ifndef FREEZING_BASE_JSON_H_
#define FREEZING_BASE_JSON_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace freezing::base {

// JsonQuote: `s` as a JSON string literal, quotes included (rules above).
std::string JsonQuote(absl::string_view s);

// JsonWriter: builds one JSON document (one top-level value) in memory, or
// streams it to an std::ostream.
class JsonWriter {
 public:
  enum class Layout { kCompact, kPretty };
  enum class Span { kLines, kOneLine };

  // JsonWriter(layout): keeps the text; take it with TakeText().
  explicit JsonWriter(Layout layout = Layout::kCompact);
  // JsonWriter(out, layout): writes the text to `out` as it goes (in chunks,
  // and the rest once the top-level value is complete).
  JsonWriter(std::ostream& out, Layout layout);

  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // BeginObject / BeginArray open a container (in kPretty, on several lines
  // unless `span` is kOneLine or an enclosing container is on one line).
  JsonWriter& BeginObject(Span span = Span::kLines);
  JsonWriter& EndObject();
  JsonWriter& BeginArray(Span span = Span::kLines);
  JsonWriter& EndArray();

  // Key: the name of the next member of the current object.
  JsonWriter& Key(absl::string_view key);

  // Values (see the overview for how numbers are printed).
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Float(float value);
  JsonWriter& Fixed(double value, int digits);
  JsonWriter& Decimal(int64_t units, int scale);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // TakeText: the complete document (in-memory writers only); the writer
  // is then empty and may write another document.
  std::string TakeText();

 private:
  struct Frame {
    bool object = false;
    bool one_line = false;
    bool key_due = false;  // an object member's key has been written
    int64_t count = 0;     // members or elements so far
  };

  // BeforeValue: the checks that a value may stand here, and its separator.
  void BeforeValue(const char* what);
  // Separate: the comma, line break and indent (or space) before the next
  // member or element of `f`.
  void Separate(const Frame& f);
  void AfterValue();
  JsonWriter& Open(bool object, Span span);
  JsonWriter& Close(bool object);
  void Scalar(absl::string_view text);
  void NewLine(size_t depth);
  void MaybeFlush(bool all);
  [[noreturn]] void Fail(absl::string_view message) const;

  Layout layout_;
  std::ostream* out_ = nullptr;
  std::string text_;
  std::vector<Frame> stack_;
  bool done_ = false;  // the top-level value is complete
};

}  // namespace freezing::base

#endif  // FREEZING_BASE_JSON_H_
