#include "replay/chrome_export.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace freezing::replay {
namespace {

using Span = base::JsonWriter::Span;

// One complete ("X") slice on track `tid` (pid 1), times in microseconds
// from integer nanoseconds (exact); nothing for an empty slice. `bytes`
// (when >= 0) goes into args beside the step.
void Event(base::JsonWriter& w, absl::string_view name, absl::string_view cat,
           int tid, int64_t ts_ns, int64_t dur_ns, int64_t step,
           int64_t bytes = -1) {
  if (dur_ns <= 0) return;
  w.BeginObject(Span::kOneLine);
  w.Key("name").String(name).Key("cat").String(cat).Key("ph").String("X");
  w.Key("pid").Int(1).Key("tid").Int(tid);
  w.Key("ts").Decimal(ts_ns, 3).Key("dur").Decimal(dur_ns, 3);
  w.Key("args").BeginObject().Key("step").Int(step);
  if (bytes >= 0) w.Key("bytes").Int(bytes);
  w.EndObject();
  w.EndObject();
}

// Metadata ("M") naming the process (tid < 0) or a thread.
void Meta(base::JsonWriter& w, int tid, absl::string_view name) {
  w.BeginObject(Span::kOneLine);
  w.Key("name").String(tid < 0 ? "process_name" : "thread_name");
  w.Key("ph").String("M").Key("pid").Int(1);
  if (tid >= 0) w.Key("tid").Int(tid);
  w.Key("args").BeginObject().Key("name").String(name).EndObject();
  w.EndObject();
}

}  // namespace

std::string ChromeTraceJson(const CaseResult& c, const sim::CostModel& model) {
  base::JsonWriter w(base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("displayTimeUnit").String("ms");
  w.Key("traceEvents").BeginArray();
  Meta(w, -1,
       absl::StrCat("simulated rank 0: ", c.policy.given, " / ", c.network,
                    " / world ", c.world_size));
  Meta(w, 1, "phases");
  Meta(w, 2, "units");
  Meta(w, 3, "all-reduce");
  const int n = model.run().num_units;
  for (const sim::StepTimeline& s : c.timing.timeline) {
    int64_t t = s.start_ns;
    const int64_t step = s.step;
    Event(w, "data", "phase", 1, t, s.data_ns, step);
    t += s.data_ns;
    Event(w, "forward", "phase", 1, t, s.forward_ns, step);
    int64_t u_t = t;
    if (s.cache_ns > 0) {
      Event(w, "cache", "unit", 2, u_t, s.cache_ns, step);
      u_t += s.cache_ns;
    }
    for (int u = 0; u < n && u < static_cast<int>(s.unit_forward_ns.size());
         ++u) {
      Event(w, absl::StrCat(model.run().units[u].name, " fwd"), "unit", 2, u_t,
            s.unit_forward_ns[u], step);
      u_t += s.unit_forward_ns[u];
    }
    t += s.forward_ns;
    const int64_t backward_start = t;
    Event(w, "backward", "phase", 1, t, s.backward_ns, step);
    u_t = t;
    for (int u = static_cast<int>(s.unit_backward_ns.size()) - 1; u >= 0; --u) {
      Event(w, absl::StrCat(model.run().units[u].name, " bwd"), "unit", 2, u_t,
            s.unit_backward_ns[u], step);
      u_t += s.unit_backward_ns[u];
    }
    for (const auto& b : s.buckets) {
      Event(w, absl::StrCat("bucket ", b[0], " B"), "comm", 3,
            backward_start + b[1], b[2] - b[1], step, /*bytes=*/b[0]);
    }
    t += s.backward_ns;
    Event(w, "comm exposed", "phase", 1, t, s.comm_exposed_ns, step);
    t += s.comm_exposed_ns;
    Event(w, "optimizer", "phase", 1, t, s.optimizer_ns, step);
    t += s.optimizer_ns;
    Event(w, "stats", "phase", 1, t, s.stats_ns, step);
    t += s.stats_ns;
    Event(w, "other", "phase", 1, t, s.other_ns, step);
  }
  w.EndArray();
  w.EndObject();
  return w.TakeText();
}

}  // namespace freezing::replay
