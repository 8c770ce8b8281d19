#include "base/proto_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace freezing::base {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// NonFinite: proto3 JSON's names for what JSON numbers cannot say.
const char* NonFinite(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "Infinity" : "-Infinity";
}

// One value of field `f` of `m`: element `index` of a repeated field, or the
// singular field when index < 0.
void WriteValue(const Message& m, const FieldDescriptor* f, int index,
                JsonWriter& w) {
  const Reflection& r = *m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      w.Int(rep ? r.GetRepeatedInt32(m, f, index) : r.GetInt32(m, f));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      w.Int(rep ? r.GetRepeatedInt64(m, f, index) : r.GetInt64(m, f));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      w.Uint(rep ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f));
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      w.Uint(rep ? r.GetRepeatedUInt64(m, f, index) : r.GetUInt64(m, f));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const double v =
          rep ? r.GetRepeatedDouble(m, f, index) : r.GetDouble(m, f);
      std::isfinite(v) ? w.Double(v) : w.String(NonFinite(v));
      return;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const float v = rep ? r.GetRepeatedFloat(m, f, index) : r.GetFloat(m, f);
      std::isfinite(v) ? w.Float(v) : w.String(NonFinite(v));
      return;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      w.Bool(rep ? r.GetRepeatedBool(m, f, index) : r.GetBool(m, f));
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number =
          rep ? r.GetRepeatedEnumValue(m, f, index) : r.GetEnumValue(m, f);
      const auto* value = f->enum_type()->FindValueByNumber(number);
      value != nullptr ? w.String(value->name()) : w.Int(number);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string v =
          rep ? r.GetRepeatedString(m, f, index) : r.GetString(m, f);
      w.String(f->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(v)
                                                        : v);
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteProtoJson(
          rep ? r.GetRepeatedMessage(m, f, index) : r.GetMessage(m, f), w);
      return;
  }
}

// MapKey: a map entry's key as JSON object keys hold it (always a string).
std::string MapKey(const Message& entry) {
  const FieldDescriptor* key = entry.GetDescriptor()->map_key();
  const Reflection& r = *entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r.GetInt32(entry, key));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(r.GetInt64(entry, key));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r.GetUInt32(entry, key));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r.GetUInt64(entry, key));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r.GetBool(entry, key) ? "true" : "false";
    default:
      return r.GetString(entry, key);
  }
}

void WriteMap(const Message& m, const FieldDescriptor* f, JsonWriter& w) {
  const Reflection& r = *m.GetReflection();
  // Sorted by the key's text (map order is unspecified in a message).
  std::vector<std::pair<std::string, const Message*>> entries;
  for (int i = 0; i < r.FieldSize(m, f); ++i) {
    const Message& entry = r.GetRepeatedMessage(m, f, i);
    entries.emplace_back(MapKey(entry), &entry);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const FieldDescriptor* value = f->message_type()->map_value();
  w.BeginObject();
  for (const auto& [key, entry] : entries) {
    w.Key(key);
    WriteValue(*entry, value, -1, w);
  }
  w.EndObject();
}

}  // namespace

void WriteProtoJson(const Message& message, JsonWriter& w,
                    JsonWriter::Span span) {
  const auto* d = message.GetDescriptor();
  const Reflection& r = *message.GetReflection();
  w.BeginObject(span);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!f->is_repeated() && f->has_presence() && !r.HasField(message, f)) {
      continue;
    }
    w.Key(f->name());
    if (f->is_map()) {
      WriteMap(message, f, w);
    } else if (f->is_repeated()) {
      // Scalars on one line; messages one per line.
      w.BeginArray(f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                       ? JsonWriter::Span::kLines
                       : JsonWriter::Span::kOneLine);
      for (int k = 0; k < r.FieldSize(message, f); ++k) {
        WriteValue(message, f, k, w);
      }
      w.EndArray();
    } else {
      WriteValue(message, f, -1, w);
    }
  }
  w.EndObject();
}

std::string ProtoToJson(const Message& message, JsonWriter::Layout layout) {
  JsonWriter w(layout);
  WriteProtoJson(message, w);
  return w.TakeText();
}

}  // namespace freezing::base
