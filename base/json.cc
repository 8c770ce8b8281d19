#include "base/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace freezing::base {
namespace {

constexpr char kIndent[] = "  ";
// Streaming writers hand their text to the stream in chunks of about this.
constexpr size_t kFlushBytes = 1 << 16;

// Utf8Length: the length of the valid UTF-8 sequence at the start of `s`,
// or 0 when `s` does not start with one (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
size_t Utf8Length(absl::string_view s) {
  const unsigned char c = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  uint32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

template <typename T>
std::string Shortest(T value) {
  if (!std::isfinite(value)) return "null";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

}  // namespace

std::string JsonQuote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out += absl::StrFormat("\\u%04x", c);
      ++i;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (const size_t len = Utf8Length(s.substr(i)); len > 0) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out.push_back('"');
  return out;
}

JsonWriter::JsonWriter(Layout layout) : layout_(layout) {}

JsonWriter::JsonWriter(std::ostream& out, Layout layout)
    : layout_(layout), out_(&out) {}

void JsonWriter::Fail(absl::string_view message) const {
  std::fprintf(stderr, "JsonWriter misuse: %.*s\n",
               static_cast<int>(message.size()), message.data());
  std::abort();
}

void JsonWriter::NewLine(size_t depth) {
  text_.push_back('\n');
  for (size_t i = 0; i < depth; ++i) text_ += kIndent;
}

void JsonWriter::Separate(const Frame& f) {
  if (f.count > 0) text_.push_back(',');
  if (layout_ == Layout::kPretty) {
    if (!f.one_line) {
      NewLine(stack_.size());
    } else if (f.count > 0) {
      text_.push_back(' ');
    }
  }
}

void JsonWriter::BeforeValue(const char* what) {
  if (stack_.empty()) {
    if (done_) Fail(absl::StrCat(what, " after the top-level value"));
    return;
  }
  Frame& f = stack_.back();
  if (f.object) {
    if (!f.key_due) Fail(absl::StrCat(what, " in an object without a Key"));
    return;  // Key wrote the separator
  }
  Separate(f);
}

void JsonWriter::AfterValue() {
  if (stack_.empty()) {
    done_ = true;
    if (layout_ == Layout::kPretty) text_.push_back('\n');
    MaybeFlush(/*all=*/true);
    return;
  }
  Frame& f = stack_.back();
  f.key_due = false;
  ++f.count;
  MaybeFlush(/*all=*/false);
}

void JsonWriter::MaybeFlush(bool all) {
  if (out_ == nullptr || (!all && text_.size() < kFlushBytes)) return;
  out_->write(text_.data(), static_cast<std::streamsize>(text_.size()));
  text_.clear();
}

JsonWriter& JsonWriter::Key(absl::string_view key) {
  if (stack_.empty() || !stack_.back().object) {
    Fail(absl::StrCat("Key(", key, ") outside an object"));
  }
  Frame& f = stack_.back();
  if (f.key_due) Fail(absl::StrCat("Key(", key, ") where a value is due"));
  Separate(f);
  text_ += JsonQuote(key);
  text_ += layout_ == Layout::kPretty ? ": " : ":";
  f.key_due = true;
  return *this;
}

JsonWriter& JsonWriter::Open(bool object, Span span) {
  BeforeValue(object ? "BeginObject" : "BeginArray");
  Frame f;
  f.object = object;
  f.one_line =
      span == Span::kOneLine || (!stack_.empty() && stack_.back().one_line);
  stack_.push_back(f);
  text_.push_back(object ? '{' : '[');
  return *this;
}

JsonWriter& JsonWriter::Close(bool object) {
  const char* what = object ? "EndObject" : "EndArray";
  if (stack_.empty() || stack_.back().object != object) {
    Fail(absl::StrCat(what, " without its Begin"));
  }
  const Frame f = stack_.back();
  if (f.key_due) Fail(absl::StrCat(what, " after a Key without its value"));
  stack_.pop_back();
  if (layout_ == Layout::kPretty && !f.one_line && f.count > 0) {
    NewLine(stack_.size());
  }
  text_.push_back(object ? '}' : ']');
  AfterValue();
  return *this;
}

JsonWriter& JsonWriter::BeginObject(Span span) { return Open(true, span); }
JsonWriter& JsonWriter::EndObject() { return Close(true); }
JsonWriter& JsonWriter::BeginArray(Span span) { return Open(false, span); }
JsonWriter& JsonWriter::EndArray() { return Close(false); }

void JsonWriter::Scalar(absl::string_view text) {
  BeforeValue("a value");
  text_.append(text.data(), text.size());
  AfterValue();
}

JsonWriter& JsonWriter::String(absl::string_view value) {
  Scalar(JsonQuote(value));
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  Scalar(absl::StrCat(value));
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  Scalar(absl::StrCat(value));
  return *this;
}

JsonWriter& JsonWriter::Double(double value) {
  Scalar(Shortest(value));
  return *this;
}

JsonWriter& JsonWriter::Float(float value) {
  Scalar(Shortest(value));
  return *this;
}

JsonWriter& JsonWriter::Fixed(double value, int digits) {
  Scalar(std::isfinite(value) ? absl::StrFormat("%.*f", digits, value)
                              : std::string("null"));
  return *this;
}

JsonWriter& JsonWriter::Decimal(int64_t units, int scale) {
  if (scale < 0 || scale > 18) Fail(absl::StrCat("Decimal scale ", scale));
  // The magnitude as unsigned, so that INT64_MIN has one too.
  const uint64_t magnitude = units < 0
                                 ? uint64_t{0} - static_cast<uint64_t>(units)
                                 : static_cast<uint64_t>(units);
  uint64_t unit = 1;
  for (int i = 0; i < scale; ++i) unit *= 10;
  std::string text = absl::StrCat(units < 0 ? "-" : "", magnitude / unit);
  if (scale > 0) {
    absl::StrAppend(&text, ".",
                    absl::StrFormat("%0*d", scale, magnitude % unit));
  }
  Scalar(text);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  Scalar(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Scalar("null");
  return *this;
}

std::string JsonWriter::TakeText() {
  if (out_ != nullptr) Fail("TakeText on a streaming writer");
  if (!done_) Fail("TakeText before the top-level value is complete");
  done_ = false;
  std::string text;
  text.swap(text_);
  return text;
}

}  // namespace freezing::base
