#include "trace/chrome_trace.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace freezing::trace {
namespace {

int64_t NonNegative(int64_t ns) { return ns > 0 ? ns : 0; }

// Saturating, so corrupt durations cannot wrap the time axis around.
int64_t Add(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

// Microseconds with nanosecond digits, from integer arithmetic (exact).
std::string Micros(int64_t ns) {
  ns = NonNegative(ns);
  return absl::StrFormat("%d.%03d", ns / 1000, ns % 1000);
}

std::string Number(double value) {
  // JSON has no NaN or infinity.
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.9g", value);
}

// A JSON string literal; bytes that are not valid UTF-8 become U+FFFD, so
// that a damaged name cannot make the whole file unreadable.
std::string Json(absl::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += absl::StrFormat("\\u%04x", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Length and smallest code point of a UTF-8 sequence led by c.
    size_t len = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    }
    uint32_t cp = len == 0 ? 0 : (c & (0x7F >> len));
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    valid =
        valid && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (valid) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += "\"";
  return out;
}

class EventWriter {
 public:
  explicit EventWriter(std::ostream& out) : out_(out) {}

  // A complete ("X") event: a slice from ts to ts + dur.
  void Slice(absl::string_view name, absl::string_view cat, int tid, int64_t ts,
             int64_t dur, const std::string& args = "") {
    Begin(name, cat, "X", tid, ts);
    out_ << ",\"dur\":" << Micros(dur);
    End(args);
  }

  // A global instant ("i") event.
  void Instant(absl::string_view name, absl::string_view cat, int64_t ts,
               const std::string& args) {
    Begin(name, cat, "i", kStepsTid, ts);
    out_ << ",\"s\":\"g\"";
    End(args);
  }

  // A counter ("C") event: args hold the series values.
  void Counter(absl::string_view name, int64_t ts, const std::string& args) {
    Begin(name, "counter", "C", kStepsTid, ts);
    End(args);
  }

  // Metadata ("M"): process_name, thread_name, thread_sort_index.
  void Metadata(absl::string_view name, int tid, const std::string& args) {
    Begin(name, "metadata", "M", tid, 0);
    End(args);
  }

 private:
  void Begin(absl::string_view name, absl::string_view cat,
             absl::string_view ph, int tid, int64_t ts) {
    out_ << (first_ ? "\n" : ",\n");
    first_ = false;
    out_ << "{\"name\":" << Json(name) << ",\"cat\":" << Json(cat)
         << ",\"ph\":\"" << ph << "\",\"ts\":" << Micros(ts)
         << ",\"pid\":0,\"tid\":" << tid;
  }
  void End(const std::string& args) {
    if (!args.empty()) out_ << ",\"args\":{" << args << "}";
    out_ << "}";
  }

  std::ostream& out_;
  bool first_ = true;
};

std::string UnitName(const TraceContents& contents, int unit) {
  if (contents.header.has_value() && unit < contents.header->units_size() &&
      !contents.header->units(unit).name().empty()) {
    return contents.header->units(unit).name();
  }
  return absl::StrCat("unit ", unit);
}

std::string Arg(absl::string_view key, const std::string& json_value) {
  return absl::StrCat(Json(key), ":", json_value);
}

}  // namespace

void WriteChromeTrace(const TraceContents& contents, std::ostream& out) {
  out << "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{";
  {
    std::vector<std::string> data = {
        Arg("trace", Json(contents.path)),
        Arg("complete", contents.complete() ? "true" : "false"),
        Arg("status", Json(contents.status.ok()
                               ? std::string("OK")
                               : std::string(contents.status.ToString())))};
    if (contents.header.has_value()) {
      const RunConfig& c = contents.header->config();
      data.push_back(Arg("model", Json(c.model())));
      data.push_back(Arg("policy", Json(c.policy())));
      data.push_back(Arg("ranks", absl::StrCat(c.ranks())));
    }
    out << absl::StrJoin(data, ",");
  }
  out << "},\n\"traceEvents\":[";
  EventWriter events(out);

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
    events.Slice(
        absl::StrCat("step ", step.step()), "step", kStepsTid, t, duration,
        absl::StrJoin(
            {Arg("step", absl::StrCat(step.step())),
             Arg("epoch", absl::StrCat(step.epoch())),
             Arg("loss", Number(step.loss())), Arg("lr", Number(step.lr())),
             Arg("trainable_units", absl::StrCat(trainable)),
             Arg("bytes_allreduced", absl::StrCat(step.bytes_allreduced())),
             Arg("buckets", absl::StrCat(step.buckets())),
             Arg("max_rank_total_ns", absl::StrCat(step.max_rank_total_ns()))},
            ","));
    events.Counter("loss", t, Arg("loss", Number(step.loss())));
    events.Counter("trainable units", t, Arg("units", absl::StrCat(trainable)));

    int64_t forward_start = t, backward_start = t, pt = t;
    for (const auto& [name, ns] : phases) {
      if (absl::string_view(name) == "forward") forward_start = pt;
      if (absl::string_view(name) == "backward") backward_start = pt;
      if (ns > 0) events.Slice(name, "step", kStepsTid, pt, ns);
      pt = Add(pt, ns);
    }

    // Units: forward in order, backward in reverse, never overlapping on
    // the compute track even when the unit times exceed their phase's.
    int64_t ut = std::max(forward_start, compute_free);
    for (int u = 0; u < step.unit_forward_ns_size(); ++u) {
      const int64_t ns = NonNegative(step.unit_forward_ns(u));
      if (ns == 0) continue;
      events.Slice(absl::StrCat("fwd ", UnitName(contents, u)), "compute",
                   kComputeTid, ut, ns, Arg("unit", absl::StrCat(u)));
      ut = Add(ut, ns);
    }
    ut = std::max(backward_start, ut);
    for (int u = step.unit_backward_ns_size() - 1; u >= 0; --u) {
      const int64_t ns = NonNegative(step.unit_backward_ns(u));
      if (ns == 0) continue;  // frozen: not run
      events.Slice(absl::StrCat("bwd ", UnitName(contents, u)), "compute",
                   kComputeTid, ut, ns, Arg("unit", absl::StrCat(u)));
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
      events.Slice(
          absl::StrCat("all-reduce bucket ", b), "comm",
          kFirstCommTid + static_cast<int>(lane), start, ns,
          absl::StrJoin({Arg("bytes", absl::StrCat(timing.bytes())),
                         Arg("ready_ns", absl::StrCat(timing.ready_ns())),
                         Arg("start_ns", absl::StrCat(timing.start_ns())),
                         Arg("done_ns", absl::StrCat(timing.done_ns()))},
                        ","));
    }
    t = Add(t, duration);

    const auto epoch = epoch_after_step.find(step.step());
    if (epoch != epoch_after_step.end()) {
      const Epoch& e = *epoch->second;
      const int64_t eval = NonNegative(e.eval_ns());
      events.Slice(
          absl::StrCat("eval epoch ", e.epoch()), "step", kStepsTid, t, eval,
          absl::StrJoin({Arg("test_accuracy", Number(e.test_accuracy())),
                         Arg("test_loss", Number(e.test_loss())),
                         Arg("train_loss", Number(e.train_loss()))},
                        ","));
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
                   absl::StrJoin({Arg("step", absl::StrCat(e.step())),
                                  Arg("interval", absl::StrCat(e.interval())),
                                  Arg("policy", Json(e.policy())),
                                  Arg("rule", Json(e.rule())),
                                  Arg("votes", absl::StrCat(e.votes_size())),
                                  Arg("reason", Json(e.reason()))},
                                 ","));
  }

  std::string process = "rank 0";
  if (contents.header.has_value()) {
    process = absl::StrCat("rank 0 of ", contents.header->config().ranks(),
                           ": ", contents.header->config().model(), " ",
                           contents.header->config().policy());
  }
  events.Metadata("process_name", 0, Arg("name", Json(process)));
  const auto thread = [&](int tid, const std::string& name) {
    events.Metadata("thread_name", tid, Arg("name", Json(name)));
    events.Metadata("thread_sort_index", tid,
                    Arg("sort_index", absl::StrCat(tid)));
  };
  thread(kStepsTid, "steps");
  thread(kComputeTid, "compute: units");
  for (size_t lane = 0; lane < std::max<size_t>(comm_lane_free.size(), 1);
       ++lane) {
    thread(kFirstCommTid + static_cast<int>(lane),
           lane == 0 ? std::string("comm: all-reduce")
                     : absl::StrCat("comm: all-reduce ", lane + 1));
  }
  out << "\n]}\n";
}

}  // namespace freezing::trace
