#include "train/summary.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file.h"

namespace freezing::train {
namespace {

std::string Seconds(int64_t ns) {
  return absl::StrFormat("%.6f", static_cast<double>(ns) * 1e-9);
}

std::string Num(double v) { return absl::StrFormat("%.6f", v); }

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string PhasesJson(const PhaseSums& p, double divisor) {
  auto avg = [&](int64_t ns) {
    return Num(divisor > 0 ? static_cast<double>(ns) * 1e-9 / divisor : 0.0);
  };
  return absl::StrCat("{\"data\": ", avg(p.data_ns),
                      ", \"forward\": ", avg(p.forward_ns),
                      ", \"backward\": ", avg(p.backward_ns),
                      ", \"comm_exposed\": ", avg(p.comm_exposed_ns),
                      ", \"optimizer\": ", avg(p.optimizer_ns),
                      ", \"stats\": ", avg(p.stats_ns),
                      ", \"comm_total\": ", avg(p.comm_total_ns),
                      ", \"total\": ", avg(p.total_ns), "}");
}

}  // namespace

std::string SummaryJson(const RunSummary& s) {
  std::vector<std::string> acc, loss, events;
  for (double a : s.test_accuracy_per_epoch) acc.push_back(Num(a));
  for (double l : s.test_loss_per_epoch) loss.push_back(Num(l));
  for (const SummaryFreezeEvent& e : s.freeze_events) {
    events.push_back(
        absl::StrCat("{\"unit\": ", e.unit, ", \"name\": ", Quote(e.name),
                     ", \"step\": ", e.step, ", \"epoch\": ", e.epoch,
                     ", \"unfreeze\": ", e.unfreeze ? "true" : "false", "}"));
  }
  const double total_s = static_cast<double>(s.phases.total_ns) * 1e-9;
  std::string out = "{\n";
  absl::StrAppend(&out, "  \"policy\": ", Quote(s.policy), ",\n");
  absl::StrAppend(&out, "  \"ranks\": ", s.ranks, ",\n");
  absl::StrAppend(&out, "  \"threads\": ", s.threads, ",\n");
  absl::StrAppend(&out, "  \"epochs\": ", s.epochs, ",\n");
  absl::StrAppend(&out, "  \"steps\": ", s.steps, ",\n");
  absl::StrAppend(&out, "  \"total_time_s\": ", Seconds(s.phases.total_ns),
                  ",\n");
  absl::StrAppend(&out, "  \"startup_s\": ", Seconds(s.startup_ns), ",\n");
  absl::StrAppend(&out, "  \"eval_s\": ", Seconds(s.eval_ns), ",\n");
  absl::StrAppend(
      &out, "  \"images_per_s\": ",
      Num(total_s > 0 ? static_cast<double>(s.images) / total_s : 0.0), ",\n");
  absl::StrAppend(&out, "  \"phase_avg_s\": ",
                  PhasesJson(s.phases, static_cast<double>(s.steps)), ",\n");
  absl::StrAppend(&out, "  \"phase_per_epoch_s\": ",
                  PhasesJson(s.phases, static_cast<double>(s.epochs)), ",\n");
  absl::StrAppend(&out, "  \"final_test_accuracy\": ",
                  Num(acc.empty() ? 0.0 : s.test_accuracy_per_epoch.back()),
                  ",\n");
  absl::StrAppend(&out, "  \"test_accuracy_per_epoch\": [",
                  absl::StrJoin(acc, ", "), "],\n");
  absl::StrAppend(&out, "  \"test_loss_per_epoch\": [",
                  absl::StrJoin(loss, ", "), "],\n");
  absl::StrAppend(&out, "  \"freeze_events\": [", absl::StrJoin(events, ", "),
                  "],\n");
  absl::StrAppend(&out, "  \"bytes_allreduced\": ", s.bytes_allreduced, ",\n");
  absl::StrAppend(&out, "  \"cache\": {\"hits\": ", s.cache_hits,
                  ", \"misses\": ", s.cache_misses,
                  ", \"forward_saved_s\": ", Seconds(s.cache_forward_saved_ns),
                  ", \"disabled\": ", s.cache_disabled ? "true" : "false",
                  "}\n");
  out += "}\n";
  return out;
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
                    e.unit, ") at step ", e.step, ", epoch ", e.epoch, "\n");
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

}  // namespace freezing::train
