// trace_json FILE: the parts of a trace that the performance scripts read
// (header, start-up profile, steps, epochs, footer), as one JSON object on
// stdout, so that Python scripts need no protobuf module:
//   {"header": {...}, "profile": {...}, "steps": [{...}, ...],
//    "epochs": [{...}, ...], "footer": {...}}
// Field names are the proto's (trace/trace.proto); 64-bit integers are JSON
// strings, as protobuf's JSON mapping writes them.
#include <cstdio>
#include <iostream>
#include <string>

#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "trace/trace_reader.h"

namespace freezing::benchmarks {
namespace {

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, opts).ok()) {
    return "null";
  }
  return out;
}

int RealMain(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: trace_json FILE\n");
    return 2;
  }
  const trace::TraceContents t = trace::ReadTrace(argv[1]);
  if (!t.status.ok() || !t.header.has_value()) {
    std::fprintf(stderr, "trace_json: %s: %s\n", argv[1],
                 t.status.ok() ? "no header" : t.status.ToString().c_str());
    return 1;
  }
  std::cout << "{\"header\": " << ToJson(*t.header) << ",\n\"profile\": "
            << (t.profile.has_value() ? ToJson(*t.profile) : "null")
            << ",\n\"steps\": [";
  for (size_t i = 0; i < t.steps.size(); ++i) {
    std::cout << (i == 0 ? "\n" : ",\n") << ToJson(t.steps[i]);
  }
  std::cout << "],\n\"epochs\": [";
  for (size_t i = 0; i < t.epochs.size(); ++i) {
    std::cout << (i == 0 ? "\n" : ",\n") << ToJson(t.epochs[i]);
  }
  std::cout << "],\n\"footer\": "
            << (t.footer.has_value() ? ToJson(*t.footer) : "null") << "}\n";
  return 0;
}

}  // namespace
}  // namespace freezing::benchmarks

int main(int argc, char** argv) {
  return freezing::benchmarks::RealMain(argc, argv);
}
