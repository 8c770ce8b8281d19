// Protocol buffer messages as JSON, through base::JsonWriter, by reflection:
// the project's JSON files made from protos (config.json, calibration files,
// trace_json) look like its other JSON files and keep 64-bit integers exact
// for every reader.
//
// The mapping is proto3's JSON mapping (what
// google::protobuf::util::JsonStringToMessage reads back) with these choices,
// which protobuf's own printer makes only on request or not at all:
//   - field names are the .proto's (snake_case), not lowerCamelCase
//     (as JsonPrintOptions::preserve_proto_field_names);
//   - 64-bit integers (int64, uint64, sint64, fixed64, sfixed64) are JSON
//     numbers, not strings;
//   - fields without presence (proto3 scalars, strings, enums) are printed
//     even at their default value, and repeated fields and maps even when
//     empty (as JsonPrintOptions::always_print_primitive_fields); fields with
//     presence (messages, oneof members, `optional`) only when set;
//   - fields in declaration order; map entries sorted by their key's text.
// The rest is proto3's: enums by value name (the number for a value the
// enum does not name), bytes in base64, doubles and floats as the shortest
// text that reads back exactly (JsonWriter::Double), NaN and infinities as
// the strings "NaN", "Infinity", "-Infinity" (so that every message reads
// back as itself; JsonWriter alone would write null). Well-known types
// (google.protobuf.Timestamp, Duration, Any, Struct, wrappers) are printed
// as ordinary messages, not in their special JSON forms, which
// JsonStringToMessage would not read; none of the project's protos use them.
#ifndef FREEZING_BASE_PROTO_JSON_H_
#define FREEZING_BASE_PROTO_JSON_H_

#include <string>

#include "base/json.h"
#include "google/protobuf/message.h"

namespace freezing::base {

// WriteProtoJson: `message` as one JSON object value of `writer` (after a
// Key in an object, as an array element, or as the whole document); `span`
// as for JsonWriter::BeginObject (kOneLine: the whole message on one line).
void WriteProtoJson(const google::protobuf::Message& message,
                    JsonWriter& writer,
                    JsonWriter::Span span = JsonWriter::Span::kLines);

// ProtoToJson: `message` as a JSON document in `layout` (kPretty ends with a
// newline).
std::string ProtoToJson(
    const google::protobuf::Message& message,
    JsonWriter::Layout layout = JsonWriter::Layout::kPretty);

}  // namespace freezing::base

#endif  // FREEZING_BASE_PROTO_JSON_H_
