#include "freeze/state_codec.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace freezing::freeze {

std::string EncodeDouble(double value) {
  uint64_t bits = 0;
  static_assert(sizeof(bits) == sizeof(value));
  std::memcpy(&bits, &value, sizeof(bits));
  return absl::StrCat(absl::Hex(bits, absl::kZeroPad16));
}

bool DecodeDouble(absl::string_view text, double* value) {
  if (text.size() != 16) return false;
  uint64_t bits = 0;
  for (char c : text) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    bits = (bits << 4) | static_cast<uint64_t>(digit);
  }
  std::memcpy(value, &bits, sizeof(bits));
  return true;
}

void StateWriter::Add(absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out_, key, " ", value, "\n");
}

void StateWriter::AddInt(absl::string_view key, int64_t value) {
  absl::StrAppend(&out_, key, " ", value, "\n");
}

void StateWriter::AddDouble(absl::string_view key, double value) {
  absl::StrAppend(&out_, key, " ", EncodeDouble(value), "\n");
}

void StateWriter::AddInts(absl::string_view key,
                          const std::vector<int64_t>& values) {
  absl::StrAppend(&out_, key, " ", values.size());
  for (int64_t v : values) absl::StrAppend(&out_, " ", v);
  out_ += "\n";
}

void StateWriter::AddDoubles(absl::string_view key,
                             const std::vector<double>& values) {
  absl::StrAppend(&out_, key, " ", values.size());
  for (double v : values) absl::StrAppend(&out_, " ", EncodeDouble(v));
  out_ += "\n";
}

void StateWriter::AddBools(absl::string_view key,
                           const std::vector<bool>& values) {
  absl::StrAppend(&out_, key, " ", values.size());
  for (bool v : values) absl::StrAppend(&out_, v ? " 1" : " 0");
  out_ += "\n";
}

void StateWriter::AddBlob(absl::string_view key, absl::string_view blob) {
  absl::StrAppend(&out_, key, " ", blob.size(), "\n", blob, "\n");
}

absl::Status StateReader::Error(absl::string_view message) const {
  return absl::DataLossError(
      absl::StrCat(what_, ": line ", line_, ": ", message));
}

absl::StatusOr<std::vector<absl::string_view>> StateReader::Line(
    absl::string_view key) {
  ++line_;
  if (pos_ >= in_.size()) {
    return Error(absl::StrCat("ends where '", key, "' was expected"));
  }
  const size_t end = in_.find('\n', pos_);
  if (end == absl::string_view::npos) {
    return Error(absl::StrCat("line of '", key, "' is not terminated"));
  }
  absl::string_view line = in_.substr(pos_, end - pos_);
  pos_ = end + 1;
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
  if (words.empty() || words[0] != key) {
    return Error(
        absl::StrCat("expected '", key, "', got '", line.substr(0, 40), "'"));
  }
  words.erase(words.begin());
  return words;
}

absl::StatusOr<std::string> StateReader::Get(absl::string_view key) {
  auto words = Line(key);
  if (!words.ok()) return words.status();
  if (words->size() != 1) {
    return Error(absl::StrCat("'", key, "' needs exactly one value"));
  }
  return std::string((*words)[0]);
}

absl::StatusOr<int64_t> StateReader::GetInt(absl::string_view key) {
  auto text = Get(key);
  if (!text.ok()) return text.status();
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v)) {
    return Error(absl::StrCat("'", key, "': bad integer '", *text, "'"));
  }
  return v;
}

absl::StatusOr<double> StateReader::GetDouble(absl::string_view key) {
  auto text = Get(key);
  if (!text.ok()) return text.status();
  double v = 0;
  if (!DecodeDouble(*text, &v)) {
    return Error(absl::StrCat("'", key, "': bad double '", *text,
                              "' (want 16 hex digits)"));
  }
  return v;
}

absl::StatusOr<std::vector<absl::string_view>> StateReader::Vector(
    absl::string_view key, int64_t size) {
  auto words = Line(key);
  if (!words.ok()) return words.status();
  int64_t n = -1;
  if (words->empty() || !absl::SimpleAtoi((*words)[0], &n) || n < 0 ||
      static_cast<int64_t>(words->size()) != n + 1) {
    return Error(absl::StrCat("'", key, "': bad length or value count"));
  }
  if (size >= 0 && n != size) {
    return Error(
        absl::StrCat("'", key, "' has ", n, " values, expected ", size));
  }
  words->erase(words->begin());
  return words;
}

absl::StatusOr<std::vector<int64_t>> StateReader::GetInts(absl::string_view key,
                                                          int64_t size) {
  auto words = Vector(key, size);
  if (!words.ok()) return words.status();
  std::vector<int64_t> out;
  for (absl::string_view w : *words) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(w, &v)) {
      return Error(absl::StrCat("'", key, "': bad integer '", w, "'"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<std::vector<double>> StateReader::GetDoubles(
    absl::string_view key, int64_t size) {
  auto words = Vector(key, size);
  if (!words.ok()) return words.status();
  std::vector<double> out;
  for (absl::string_view w : *words) {
    double v = 0;
    if (!DecodeDouble(w, &v)) {
      return Error(absl::StrCat("'", key, "': bad double '", w, "'"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<std::vector<bool>> StateReader::GetBools(absl::string_view key,
                                                        int64_t size) {
  auto words = Vector(key, size);
  if (!words.ok()) return words.status();
  std::vector<bool> out;
  for (absl::string_view w : *words) {
    if (w != "0" && w != "1") {
      return Error(absl::StrCat("'", key, "': bad flag '", w, "'"));
    }
    out.push_back(w == "1");
  }
  return out;
}

absl::StatusOr<std::string> StateReader::GetBlob(absl::string_view key) {
  auto len = GetInt(key);
  if (!len.ok()) return len.status();
  if (*len < 0 || pos_ + static_cast<size_t>(*len) + 1 > in_.size() ||
      in_[pos_ + *len] != '\n') {
    return Error(absl::StrCat("'", key, "': blob of ", *len,
                              " bytes is truncated or not terminated"));
  }
  std::string blob(in_.substr(pos_, *len));
  pos_ += *len + 1;
  for (char c : blob) line_ += c == '\n';
  ++line_;
  return blob;
}

absl::Status StateReader::ExpectEnd() {
  if (pos_ != in_.size()) {
    ++line_;
    return Error("unexpected data after the end of the state");
  }
  return absl::OkStatus();
}

}  // namespace freezing::freeze
