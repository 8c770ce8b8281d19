#include "replay/replay.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/network.h"

namespace freezing::replay {
namespace {

std::string Seconds(int64_t ns) {
  // Exact: nanoseconds as a decimal number of seconds.
  const char* sign = ns < 0 ? "-" : "";
  const int64_t a = ns < 0 ? -ns : ns;
  return absl::StrFormat("%s%d.%09d", sign, a / 1000000000, a % 1000000000);
}

std::string Fixed(double v, int digits) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.*f", digits, v);
}

// Shortest text that reads back as exactly `v` (for the golden CSV).
std::string Exact(double v) {
  if (!std::isfinite(v)) return "nan";
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
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
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string UnitNames(const std::vector<int>& units,
                      const sim::TraceModel& model) {
  std::vector<std::string> names;
  for (int u : units) names.push_back(JsonString(model.units[u].name));
  return absl::StrCat("[", absl::StrJoin(names, ", "), "]");
}

double SafeRatio(int64_t a, int64_t b) {
  return b != 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
}

std::string Percent(double fraction) {
  if (!std::isfinite(fraction)) return "null";
  return absl::StrFormat("%+.2f%%", 100 * fraction);
}

std::string PhasesJson(const std::vector<PhaseError>& phases,
                       const std::string& indent) {
  std::string out = "[";
  for (size_t i = 0; i < phases.size(); ++i) {
    const PhaseError& e = phases[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", indent,
                    "{\"phase\": ", JsonString(e.phase),
                    ", \"predicted_s\": ", Seconds(e.predicted_ns),
                    ", \"measured_s\": ", Seconds(e.measured_ns),
                    ", \"error_fraction\": ", Fixed(e.error_fraction, 6), "}");
  }
  return absl::StrCat(out, "]");
}

std::string CheckJson(const PredictionCheck& c) {
  return absl::StrCat("\"predicted_steps\": [", c.first_step, ", ", c.last_step,
                      "], \"predicted_total_s\": ", Seconds(c.predicted_ns),
                      ", \"measured_total_s\": ", Seconds(c.measured_ns),
                      ", \"error_fraction\": ", Fixed(c.error_fraction, 6));
}

// The validation object of replay.json. The fields it always had keep
// their meaning (predicted_total_s, measured_total_s and phases: the exact
// replay of every step) except error_fraction, which is the held-out error
// (error_fraction_of says so); the exact replay's error is
// exact_replay_error_fraction.
std::string ValidationJson(const Validation& v) {
  std::string out = absl::StrCat(
      "{\"policy\": ", JsonString(v.policy),
      ", \"vote_rule\": ", JsonString(v.vote_rule),
      ", \"network\": ", JsonString(v.network),
      ", \"world_size\": ", v.world_size, ",\n    \"error_fraction\": ",
      v.error_fraction.has_value() ? Fixed(*v.error_fraction, 6) : "null",
      ", \"error_fraction_of\": ",
      v.error_fraction.has_value() ? "\"held_out\"" : "null",
      ", \"exact_replay_error_fraction\": ",
      Fixed(v.exact_replay_error_fraction, 6),
      ",\n    \"predicted_total_s\": ", Seconds(v.predicted_ns),
      ", \"measured_total_s\": ", Seconds(v.measured_ns),
      ", \"schedule_matches\": ", v.schedule_matches ? "true" : "false",
      ",\n    \"phases\": ", PhasesJson(v.phases, "      "));
  absl::StrAppend(&out, ",\n    \"held_out\": ");
  if (v.held_out.has_value()) {
    const HeldOutCheck& h = *v.held_out;
    absl::StrAppend(
        &out, "{\"held_in_fraction\": ", Fixed(v.held_in_fraction, 6),
        ", \"fit_steps\": [", h.fit_first_step, ", ", h.fit_steps - 1,
        "], \"held_in_measured_s\": ", Seconds(h.held_in_measured_ns),
        ", \"step_time_drift_fraction\": ",
        h.step_time_drift_fraction.has_value()
            ? Fixed(*h.step_time_drift_fraction, 6)
            : "null",
        ",\n      ", CheckJson(h),
        ",\n      \"phases\": ", PhasesJson(h.phases, "        "), "}");
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",\n    \"model_only\": ");
  if (v.model_only.has_value()) {
    const ModelOnlyCheck& m = *v.model_only;
    absl::StrAppend(
        &out, "{", CheckJson(m), ", \"overlap\": ", Fixed(m.overlap, 6),
        ",\n      \"run_over_profile\": {\"forward\": ",
        Fixed(m.run_over_profile_forward, 6),
        ", \"backward\": ", Fixed(m.run_over_profile_backward, 6),
        ", \"optimizer\": ", Fixed(m.run_over_profile_optimizer, 6), "}",
        ",\n      \"phases\": ", PhasesJson(m.phases, "        "), "}");
  } else {
    absl::StrAppend(&out, "null");
  }
  std::vector<std::string> notes;
  for (const std::string& n : v.notes) notes.push_back(JsonString(n));
  absl::StrAppend(&out, ",\n    \"notes\": [", absl::StrJoin(notes, ", "),
                  "]}");
  return out;
}

// The validation block of the table: one line per prediction saying what it
// used, then the phases side by side.
std::string FormatValidation(const Validation& v) {
  std::string out = absl::StrFormat(
      "validation: policy %s (rule %s), %d rank(s), network %s: held-out "
      "error %s (replay.json validation.error_fraction; target: within 5%%)"
      "%s\n",
      v.policy, v.vote_rule, v.world_size, v.network,
      v.error_fraction.has_value() ? Percent(*v.error_fraction) : "n/a",
      v.schedule_matches
          ? ""
          : " (the replayed schedule differs from the recorded one!)");
  auto line = [&](const std::string& name, const std::string& what,
                  int64_t predicted, int64_t measured, double error) {
    return absl::StrFormat(
        "  %-12s %-58s predicted %9s s, measured %9s s, error %s\n", name, what,
        Fixed(predicted * 1e-9, 3), Fixed(measured * 1e-9, 3), Percent(error));
  };
  if (v.held_out.has_value()) {
    const HeldOutCheck& h = *v.held_out;
    absl::StrAppend(
        &out, line("held-out",
                   absl::StrFormat("fitted on steps %d-%d, predicts %d-%d:",
                                   h.fit_first_step, h.fit_steps - 1,
                                   h.first_step, h.last_step),
                   h.predicted_ns, h.measured_ns, h.error_fraction));
    if (h.step_time_drift_fraction.has_value()) {
      absl::StrAppend(
          &out, absl::StrFormat(
                    "  %-12s (measured: the predicted steps ran %s against "
                    "fitted steps with the same frozen set, a change no fit "
                    "can know)\n",
                    "", Percent(*h.step_time_drift_fraction)));
    }
  }
  if (v.model_only.has_value()) {
    const ModelOnlyCheck& m = *v.model_only;
    absl::StrAppend(
        &out,
        line("model-only", "start-up profile + network + config, no step:",
             m.predicted_ns, m.measured_ns, m.error_fraction),
        absl::StrFormat(
            "  %-12s (the run measured afterwards against its profile: "
            "forward x%s, backward x%s, optimizer x%s; overlap %s from the "
            "comm mode)\n",
            "", Fixed(m.run_over_profile_forward, 3),
            Fixed(m.run_over_profile_backward, 3),
            Fixed(m.run_over_profile_optimizer, 3), Fixed(m.overlap, 0)));
  }
  absl::StrAppend(
      &out, line("exact replay",
                 "each step's own times and waits (a bookkeeping check):",
                 v.predicted_ns, v.measured_ns, v.exact_replay_error_fraction));
  for (const std::string& n : v.notes) {
    absl::StrAppend(&out, "  note: ", n, "\n");
  }
  // Phases: one group of columns per prediction.
  std::vector<std::pair<std::string, const std::vector<PhaseError>*>> groups;
  if (v.held_out.has_value())
    groups.push_back({"held-out", &v.held_out->phases});
  if (v.model_only.has_value()) {
    groups.push_back({"model-only", &v.model_only->phases});
  }
  groups.push_back({"exact replay", &v.phases});
  std::string head1 = absl::StrFormat("  %-13s", "");
  std::string head2 = absl::StrFormat("  %-13s", "phase");
  for (const auto& [name, phases] : groups) {
    absl::StrAppend(&head1, absl::StrFormat(" | %-29s", name));
    absl::StrAppend(&head2, absl::StrFormat(" | %9s %9s %9s", "predicted",
                                            "measured", "error"));
  }
  absl::StrAppend(&out, head1, "\n", head2, "\n");
  for (size_t i = 0; i < v.phases.size(); ++i) {
    absl::StrAppend(&out, absl::StrFormat("  %-13s", v.phases[i].phase));
    for (const auto& [name, phases] : groups) {
      const PhaseError& e = (*phases)[i];
      absl::StrAppend(&out, absl::StrFormat(" | %9s %9s %9s",
                                            Fixed(e.predicted_ns * 1e-9, 3),
                                            Fixed(e.measured_ns * 1e-9, 3),
                                            Percent(e.error_fraction)));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out,
                  "  (seconds; held-out covers its predicted steps only)\n");
  return out;
}

}  // namespace

std::string DefaultNetworks(const sim::TraceModel& model) {
  return model.world_size > 1 && !model.network_context.recorded.empty()
             ? "recorded"
             : "1gbe";
}

std::string ScheduleText(const sim::FreezeSchedule& schedule,
                         const sim::TraceModel& model) {
  std::vector<std::string> parts;
  for (const sim::ScheduleEvent& e : schedule.events) {
    const std::string mark = e.extrapolated ? "*" : "";
    for (int u : e.freeze) {
      parts.push_back(absl::StrCat(model.units[u].name, "@", e.step, mark));
    }
    for (int u : e.unfreeze) {
      parts.push_back(
          absl::StrCat("-", model.units[u].name, "@", e.step, mark));
    }
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

absl::StatusOr<ReplayReport> RunReplay(const sim::TraceModel& model,
                                       const ReplayOptions& options) {
  ReplayReport report;
  report.trace_path = model.path;
  report.model = model.header.config().model();
  report.recorded_policy = model.policy;
  report.recorded_vote_rule = model.vote_rule;
  report.recorded_world_size = model.world_size;
  report.steps = model.num_steps();
  report.measured_total_ns = model.measured_total_ns;
  report.final_accuracy = model.final_accuracy;
  report.notes = model.notes;

  // Networks, checked against every world size first: bad input fails
  // before any work.
  std::vector<std::unique_ptr<sim::NetworkModel>> networks;
  for (const std::string& spec : options.networks) {
    auto net = sim::MakeNetworkModel(spec, model.network_context);
    if (!net.ok()) return net.status();
    networks.push_back(*std::move(net));
  }
  std::vector<int> world_sizes;
  for (int w : options.world_sizes) {
    world_sizes.push_back(w > 0 ? w : model.world_size);
  }
  for (const auto& net : networks) {
    for (int w : world_sizes) {
      if (absl::Status s = net->CheckWorldSize(w); !s.ok()) return s;
    }
  }

  // Schedules depend only on the policy and rule.
  std::map<std::pair<std::string, std::string>,
           std::shared_ptr<const sim::FreezeSchedule>>
      schedules;
  auto schedule_for = [&](const std::string& spec, const std::string& rule)
      -> absl::StatusOr<std::shared_ptr<const sim::FreezeSchedule>> {
    auto key = std::make_pair(spec, rule);
    auto it = schedules.find(key);
    if (it != schedules.end()) return it->second;
    auto s = sim::ComputeSchedule(model, spec, rule);
    if (!s.ok()) return s.status();
    auto shared = std::make_shared<const sim::FreezeSchedule>(*std::move(s));
    schedules.emplace(key, shared);
    return shared;
  };
  for (const PolicyCase& p : options.policies) {
    auto s = schedule_for(p.spec, p.vote_rule);
    if (!s.ok()) return s.status();
  }
  auto baseline_schedule = schedule_for("none", "");
  if (!baseline_schedule.ok()) return baseline_schedule.status();

  sim::TimingOptions timing;
  timing.cache = options.cache;
  timing.augment_variants = options.augment_variants;
  std::map<std::pair<size_t, int>, int64_t> baseline;
  for (const PolicyCase& p : options.policies) {
    std::shared_ptr<const sim::FreezeSchedule> schedule =
        *schedule_for(p.spec, p.vote_rule);
    for (size_t ni = 0; ni < networks.size(); ++ni) {
      for (int w : world_sizes) {
        auto key = std::make_pair(ni, w);
        if (baseline.count(key) == 0) {
          sim::TimingOptions base_options = timing;
          base_options.world_size = w;
          auto b = sim::SimulateTiming(model, **baseline_schedule,
                                       *networks[ni], base_options);
          if (!b.ok()) return b.status();
          baseline[key] = b->phases.total_ns;
        }
        sim::TimingOptions case_options = timing;
        case_options.world_size = w;
        if (static_cast<int>(report.results.size()) == options.timeline_case) {
          case_options.timeline_steps = options.timeline_steps;
        }
        auto t =
            sim::SimulateTiming(model, *schedule, *networks[ni], case_options);
        if (!t.ok()) {
          return absl::Status(
              t.status().code(),
              absl::StrCat("policy '", p.given, "', network '",
                           networks[ni]->spec(), "', world size ", w, ": ",
                           t.status().message()));
        }
        CaseResult c;
        c.policy = p;
        c.policy_spec = schedule->policy_spec;
        c.vote_rule = schedule->vote_rule;
        c.network = networks[ni]->spec();
        c.world_size = w;
        c.schedule = schedule;
        c.timing = *std::move(t);
        c.baseline_total_ns = baseline[key];
        c.speedup = SafeRatio(c.baseline_total_ns, c.timing.phases.total_ns);
        c.saved_fraction =
            c.baseline_total_ns > 0
                ? 1.0 - SafeRatio(c.timing.phases.total_ns, c.baseline_total_ns)
                : 0.0;
        if (schedule->same_as_recorded && w == model.world_size) {
          c.recorded_accuracy = model.final_accuracy;
        }
        c.notes = c.timing.notes;
        if (schedule->extrapolated_from_step.has_value()) {
          c.notes.push_back(absl::StrCat(
              "extrapolated from step ", *schedule->extrapolated_from_step,
              ": the schedule trains a unit the recorded run had frozen; its ",
              "statistics and timings after that step were never recorded"));
        }
        report.results.push_back(std::move(c));
      }
    }
  }
  if (options.validate) {
    auto v = Validate(model, options.held_in_fraction);
    if (!v.ok()) return v.status();
    report.validation = *std::move(v);
  }
  return report;
}

std::string FormatTable(const ReplayReport& r, const sim::TraceModel& model) {
  std::string out = absl::StrFormat(
      "trace %s: %s, %d rank(s), %d steps, policy %s (rule %s), measured "
      "%s s\n",
      r.trace_path, r.model, r.recorded_world_size, r.steps, r.recorded_policy,
      r.recorded_vote_rule, Fixed(r.measured_total_ns * 1e-9, 3));
  for (const std::string& n : r.notes) absl::StrAppend(&out, "note: ", n, "\n");
  // Column widths from the content (capped), so specs stay readable.
  size_t policy_w = 6, network_w = 7;
  for (const CaseResult& c : r.results) {
    policy_w = std::max(policy_w, std::min<size_t>(40, c.policy.given.size()));
    network_w = std::max(network_w, std::min<size_t>(28, c.network.size()));
  }
  auto cut = [](std::string s, size_t w) {
    return s.size() > w ? s.substr(0, w - 1) + "~" : s;
  };
  auto row = [&](const std::string& policy, const std::string& network,
                 const std::string& world, const std::string& predicted,
                 const std::string& speedup, const std::string& saved,
                 const std::string& exposed, const std::string& gb,
                 const std::string& risk, const std::string& schedule) {
    return absl::StrFormat("%-*s %-*s %6s %11s %8s %7s %10s %9s %7s  %s\n",
                           policy_w, cut(policy, policy_w), network_w,
                           cut(network, network_w), world, predicted, speedup,
                           saved, exposed, gb, risk, schedule);
  };
  absl::StrAppend(&out, "\n",
                  row("policy", "network", "world", "predicted_s", "speedup",
                      "saved", "exposed_s", "GB/rank", "risk",
                      "freeze schedule (unit@step, * extrapolated)"));
  for (const CaseResult& c : r.results) {
    std::string schedule = ScheduleText(*c.schedule, model);
    if (c.schedule->extrapolated_from_step.has_value()) {
      absl::StrAppend(&schedule, "  [extrapolated from step ",
                      *c.schedule->extrapolated_from_step, "]");
    }
    absl::StrAppend(
        &out,
        row(c.policy.given, c.network, absl::StrCat(c.world_size),
            Fixed(c.timing.phases.total_ns * 1e-9, 3), Fixed(c.speedup, 3),
            absl::StrCat(Fixed(100 * c.saved_fraction, 1), "%"),
            Fixed(c.timing.phases.comm_exposed_ns * 1e-9, 3),
            Fixed(static_cast<double>(c.timing.bytes_allreduced) * 1e-9, 3),
            absl::StrCat(Fixed(c.schedule->accuracy_risk, 3),
                         c.schedule->accuracy_risk_partial ? "+" : ""),
            schedule));
  }
  // Notes, each once, with the cases it concerns.
  std::vector<std::string> texts;
  std::map<std::string, std::vector<size_t>> cases_of;
  for (size_t i = 0; i < r.results.size(); ++i) {
    for (const std::string& n : r.results[i].notes) {
      if (cases_of[n].empty()) texts.push_back(n);
      cases_of[n].push_back(i);
    }
  }
  bool any_partial = false;
  for (const CaseResult& c : r.results) {
    any_partial = any_partial || c.schedule->accuracy_risk_partial;
  }
  if (!texts.empty() || any_partial) absl::StrAppend(&out, "\n");
  if (any_partial) {
    absl::StrAppend(&out,
                    "risk+: a lower bound (the schedule froze units in "
                    "intervals where the recorded run had frozen them too: "
                    "their gradient norms were never measured)\n");
  }
  for (const std::string& n : texts) {
    const std::vector<size_t>& ids = cases_of[n];
    std::string list;
    for (size_t k = 0; k < ids.size(); ++k) {
      // Runs of consecutive cases as a-b.
      size_t j = k;
      while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
      absl::StrAppend(&list, list.empty() ? "" : ",", ids[k],
                      j > k ? absl::StrCat("-", ids[j]) : "");
      k = j;
    }
    absl::StrAppend(&out,
                    ids.size() == r.results.size()
                        ? "all cases"
                        : absl::StrCat("cases ", list),
                    ": ", n, "\n");
  }
  if (r.validation.has_value()) {
    absl::StrAppend(&out, "\n", FormatValidation(*r.validation));
  }
  return out;
}

std::string ToJson(const ReplayReport& r, const sim::TraceModel& model) {
  std::string out = "{\n";
  absl::StrAppend(
      &out, "  \"trace\": {\"path\": ", JsonString(r.trace_path),
      ", \"model\": ", JsonString(r.model),
      ", \"policy\": ", JsonString(r.recorded_policy),
      ", \"vote_rule\": ", JsonString(r.recorded_vote_rule),
      ", \"world_size\": ", r.recorded_world_size, ", \"steps\": ", r.steps,
      ", \"measured_total_s\": ", Seconds(r.measured_total_ns),
      ", \"final_test_accuracy\": ",
      r.final_accuracy.has_value() ? Fixed(*r.final_accuracy, 6) : "null",
      "},\n");
  std::vector<std::string> notes;
  for (const std::string& n : r.notes) notes.push_back(JsonString(n));
  absl::StrAppend(&out, "  \"notes\": [", absl::StrJoin(notes, ", "), "],\n");
  absl::StrAppend(&out, "  \"results\": [");
  for (size_t i = 0; i < r.results.size(); ++i) {
    const CaseResult& c = r.results[i];
    const sim::PhaseTotals& p = c.timing.phases;
    const sim::FreezeSchedule& s = *c.schedule;
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {");
    absl::StrAppend(&out, "\"policy\": ", JsonString(c.policy.given),
                    ", \"policy_spec\": ", JsonString(c.policy_spec),
                    ", \"vote_rule\": ", JsonString(c.vote_rule),
                    ", \"network\": ", JsonString(c.network),
                    ", \"world_size\": ", c.world_size, ",\n");
    absl::StrAppend(&out, "     \"predicted_total_s\": ", Seconds(p.total_ns),
                    ", \"baseline_total_s\": ", Seconds(c.baseline_total_ns),
                    ", \"speedup\": ", Fixed(c.speedup, 6),
                    ", \"saved_fraction\": ", Fixed(c.saved_fraction, 6),
                    ",\n");
    absl::StrAppend(&out, "     \"phases_s\": {\"data\": ", Seconds(p.data_ns),
                    ", \"forward\": ", Seconds(p.forward_ns),
                    ", \"backward\": ", Seconds(p.backward_ns),
                    ", \"comm_exposed\": ", Seconds(p.comm_exposed_ns),
                    ", \"comm_total\": ", Seconds(p.comm_total_ns),
                    ", \"optimizer\": ", Seconds(p.optimizer_ns),
                    ", \"stats\": ", Seconds(p.stats_ns),
                    ", \"other\": ", Seconds(p.other_ns), "},\n");
    absl::StrAppend(
        &out, "     \"comm_exposed_s\": ", Seconds(p.comm_exposed_ns),
        ", \"bytes_allreduced_per_rank\": ", c.timing.bytes_allreduced,
        ", \"accuracy_risk\": ", Fixed(s.accuracy_risk, 6),
        ", \"accuracy_risk_partial\": ",
        s.accuracy_risk_partial ? "true" : "false", ", \"recorded_accuracy\": ",
        c.recorded_accuracy.has_value() ? Fixed(*c.recorded_accuracy, 6)
                                        : "null",
        ",\n");
    absl::StrAppend(&out, "     \"extrapolated_from_step\": ",
                    s.extrapolated_from_step.has_value()
                        ? absl::StrCat(*s.extrapolated_from_step)
                        : "null",
                    ", \"same_schedule_as_recorded\": ",
                    s.same_as_recorded ? "true" : "false", ",\n");
    const int64_t compute = c.timing.cost_by_source[0] +
                            c.timing.cost_by_source[1] +
                            c.timing.cost_by_source[2];
    absl::StrAppend(&out, "     \"unit_compute_sources\": {\"same_step\": ",
                    Fixed(SafeRatio(c.timing.cost_by_source[0], compute), 6),
                    ", \"other_steps\": ",
                    Fixed(SafeRatio(c.timing.cost_by_source[1], compute), 6),
                    ", \"profile\": ",
                    Fixed(SafeRatio(c.timing.cost_by_source[2], compute), 6),
                    "},\n");
    if (c.timing.cache_ns > 0 || c.timing.cache_hit_share > 0) {
      absl::StrAppend(&out, "     \"cache\": {\"mean_hit_share\": ",
                      Fixed(c.timing.cache_hit_share, 6),
                      ", \"read_write_s\": ", Seconds(c.timing.cache_ns),
                      "},\n");
    }
    absl::StrAppend(&out, "     \"freeze_schedule\": [");
    for (size_t e = 0; e < s.events.size(); ++e) {
      const sim::ScheduleEvent& ev = s.events[e];
      absl::StrAppend(
          &out, e == 0 ? "" : ", ", "{\"step\": ", ev.step,
          ", \"epoch\": ", ev.epoch,
          ", \"freeze\": ", UnitNames(ev.freeze, model),
          ", \"unfreeze\": ", UnitNames(ev.unfreeze, model),
          ", \"extrapolated\": ", ev.extrapolated ? "true" : "false", "}");
    }
    absl::StrAppend(&out, "],\n");
    std::vector<std::string> cn;
    for (const std::string& n : c.notes) cn.push_back(JsonString(n));
    absl::StrAppend(&out, "     \"notes\": [", absl::StrJoin(cn, ", "), "]}");
  }
  absl::StrAppend(&out, r.results.empty() ? "]" : "\n  ]");
  if (r.validation.has_value()) {
    absl::StrAppend(&out,
                    ",\n  \"validation\": ", ValidationJson(*r.validation));
  }
  absl::StrAppend(&out, "\n}\n");
  return out;
}

std::vector<std::string> CsvHeader() {
  return {"policy",
          "policy_spec",
          "vote_rule",
          "network",
          "world_size",
          "predicted_total_ns",
          "baseline_total_ns",
          "speedup",
          "saved_fraction",
          "data_ns",
          "forward_ns",
          "backward_ns",
          "comm_exposed_ns",
          "comm_total_ns",
          "optimizer_ns",
          "stats_ns",
          "other_ns",
          "bytes_allreduced_per_rank",
          "accuracy_risk",
          "accuracy_risk_partial",
          "recorded_accuracy",
          "extrapolated_from_step",
          "freeze_schedule"};
}

std::string ToCsv(const ReplayReport& r, const sim::TraceModel& model) {
  std::string out = absl::StrCat(absl::StrJoin(CsvHeader(), ","), "\n");
  for (const CaseResult& c : r.results) {
    const sim::PhaseTotals& p = c.timing.phases;
    const sim::FreezeSchedule& s = *c.schedule;
    std::vector<std::string> f = {
        CsvField(c.policy.given),
        CsvField(c.policy_spec),
        c.vote_rule,
        CsvField(c.network),
        absl::StrCat(c.world_size),
        absl::StrCat(p.total_ns),
        absl::StrCat(c.baseline_total_ns),
        Exact(c.speedup),
        Exact(c.saved_fraction),
        absl::StrCat(p.data_ns),
        absl::StrCat(p.forward_ns),
        absl::StrCat(p.backward_ns),
        absl::StrCat(p.comm_exposed_ns),
        absl::StrCat(p.comm_total_ns),
        absl::StrCat(p.optimizer_ns),
        absl::StrCat(p.stats_ns),
        absl::StrCat(p.other_ns),
        absl::StrCat(c.timing.bytes_allreduced),
        Exact(s.accuracy_risk),
        s.accuracy_risk_partial ? "true" : "false",
        c.recorded_accuracy.has_value() ? Exact(*c.recorded_accuracy) : "",
        s.extrapolated_from_step.has_value()
            ? absl::StrCat(*s.extrapolated_from_step)
            : "",
        CsvField(ScheduleText(s, model))};
    absl::StrAppend(&out, absl::StrJoin(f, ","), "\n");
  }
  return out;
}

}  // namespace freezing::replay
