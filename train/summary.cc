#include "train/summary.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/json.h"
#include "base/proto_json.h"

namespace freezing::train {
namespace {

double Seconds(int64_t ns) { return static_cast<double>(ns) * 1e-9; }

// Every number of summary.json has six decimals.
constexpr int kDigits = 6;

// WritePhases: each phase's total divided by `divisor` (steps or epochs).
void WritePhases(base::JsonWriter& w, const PhaseSums& p, double divisor) {
  const std::pair<const char*, int64_t> phases[] = {
      {"data", p.data_ns},
      {"forward", p.forward_ns},
      {"backward", p.backward_ns},
      {"comm_exposed", p.comm_exposed_ns},
      {"optimizer", p.optimizer_ns},
      {"stats", p.stats_ns},
      {"comm_total", p.comm_total_ns},
      {"total", p.total_ns}};
  w.BeginObject(base::JsonWriter::Span::kOneLine);
  for (const auto& [name, ns] : phases) {
    w.Key(name).Fixed(divisor > 0 ? Seconds(ns) / divisor : 0.0, kDigits);
  }
  w.EndObject();
}

void WriteNumbers(base::JsonWriter& w, const std::vector<double>& values) {
  w.BeginArray(base::JsonWriter::Span::kOneLine);
  for (double v : values) w.Fixed(v, kDigits);
  w.EndArray();
}

}  // namespace

std::string SummaryJson(const RunSummary& s) {
  using Span = base::JsonWriter::Span;
  const double total_s = Seconds(s.phases.total_ns);
  base::JsonWriter w(base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("policy").String(s.policy);
  w.Key("ranks").Int(s.ranks);
  w.Key("threads").Int(s.threads);
  w.Key("epochs").Int(s.epochs);
  w.Key("steps").Int(s.steps);
  w.Key("total_time_s").Fixed(total_s, kDigits);
  w.Key("startup_s").Fixed(Seconds(s.startup_ns), kDigits);
  w.Key("eval_s").Fixed(Seconds(s.eval_ns), kDigits);
  w.Key("images_per_s")
      .Fixed(total_s > 0 ? static_cast<double>(s.images) / total_s : 0.0,
             kDigits);
  w.Key("phase_avg_s");
  WritePhases(w, s.phases, static_cast<double>(s.steps));
  w.Key("phase_per_epoch_s");
  WritePhases(w, s.phases, static_cast<double>(s.epochs));
  w.Key("final_test_accuracy")
      .Fixed(s.test_accuracy_per_epoch.empty()
                 ? 0.0
                 : s.test_accuracy_per_epoch.back(),
             kDigits);
  w.Key("test_accuracy_per_epoch");
  WriteNumbers(w, s.test_accuracy_per_epoch);
  w.Key("test_loss_per_epoch");
  WriteNumbers(w, s.test_loss_per_epoch);
  w.Key("freeze_events").BeginArray();
  for (const SummaryFreezeEvent& e : s.freeze_events) {
    w.BeginObject(Span::kOneLine);
    w.Key("unit").Int(e.unit);
    w.Key("name").String(e.name);
    w.Key("step").Int(e.step);
    w.Key("epoch").Int(e.epoch);
    w.Key("unfreeze").Bool(e.unfreeze);
    w.EndObject();
  }
  w.EndArray();
  w.Key("bytes_allreduced").Int(s.bytes_allreduced);
  w.Key("cache").BeginObject(Span::kOneLine);
  w.Key("hits").Int(s.cache_hits);
  w.Key("misses").Int(s.cache_misses);
  w.Key("forward_saved_s").Fixed(Seconds(s.cache_forward_saved_ns), kDigits);
  w.Key("disabled").Bool(s.cache_disabled);
  w.EndObject();
  w.EndObject();
  return w.TakeText();
}

std::string SummaryTable(const RunSummary& s) {
  const double epochs = s.epochs > 0 ? s.epochs : 1;
  auto per_epoch = [&](int64_t ns) {
    return absl::StrFormat("%10.2f", static_cast<double>(ns) * 1e-9 / epochs);
  };
  std::string out;
  absl::StrAppend(&out, "policy ", s.policy, ", ", s.ranks, " rank(s) x ",
                  s.threads, " thread(s), ", s.epochs, " epoch(s), ", s.steps,
                  " steps\n");
  absl::StrAppend(&out, "phase (s per epoch, rank 0)  \n");
  absl::StrAppend(&out, "  data          ", per_epoch(s.phases.data_ns), "\n");
  absl::StrAppend(&out, "  forward       ", per_epoch(s.phases.forward_ns),
                  "\n");
  absl::StrAppend(&out, "  backward      ", per_epoch(s.phases.backward_ns),
                  "\n");
  absl::StrAppend(&out, "  optimizer     ", per_epoch(s.phases.optimizer_ns),
                  "\n");
  absl::StrAppend(
      &out, "  communication ", per_epoch(s.phases.comm_exposed_ns),
      "  (exposed; ",
      absl::StrFormat(
          "%.2f", static_cast<double>(s.phases.comm_total_ns) * 1e-9 / epochs),
      " in flight)\n");
  absl::StrAppend(&out, "  statistics    ", per_epoch(s.phases.stats_ns), "\n");
  absl::StrAppend(
      &out, "total training time ",
      absl::StrFormat("%.2f", static_cast<double>(s.phases.total_ns) * 1e-9),
      " s (start-up ",
      absl::StrFormat("%.2f", static_cast<double>(s.startup_ns) * 1e-9),
      " s, evaluation ",
      absl::StrFormat("%.2f", static_cast<double>(s.eval_ns) * 1e-9), " s)\n");
  absl::StrAppend(&out, "gradient bytes all-reduced per rank ",
                  s.bytes_allreduced, "\n");
  for (const SummaryFreezeEvent& e : s.freeze_events) {
    absl::StrAppend(&out, e.unfreeze ? "unfroze " : "froze ", e.name, " (unit ",
                    e.unit, ") at step ", e.step, ", epoch ", e.epoch + 1,
                    "\n");
  }
  if (!s.test_accuracy_per_epoch.empty()) {
    absl::StrAppend(&out, "test accuracy per epoch:");
    for (double a : s.test_accuracy_per_epoch) {
      absl::StrAppend(&out, absl::StrFormat(" %.4f", a));
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

absl::Status WriteSummary(const RunSummary& summary, const std::string& path) {
  return base::WriteFileAtomically(path, SummaryJson(summary));
}

absl::Status WriteRunConfigJson(const trace::RunConfig& config,
                                const std::string& path) {
  return base::WriteFileAtomically(path, base::ProtoToJson(config));
}

}  // namespace freezing::train
