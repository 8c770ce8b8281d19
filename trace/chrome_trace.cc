#include "trace/chrome_trace.h"

#include <algorithm>
#include <array>
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

// The "otherData" member: what trace the JSON shows and how much of it.
void WriteOtherData(const TraceContents& contents, base::JsonWriter& w) {
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
}

using Phases = std::array<std::pair<const char*, int64_t>, 7>;

// A step's phases in the order they run, clamped to be non-negative.
Phases PhasesOf(const PhaseTimes& p) {
  return {{
      {"data", NonNegative(p.data_ns())},
      {"forward", NonNegative(p.forward_ns())},
      {"backward", NonNegative(p.backward_ns())},
      {"comm wait", NonNegative(p.comm_exposed_ns())},
      {"optimizer", NonNegative(p.optimizer_ns())},
      {"stats", NonNegative(p.stats_ns())},
      {"other", NonNegative(p.other_ns())},
  }};
}

// Timeline: the events of rank 0's steps, laid out back to back on the time
// axis (the file comment of chrome_trace.h), then the freeze decisions and
// the tracks' names.
class Timeline {
 public:
  Timeline(const TraceContents& contents, EventWriter& events)
      : contents_(contents), events_(events) {
    for (const Epoch& e : contents.epochs)
      epoch_after_step_[e.last_step()] = &e;
  }

  // AddStep: the step's slice and counters, its phases, its units, its
  // all-reduces, and the evaluation of the epoch that ends with it.
  void AddStep(const Step& step) {
    const Phases phases = PhasesOf(step.phases());
    int64_t phase_sum = 0;
    for (const auto& [name, ns] : phases) phase_sum = Add(phase_sum, ns);
    // Phases nest inside the step only if the step is at least their sum.
    const int64_t duration =
        std::max(NonNegative(step.phases().total_ns()), phase_sum);
    step_start_.emplace(step.step(), t_);
    AddStepSlice(step, duration);

    int64_t forward_start = t_, backward_start = t_, pt = t_;
    for (const auto& [name, ns] : phases) {
      if (absl::string_view(name) == "forward") forward_start = pt;
      if (absl::string_view(name) == "backward") backward_start = pt;
      if (ns > 0) events_.Slice(name, "step", kStepsTid, pt, ns);
      pt = Add(pt, ns);
    }
    AddUnits(step, forward_start, backward_start);
    AddAllReduces(step, backward_start);
    t_ = Add(t_, duration);

    const auto epoch = epoch_after_step_.find(step.step());
    if (epoch != epoch_after_step_.end()) AddEval(*epoch->second);
  }

  // AddFreezeEvents: one instant per freeze event, at the start of the step
  // it applies to (after the last step when that step was not recorded).
  void AddFreezeEvents() {
    for (const FreezeEvent& e : contents_.freeze_events) {
      const auto start = step_start_.find(e.step());
      const int64_t ts = start != step_start_.end() ? start->second : t_;
      std::vector<std::string> parts;
      if (!e.freeze().empty()) parts.push_back("freeze " + Names(e.freeze()));
      if (!e.unfreeze().empty()) {
        parts.push_back("unfreeze " + Names(e.unfreeze()));
      }
      if (parts.empty()) parts.push_back("freeze decision");
      events_.Instant(absl::StrJoin(parts, "; "), "freeze", ts,
                      [&](base::JsonWriter& a) {
                        a.Key("step").Int(e.step());
                        a.Key("interval").Int(e.interval());
                        a.Key("policy").String(e.policy());
                        a.Key("rule").String(e.rule());
                        a.Key("votes").Int(e.votes_size());
                        a.Key("reason").String(e.reason());
                      });
    }
  }

  // AddMetadata: the process's and the tracks' names and order.
  void AddMetadata() {
    std::string process = "rank 0";
    if (contents_.header.has_value()) {
      const RunConfig& c = contents_.header->config();
      process = absl::StrCat("rank 0 of ", c.ranks(), ": ", c.model(), " ",
                             c.policy());
    }
    const auto named = [](const std::string& name) {
      return [name](base::JsonWriter& a) { a.Key("name").String(name); };
    };
    events_.Metadata("process_name", 0, named(process));
    const auto thread = [&](int tid, const std::string& name) {
      events_.Metadata("thread_name", tid, named(name));
      events_.Metadata("thread_sort_index", tid, [&](base::JsonWriter& a) {
        a.Key("sort_index").Int(tid);
      });
    };
    thread(kStepsTid, "steps");
    thread(kComputeTid, "compute: units");
    for (size_t lane = 0; lane < std::max<size_t>(comm_lane_free_.size(), 1);
         ++lane) {
      thread(kFirstCommTid + static_cast<int>(lane),
             lane == 0 ? std::string("comm: all-reduce")
                       : absl::StrCat("comm: all-reduce ", lane + 1));
    }
  }

