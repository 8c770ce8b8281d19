#include "replay/chrome_export.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace freezing::replay {
namespace {

// Microseconds with nanosecond digits, exactly.
std::string Us(int64_t ns) {
  return absl::StrFormat("%d.%03d", ns / 1000, ns % 1000);
}

void Event(std::string& out, bool& first, const std::string& name,
           const char* cat, int tid, int64_t ts_ns, int64_t dur_ns,
           const std::string& args = "") {
  if (dur_ns <= 0) return;
  absl::StrAppend(&out, first ? "\n" : ",\n", "{\"name\": \"", name,
                  "\", \"cat\": \"", cat, "\", \"ph\": \"X\", \"pid\": 1, ",
                  "\"tid\": ", tid, ", \"ts\": ", Us(ts_ns),
                  ", \"dur\": ", Us(dur_ns));
  if (!args.empty()) absl::StrAppend(&out, ", \"args\": {", args, "}");
  absl::StrAppend(&out, "}");
  first = false;
}

void Meta(std::string& out, bool& first, int tid, const std::string& name) {
  absl::StrAppend(&out, first ? "\n" : ",\n",
                  "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, "
                  "\"tid\": ",
                  tid, ", \"args\": {\"name\": \"", name, "\"}}");
  first = false;
}

}  // namespace

std::string ChromeTraceJson(const CaseResult& c, const sim::TraceModel& model) {
  std::string out = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [";
  bool first = true;
  absl::StrAppend(&out,
                  "\n{\"name\": \"process_name\", \"ph\": \"M\", "
                  "\"pid\": 1, \"args\": {\"name\": \"simulated rank 0: ");
  // Names are ours (policy specs and network specs hold no quotes).
  absl::StrAppend(&out, c.policy.given, " / ", c.network, " / world ",
                  c.world_size, "\"}}");
  first = false;
  Meta(out, first, 1, "phases");
  Meta(out, first, 2, "units");
  Meta(out, first, 3, "all-reduce");
  const int n = model.num_units;
  for (const sim::StepTimeline& s : c.timing.timeline) {
    int64_t t = s.start_ns;
    const std::string step = absl::StrCat("\"step\": ", s.step);
    Event(out, first, "data", "phase", 1, t, s.data_ns, step);
    t += s.data_ns;
    Event(out, first, "forward", "phase", 1, t, s.forward_ns, step);
    int64_t u_t = t;
    if (s.cache_ns > 0) {
      Event(out, first, "cache", "unit", 2, u_t, s.cache_ns, step);
      u_t += s.cache_ns;
    }
    for (int u = 0; u < n && u < static_cast<int>(s.unit_forward_ns.size());
         ++u) {
      Event(out, first, absl::StrCat(model.units[u].name, " fwd"), "unit", 2,
            u_t, s.unit_forward_ns[u], step);
      u_t += s.unit_forward_ns[u];
    }
    t += s.forward_ns;
    const int64_t backward_start = t;
    Event(out, first, "backward", "phase", 1, t, s.backward_ns, step);
    u_t = t;
    for (int u = static_cast<int>(s.unit_backward_ns.size()) - 1; u >= 0; --u) {
      Event(out, first, absl::StrCat(model.units[u].name, " bwd"), "unit", 2,
            u_t, s.unit_backward_ns[u], step);
      u_t += s.unit_backward_ns[u];
    }
    for (const auto& b : s.buckets) {
      Event(out, first, absl::StrCat("bucket ", b[0], " B"), "comm", 3,
            backward_start + b[1], b[2] - b[1],
            absl::StrCat(step, ", \"bytes\": ", b[0]));
    }
    t += s.backward_ns;
    Event(out, first, "comm exposed", "phase", 1, t, s.comm_exposed_ns, step);
    t += s.comm_exposed_ns;
    Event(out, first, "optimizer", "phase", 1, t, s.optimizer_ns, step);
    t += s.optimizer_ns;
    Event(out, first, "stats", "phase", 1, t, s.stats_ns, step);
    t += s.stats_ns;
    Event(out, first, "other", "phase", 1, t, s.other_ns, step);
  }
  absl::StrAppend(&out, "\n]}\n");
  return out;
}

}  // namespace freezing::replay
