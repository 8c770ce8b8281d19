#include "trace/chrome_trace.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace freezing::trace {
namespace {

int64_t NonNegative(int64_t ns) { return ns > 0 ? ns : 0; }

// Saturating, so corrupt durations cannot wrap the time axis around.
int64_t Add(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

using Span = base::JsonWriter::Span;

// Args: writes the members of an event's "args" object.
using Args = std::function<void(base::JsonWriter&)>;

class EventWriter {
 public:
  explicit EventWriter(base::JsonWriter& w) : w_(w) {}

  // A complete ("X") event: a slice from ts to ts + dur.
  void Slice(absl::string_view name, absl::string_view cat, int tid, int64_t ts,
             int64_t dur, const Args& args = nullptr) {
    Begin(name, cat, "X", tid, ts);
    w_.Key("dur").Decimal(NonNegative(dur), 3);
    End(args);
  }

  // A global instant ("i") event.
  void Instant(absl::string_view name, absl::string_view cat, int64_t ts,
               const Args& args) {
    Begin(name, cat, "i", kStepsTid, ts);
    w_.Key("s").String("g");
    End(args);
  }

  // A counter ("C") event: args hold the series values.
  void Counter(absl::string_view name, int64_t ts, const Args& args) {
    Begin(name, "counter", "C", kStepsTid, ts);
    End(args);
  }

  // Metadata ("M"): process_name, thread_name, thread_sort_index.
  void Metadata(absl::string_view name, int tid, const Args& args) {
    Begin(name, "metadata", "M", tid, 0);
    End(args);
  }

 private:
  // Times in microseconds with nanosecond digits, exact.
  void Begin(absl::string_view name, absl::string_view cat,
             absl::string_view ph, int tid, int64_t ts) {
    w_.BeginObject(Span::kOneLine);
    w_.Key("name").String(name).Key("cat").String(cat).Key("ph").String(ph);
    w_.Key("ts").Decimal(NonNegative(ts), 3);
    w_.Key("pid").Int(0).Key("tid").Int(tid);
  }
  void End(const Args& args) {
    if (args) {
      w_.Key("args").BeginObject();
      args(w_);
      w_.EndObject();
    }
    w_.EndObject();
  }

  base::JsonWriter& w_;
};

std::string UnitName(const TraceContents& contents, int unit) {
  if (contents.header.has_value() && unit < contents.header->units_size() &&
      !contents.header->units(unit).name().empty()) {
    return contents.header->units(unit).name();
  }
  return absl::StrCat("unit ", unit);
}

}  // namespace

void WriteChromeTrace(const TraceContents& contents, std::ostream& out) {
  base::JsonWriter w(out, base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("displayTimeUnit").String("ns");
  w.Key("otherData").BeginObject(Span::kOneLine);
  w.Key("trace").String(contents.path);
  w.Key("complete").Bool(contents.complete());
  w.Key("status").String(contents.status.ok()
                             ? std::string("OK")
                             : std::string(contents.status.ToString()));
  if (contents.header.has_value()) {
    const RunConfig& c = contents.header->config();
    w.Key("model").String(c.model());
    w.Key("policy").String(c.policy());
    w.Key("ranks").Int(c.ranks());
  }
  w.EndObject();
  w.Key("traceEvents").BeginArray();
  EventWriter events(w);

  std::map<int64_t, const Epoch*> epoch_after_step;
  for (const Epoch& e : contents.epochs) epoch_after_step[e.last_step()] = &e;
  std::map<int64_t, int64_t> step_start;

  int64_t t = 0;             // start of the next step on the time axis
  int64_t compute_free = 0;  // end of the last slice on the compute track
  std::vector<int64_t> comm_lane_free;  // end of the last slice per lane
  for (const Step& step : contents.steps) {
    const PhaseTimes& p = step.phases();
    const std::pair<const char*, int64_t> phases[] = {
        {"data", NonNegative(p.data_ns())},
        {"forward", NonNegative(p.forward_ns())},
        {"backward", NonNegative(p.backward_ns())},
        {"comm wait", NonNegative(p.comm_exposed_ns())},
        {"optimizer", NonNegative(p.optimizer_ns())},
        {"stats", NonNegative(p.stats_ns())},
        {"other", NonNegative(p.other_ns())},
    };
    int64_t phase_sum = 0;
    for (const auto& [name, ns] : phases) phase_sum = Add(phase_sum, ns);
    // Phases nest inside the step only if the step is at least their sum.
    const int64_t duration = std::max(NonNegative(p.total_ns()), phase_sum);
    step_start.emplace(step.step(), t);
    const int trainable = static_cast<int>(
        std::count(step.trainable().begin(), step.trainable().end(), true));
    events.Slice(absl::StrCat("step ", step.step()), "step", kStepsTid, t,
                 duration, [&](base::JsonWriter& a) {
                   a.Key("step").Int(step.step());
                   a.Key("epoch").Int(step.epoch());
                   a.Key("loss").Double(step.loss());
                   a.Key("lr").Double(step.lr());
                   a.Key("trainable_units").Int(trainable);
                   a.Key("bytes_allreduced").Int(step.bytes_allreduced());
                   a.Key("buckets").Int(step.buckets());
                   a.Key("max_rank_total_ns").Int(step.max_rank_total_ns());
                 });
    events.Counter("loss", t, [&](base::JsonWriter& a) {
      a.Key("loss").Double(step.loss());
    });
    events.Counter("trainable units", t,
                   [&](base::JsonWriter& a) { a.Key("units").Int(trainable); });

    int64_t forward_start = t, backward_start = t, pt = t;
    for (const auto& [name, ns] : phases) {
      if (absl::string_view(name) == "forward") forward_start = pt;
      if (absl::string_view(name) == "backward") backward_start = pt;
      if (ns > 0) events.Slice(name, "step", kStepsTid, pt, ns);
      pt = Add(pt, ns);
    }

    // Units: forward in order, backward in reverse, never overlapping on
    // the compute track even when the unit times exceed their phase's.
    const auto unit_slice = [&](const char* what, int u, int64_t ts,
                                int64_t ns) {
      events.Slice(absl::StrCat(what, UnitName(contents, u)), "compute",
                   kComputeTid, ts, ns,
                   [&](base::JsonWriter& a) { a.Key("unit").Int(u); });
    };
    int64_t ut = std::max(forward_start, compute_free);
    for (int u = 0; u < step.unit_forward_ns_size(); ++u) {
      const int64_t ns = NonNegative(step.unit_forward_ns(u));
      if (ns == 0) continue;
      unit_slice("fwd ", u, ut, ns);
      ut = Add(ut, ns);
    }
    ut = std::max(backward_start, ut);
    for (int u = step.unit_backward_ns_size() - 1; u >= 0; --u) {
      const int64_t ns = NonNegative(step.unit_backward_ns(u));
      if (ns == 0) continue;  // frozen: not run
      unit_slice("bwd ", u, ut, ns);
      ut = Add(ut, ns);
    }
    compute_free = ut;

    // All-reduces: offsets from the start of backward.
    for (int b = 0; b < step.bucket_timings_size(); ++b) {
      const BucketTiming& timing = step.bucket_timings(b);
      const int64_t start = Add(backward_start, NonNegative(timing.start_ns()));
      const int64_t done = Add(backward_start, NonNegative(timing.done_ns()));
      const int64_t ns = NonNegative(done - start);
      size_t lane = 0;
      while (lane < comm_lane_free.size() && comm_lane_free[lane] > start) {
        ++lane;
      }
      if (lane == comm_lane_free.size()) comm_lane_free.push_back(0);
      comm_lane_free[lane] = Add(start, ns);
      events.Slice(absl::StrCat("all-reduce bucket ", b), "comm",
                   kFirstCommTid + static_cast<int>(lane), start, ns,
                   [&](base::JsonWriter& a) {
                     a.Key("bytes").Int(timing.bytes());
                     a.Key("ready_ns").Int(timing.ready_ns());
                     a.Key("start_ns").Int(timing.start_ns());
                     a.Key("done_ns").Int(timing.done_ns());
                   });
    }
    t = Add(t, duration);

    const auto epoch = epoch_after_step.find(step.step());
    if (epoch != epoch_after_step.end()) {
      const Epoch& e = *epoch->second;
      const int64_t eval = NonNegative(e.eval_ns());
      events.Slice(absl::StrCat("eval epoch ", e.epoch()), "step", kStepsTid, t,
                   eval, [&](base::JsonWriter& a) {
                     a.Key("test_accuracy").Double(e.test_accuracy());
                     a.Key("test_loss").Double(e.test_loss());
                     a.Key("train_loss").Double(e.train_loss());
                   });
      t = Add(t, eval);
    }
  }

  for (const FreezeEvent& e : contents.freeze_events) {
    const auto start = step_start.find(e.step());
    const int64_t ts = start != step_start.end() ? start->second : t;
    std::vector<std::string> parts;
    auto names = [&](const auto& units) {
      std::vector<std::string> n;
      for (const int32_t u : units) n.push_back(UnitName(contents, u));
      return absl::StrJoin(n, ",");
    };
    if (!e.freeze().empty()) parts.push_back("freeze " + names(e.freeze()));
    if (!e.unfreeze().empty()) {
      parts.push_back("unfreeze " + names(e.unfreeze()));
    }
    if (parts.empty()) parts.push_back("freeze decision");
    events.Instant(absl::StrJoin(parts, "; "), "freeze", ts,
                   [&](base::JsonWriter& a) {
                     a.Key("step").Int(e.step());
                     a.Key("interval").Int(e.interval());
                     a.Key("policy").String(e.policy());
                     a.Key("rule").String(e.rule());
                     a.Key("votes").Int(e.votes_size());
                     a.Key("reason").String(e.reason());
                   });
  }

  std::string process = "rank 0";
  if (contents.header.has_value()) {
    process = absl::StrCat("rank 0 of ", contents.header->config().ranks(),
                           ": ", contents.header->config().model(), " ",
                           contents.header->config().policy());
  }
  const auto named = [](const std::string& name) {
    return [name](base::JsonWriter& a) { a.Key("name").String(name); };
  };
  events.Metadata("process_name", 0, named(process));
  const auto thread = [&](int tid, const std::string& name) {
    events.Metadata("thread_name", tid, named(name));
    events.Metadata("thread_sort_index", tid,
                    [&](base::JsonWriter& a) { a.Key("sort_index").Int(tid); });
  };
  thread(kStepsTid, "steps");
  thread(kComputeTid, "compute: units");
  for (size_t lane = 0; lane < std::max<size_t>(comm_lane_free.size(), 1);
       ++lane) {
    thread(kFirstCommTid + static_cast<int>(lane),
           lane == 0 ? std::string("comm: all-reduce")
                     : absl::StrCat("comm: all-reduce ", lane + 1));
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace freezing::trace