 private:
  // The step's slice on the steps track and its loss and trainable units.
  void AddStepSlice(const Step& step, int64_t duration) {
    const int trainable = static_cast<int>(
        std::count(step.trainable().begin(), step.trainable().end(), true));
    events_.Slice(absl::StrCat("step ", step.step()), "step", kStepsTid, t_,
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
    events_.Counter("loss", t_, [&](base::JsonWriter& a) {
      a.Key("loss").Double(step.loss());
    });
    events_.Counter("trainable units", t_, [&](base::JsonWriter& a) {
      a.Key("units").Int(trainable);
    });
  }

  // Units: forward in order, backward in reverse, never overlapping on the
  // compute track even when the unit times exceed their phase's.
  void AddUnits(const Step& step, int64_t forward_start,
                int64_t backward_start) {
    const auto unit_slice = [&](const char* what, int u, int64_t ts,
                                int64_t ns) {
      events_.Slice(absl::StrCat(what, UnitName(contents_, u)), "compute",
                    kComputeTid, ts, ns,
                    [&](base::JsonWriter& a) { a.Key("unit").Int(u); });
    };
    int64_t ut = std::max(forward_start, compute_free_);
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
    compute_free_ = ut;
  }

  // All-reduces: offsets from the start of backward, each on the first comm
  // lane that is free by its start.
  void AddAllReduces(const Step& step, int64_t backward_start) {
    for (int b = 0; b < step.bucket_timings_size(); ++b) {
      const BucketTiming& timing = step.bucket_timings(b);
      const int64_t start = Add(backward_start, NonNegative(timing.start_ns()));
      const int64_t done = Add(backward_start, NonNegative(timing.done_ns()));
      const int64_t ns = NonNegative(done - start);
      size_t lane = 0;
      while (lane < comm_lane_free_.size() && comm_lane_free_[lane] > start) {
        ++lane;
      }
      if (lane == comm_lane_free_.size()) comm_lane_free_.push_back(0);
      comm_lane_free_[lane] = Add(start, ns);
      events_.Slice(absl::StrCat("all-reduce bucket ", b), "comm",
                    kFirstCommTid + static_cast<int>(lane), start, ns,
                    [&](base::JsonWriter& a) {
                      a.Key("bytes").Int(timing.bytes());
                      a.Key("ready_ns").Int(timing.ready_ns());
                      a.Key("start_ns").Int(timing.start_ns());
                      a.Key("done_ns").Int(timing.done_ns());
                    });
    }
  }

  // The epoch's evaluation, after the step that ends it.
  void AddEval(const Epoch& e) {
    const int64_t eval = NonNegative(e.eval_ns());
    events_.Slice(absl::StrCat("eval epoch ", e.epoch()), "step", kStepsTid, t_,
                  eval, [&](base::JsonWriter& a) {
                    a.Key("test_accuracy").Double(e.test_accuracy());
                    a.Key("test_loss").Double(e.test_loss());
                    a.Key("train_loss").Double(e.train_loss());
                  });
    t_ = Add(t_, eval);
  }

  // The units' names, comma-separated.
  template <typename Units>
  std::string Names(const Units& units) const {
    std::vector<std::string> n;
    for (const int32_t u : units) n.push_back(UnitName(contents_, u));
    return absl::StrJoin(n, ",");
  }

  const TraceContents& contents_;
  EventWriter& events_;
  std::map<int64_t, const Epoch*> epoch_after_step_;
  std::map<int64_t, int64_t> step_start_;
  int64_t t_ = 0;             // start of the next step on the time axis
  int64_t compute_free_ = 0;  // end of the last slice on the compute track
  std::vector<int64_t> comm_lane_free_;  // end of the last slice per lane
};

}  // namespace

void WriteChromeTrace(const TraceContents& contents, std::ostream& out) {
  base::JsonWriter w(out, base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("displayTimeUnit").String("ns");
  WriteOtherData(contents, w);
  w.Key("traceEvents").BeginArray();
  EventWriter events(w);
  Timeline timeline(contents, events);
  for (const Step& step : contents.steps) timeline.AddStep(step);
  timeline.AddFreezeEvents();
  timeline.AddMetadata();
  w.EndArray();
  w.EndObject();
}

}  // namespace freezing::trace
