// trace_json FILE: the parts of a trace that the performance scripts read
// (header, start-up profile, steps, epochs, footer), as one JSON object on
// stdout, so that Python scripts need no protobuf module:
//   {
//     "header": {...},
//     "profile": {...},
//     "steps": [
//       {"step": 0, "epoch": 0, "phases": {"data_ns": 1453296, ...}, ...},
//       ...
//     ],
//     "epochs": [
//       {"epoch": 0, "last_step": 31, ...},
//       ...
//     ],
//     "footer": {...}
//   }
// Each message by base::WriteProtoJson: the proto's field names
// (trace/trace.proto), 64-bit integers as JSON numbers, every field without
// presence printed; profile and footer are null when the trace has none.
// One step or epoch per line.
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "base/json.h"
#include "base/proto_json.h"
#include "trace/trace_reader.h"

namespace freezing::benchmarks {
namespace {

template <typename M>
void WriteOptional(base::JsonWriter& w, const std::optional<M>& m) {
  m.has_value() ? base::WriteProtoJson(*m, w) : (void)w.Null();
}

template <typename M>
void WriteOnePerLine(base::JsonWriter& w, const std::vector<M>& messages) {
  w.BeginArray();
  for (const M& m : messages) {
    base::WriteProtoJson(m, w, base::JsonWriter::Span::kOneLine);
  }
  w.EndArray();
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
  base::JsonWriter w(std::cout, base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("header");
  base::WriteProtoJson(*t.header, w);
  w.Key("profile");
  WriteOptional(w, t.profile);
  w.Key("steps");
  WriteOnePerLine(w, t.steps);
  w.Key("epochs");
  WriteOnePerLine(w, t.epochs);
  w.Key("footer");
  WriteOptional(w, t.footer);
  w.EndObject();
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

}  // namespace
}  // namespace freezing::benchmarks

int main(int argc, char** argv) {
  return freezing::benchmarks::RealMain(argc, argv);
}
