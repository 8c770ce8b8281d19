#include "replay/replay.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "sim/network.h"

namespace freezing::replay {
namespace {

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

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

using Span = base::JsonWriter::Span;

// SecondsField: `key` and integer nanoseconds as seconds, exactly (nine
// decimals).
void SecondsField(base::JsonWriter& w, absl::string_view key, int64_t ns) {
  w.Key(key).Decimal(ns, 9);
}

// FractionField: `key` and a fraction or ratio; six decimals, null when not
// finite or absent.
void FractionField(base::JsonWriter& w, absl::string_view key,
                   std::optional<double> v) {
  w.Key(key);
  v.has_value() ? w.Fixed(*v, 6) : w.Null();
}

void WriteUnitNames(base::JsonWriter& w, const std::vector<int>& units,
                    const sim::CostModel& model) {
  w.BeginArray(Span::kOneLine);
  for (int u : units) w.String(model.run().units[u].name);
  w.EndArray();
}

double SafeRatio(int64_t a, int64_t b) {
  return b != 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
}

std::string Percent(double fraction) {
  if (!std::isfinite(fraction)) return "null";
  return absl::StrFormat("%+.2f%%", 100 * fraction);
}

void WritePhases(base::JsonWriter& w, const std::vector<PhaseError>& phases) {
  w.BeginArray();
  for (const PhaseError& e : phases) {
    w.BeginObject(Span::kOneLine);
    w.Key("phase").String(e.phase);
    SecondsField(w, "predicted_s", e.predicted_ns);
    SecondsField(w, "measured_s", e.measured_ns);
    FractionField(w, "error_fraction", e.error_fraction);
    w.EndObject();
  }
  w.EndArray();
}

// The members every prediction has, into the current object.
void WriteCheck(base::JsonWriter& w, const PredictionCheck& c) {
  w.Key("predicted_steps").BeginArray(Span::kOneLine);
  w.Int(c.first_step).Int(c.last_step).EndArray();
  SecondsField(w, "predicted_total_s", c.predicted_ns);
  SecondsField(w, "measured_total_s", c.measured_ns);
  FractionField(w, "error_fraction", c.error_fraction);
}

void WriteHeldOut(base::JsonWriter& w, const HeldOutCheck& h,
                  double held_in_fraction) {
  w.BeginObject();
  FractionField(w, "held_in_fraction", held_in_fraction);
  w.Key("fit_steps").BeginArray(Span::kOneLine);
  w.Int(h.fit_first_step).Int(h.fit_steps - 1).EndArray();
  SecondsField(w, "held_in_measured_s", h.held_in_measured_ns);
  FractionField(w, "step_time_drift_fraction", h.step_time_drift_fraction);
  WriteCheck(w, h);
  w.Key("phases");
  WritePhases(w, h.phases);
  w.EndObject();
}

void WriteModelOnly(base::JsonWriter& w, const ModelOnlyCheck& m) {
  w.BeginObject();
  WriteCheck(w, m);
  FractionField(w, "overlap", m.overlap);
  w.Key("run_over_profile").BeginObject(Span::kOneLine);
  FractionField(w, "forward", m.run_over_profile_forward);
  FractionField(w, "backward", m.run_over_profile_backward);
  FractionField(w, "optimizer", m.run_over_profile_optimizer);
  w.EndObject();
  w.Key("phases");
  WritePhases(w, m.phases);
  w.EndObject();
}

void WriteNotes(base::JsonWriter& w, const std::vector<std::string>& notes) {
  w.BeginArray();
  for (const std::string& n : notes) w.String(n);
  w.EndArray();
}

// The validation object of replay.json. The fields it always had keep
// their meaning (predicted_total_s, measured_total_s and phases: the exact
// replay of every step) except error_fraction, which is the held-out error
// (error_fraction_of says so); the exact replay's error is
// exact_replay_error_fraction.
void WriteValidation(base::JsonWriter& w, const Validation& v) {
  w.BeginObject();
  w.Key("policy").String(v.policy);
  w.Key("vote_rule").String(v.vote_rule);
  w.Key("network").String(v.network);
  w.Key("world_size").Int(v.world_size);
  FractionField(w, "error_fraction", v.error_fraction);
  w.Key("error_fraction_of");
  v.error_fraction.has_value() ? w.String("held_out") : w.Null();
  FractionField(w, "exact_replay_error_fraction",
                v.exact_replay_error_fraction);
  SecondsField(w, "predicted_total_s", v.predicted_ns);
  SecondsField(w, "measured_total_s", v.measured_ns);
  w.Key("schedule_matches").Bool(v.schedule_matches);
  w.Key("phases");
  WritePhases(w, v.phases);
  w.Key("held_out");
  if (v.held_out.has_value()) {
    WriteHeldOut(w, *v.held_out, v.held_in_fraction);
  } else {
    w.Null();
  }
  w.Key("model_only");
  if (v.model_only.has_value()) {
    WriteModelOnly(w, *v.model_only);
  } else {
    w.Null();
  }
  w.Key("notes");
  WriteNotes(w, v.notes);
  w.EndObject();
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

std::string DefaultNetworks(const sim::CostModel& model) {
  return model.run().world_size > 1 && !model.network_context().recorded.empty()
             ? "recorded"
             : "1gbe";
}

std::string ScheduleText(const sim::FreezeSchedule& schedule,
                         const sim::CostModel& model) {
  std::vector<std::string> parts;
  for (const sim::ScheduleEvent& e : schedule.events) {
    const std::string mark = e.extrapolated ? "*" : "";
    for (int u : e.freeze) {
      parts.push_back(
          absl::StrCat(model.run().units[u].name, "@", e.step, mark));
    }
    for (int u : e.unfreeze) {
      parts.push_back(
          absl::StrCat("-", model.run().units[u].name, "@", e.step, mark));
    }
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

absl::StatusOr<ReplayReport> RunReplay(const sim::CostModel& model,
                                       const ReplayOptions& options) {
  ReplayReport report;
  report.trace_path = model.run().path;
  report.model = model.run().header.config().model();
  report.recorded_policy = model.run().policy;
  report.recorded_vote_rule = model.run().vote_rule;
  report.recorded_world_size = model.run().world_size;
  report.steps = model.run().num_steps();
  report.measured_total_ns = model.run().measured_total_ns;
  report.final_accuracy = model.run().final_accuracy;
  report.notes = model.run().notes;

  // Networks, checked against every world size first: bad input fails
  // before any work.
  std::vector<std::unique_ptr<sim::NetworkModel>> networks;
  for (const std::string& spec : options.networks) {
    auto net = sim::MakeNetworkModel(spec, model.network_context());
    if (!net.ok()) return net.status();
    networks.push_back(*std::move(net));
  }
  std::vector<int> world_sizes;
  for (int w : options.world_sizes) {
    world_sizes.push_back(w > 0 ? w : model.run().world_size);
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
    auto s = sim::ComputeSchedule(model.run(), spec, rule);
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
        if (schedule->same_as_recorded && w == model.run().world_size) {
          c.recorded_accuracy = model.run().final_accuracy;
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

std::string FormatTable(const ReplayReport& r, const sim::CostModel& model) {
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

namespace {

// One element of replay.json's results.
void WriteCase(base::JsonWriter& w, const CaseResult& c,
               const sim::CostModel& model) {
  const sim::PhaseTotals& p = c.timing.phases;
  const sim::FreezeSchedule& s = *c.schedule;
  w.BeginObject();
  w.Key("policy").String(c.policy.given);
  w.Key("policy_spec").String(c.policy_spec);
  w.Key("vote_rule").String(c.vote_rule);
  w.Key("network").String(c.network);
  w.Key("world_size").Int(c.world_size);
  SecondsField(w, "predicted_total_s", p.total_ns);
  SecondsField(w, "baseline_total_s", c.baseline_total_ns);
  FractionField(w, "speedup", c.speedup);
  FractionField(w, "saved_fraction", c.saved_fraction);
  w.Key("phases_s").BeginObject(Span::kOneLine);
  SecondsField(w, "data", p.data_ns);
  SecondsField(w, "forward", p.forward_ns);
  SecondsField(w, "backward", p.backward_ns);
  SecondsField(w, "comm_exposed", p.comm_exposed_ns);
  SecondsField(w, "comm_total", p.comm_total_ns);
  SecondsField(w, "optimizer", p.optimizer_ns);
  SecondsField(w, "stats", p.stats_ns);
  SecondsField(w, "other", p.other_ns);
  w.EndObject();
  SecondsField(w, "comm_exposed_s", p.comm_exposed_ns);
  w.Key("bytes_allreduced_per_rank").Int(c.timing.bytes_allreduced);
  FractionField(w, "accuracy_risk", s.accuracy_risk);
  w.Key("accuracy_risk_partial").Bool(s.accuracy_risk_partial);
  FractionField(w, "recorded_accuracy", c.recorded_accuracy);
  w.Key("extrapolated_from_step");
  s.extrapolated_from_step.has_value() ? w.Int(*s.extrapolated_from_step)
                                       : w.Null();
  w.Key("same_schedule_as_recorded").Bool(s.same_as_recorded);
  const auto& by_source = c.timing.cost_by_source;
  const int64_t compute = by_source[0] + by_source[1] + by_source[2];
  w.Key("unit_compute_sources").BeginObject(Span::kOneLine);
  FractionField(w, "same_step", SafeRatio(by_source[0], compute));
  FractionField(w, "other_steps", SafeRatio(by_source[1], compute));
  FractionField(w, "profile", SafeRatio(by_source[2], compute));
  w.EndObject();
  if (c.timing.cache_ns > 0 || c.timing.cache_hit_share > 0) {
    w.Key("cache").BeginObject(Span::kOneLine);
    FractionField(w, "mean_hit_share", c.timing.cache_hit_share);
    SecondsField(w, "read_write_s", c.timing.cache_ns);
    w.EndObject();
  }
  w.Key("freeze_schedule").BeginArray();
  for (const sim::ScheduleEvent& ev : s.events) {
    w.BeginObject(Span::kOneLine);
    w.Key("step").Int(ev.step);
    w.Key("epoch").Int(ev.epoch);
    w.Key("freeze");
    WriteUnitNames(w, ev.freeze, model);
    w.Key("unfreeze");
    WriteUnitNames(w, ev.unfreeze, model);
    w.Key("extrapolated").Bool(ev.extrapolated);
    w.EndObject();
  }
  w.EndArray();
  w.Key("notes");
  WriteNotes(w, c.notes);
  w.EndObject();
}

}  // namespace

std::string ToJson(const ReplayReport& r, const sim::CostModel& model) {
  base::JsonWriter w(base::JsonWriter::Layout::kPretty);
  w.BeginObject();
  w.Key("trace").BeginObject(Span::kOneLine);
  w.Key("path").String(r.trace_path);
  w.Key("model").String(r.model);
  w.Key("policy").String(r.recorded_policy);
  w.Key("vote_rule").String(r.recorded_vote_rule);
  w.Key("world_size").Int(r.recorded_world_size);
  w.Key("steps").Int(r.steps);
  SecondsField(w, "measured_total_s", r.measured_total_ns);
  FractionField(w, "final_test_accuracy", r.final_accuracy);
  w.EndObject();
  w.Key("notes");
  WriteNotes(w, r.notes);
  w.Key("results").BeginArray();
  for (const CaseResult& c : r.results) WriteCase(w, c, model);
  w.EndArray();
  if (r.validation.has_value()) {
    w.Key("validation");
    WriteValidation(w, *r.validation);
  }
  w.EndObject();
  return w.TakeText();
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

std::string ToCsv(const ReplayReport& r, const sim::CostModel& model) {
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
