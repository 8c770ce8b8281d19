// The reports of a replay: the table for people, replay.json and
// replay.csv (the golden format). Times are seconds in every report; the
// JSON and CSV print them exactly from integer nanoseconds (nine decimals).
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
#include "replay/replay.h"
#include "sim/network.h"
#include "sim/step_map.h"

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

// IntervalField: `key` and [low, high] in seconds.
void IntervalField(base::JsonWriter& w, absl::string_view key,
                   const sim::PredictionInterval& i) {
  w.Key(key).BeginArray(Span::kOneLine);
  w.Decimal(i.low_ns, 9).Decimal(i.high_ns, 9).EndArray();
}

// What an interval is made of (log-scale standard deviations).
void SpreadField(base::JsonWriter& w, const sim::PredictionInterval& i) {
  w.Key("interval_spread").BeginObject(Span::kOneLine);
  FractionField(w, "level", i.spread.level);
  FractionField(w, "model", i.spread.model);
  FractionField(w, "profile", i.spread.profile);
  FractionField(w, "schedule", i.spread.schedule);
  w.EndObject();
}

// The members every prediction has, into the current object.
void WriteCheck(base::JsonWriter& w, const PredictionCheck& c) {
  w.Key("predicted_steps").BeginArray(Span::kOneLine);
  w.Int(c.first_step).Int(c.last_step).EndArray();
  SecondsField(w, "predicted_total_s", c.predicted_ns);
  IntervalField(w, "predicted_interval_s", c.interval);
  SecondsField(w, "measured_total_s", c.measured_ns);
  w.Key("measured_inside").Bool(c.inside);
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
  IntervalField(w, "predicted_interval_s", v.interval);
  SecondsField(w, "measured_total_s", v.measured_ns);
  w.Key("measured_inside").Bool(v.inside);
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

std::string IntervalText(const sim::PredictionInterval& i) {
  return absl::StrCat("[", Fixed(i.low_ns * 1e-9, 3), ", ",
                      Fixed(i.high_ns * 1e-9, 3), "]");
}

// One prediction's line of the validation block, and its interval's.
std::string CheckLines(const std::string& name, const std::string& what,
                       int64_t predicted, int64_t measured, double error,
                       const sim::PredictionInterval& interval, bool inside) {
  return absl::StrFormat(
      "  %-12s %-58s predicted %9s s, measured %9s s, error %s\n"
      "  %-12s 90%% interval %s s: measured %s\n",
      name, what, Fixed(predicted * 1e-9, 3), Fixed(measured * 1e-9, 3),
      Percent(error), "", IntervalText(interval),
      inside ? "inside" : "OUTSIDE");
}

// The phases of the validation block side by side, one group of columns
// per prediction.
std::string ValidationPhases(const Validation& v) {
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
  std::string out = absl::StrCat(head1, "\n", head2, "\n");
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
  return out;
}

// The validation block of the table: two lines per prediction saying what
// it used, its error and whether the measured total was in its interval,
// then the phases side by side.
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
  if (v.held_out.has_value()) {
    const HeldOutCheck& h = *v.held_out;
    absl::StrAppend(
        &out,
        CheckLines("held-out",
                   absl::StrFormat("fitted on steps %d-%d, predicts %d-%d:",
                                   h.fit_first_step, h.fit_steps - 1,
                                   h.first_step, h.last_step),
                   h.predicted_ns, h.measured_ns, h.error_fraction, h.interval,
                   h.inside));
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
        CheckLines(
            "model-only",
            "start-up profile + network + config, no step:", m.predicted_ns,
            m.measured_ns, m.error_fraction, m.interval, m.inside),
        absl::StrFormat(
            "  %-12s (the run measured afterwards against its profile: "
            "forward x%s, backward x%s, optimizer x%s; overlap %s from the "
            "comm mode)\n",
            "", Fixed(m.run_over_profile_forward, 3),
            Fixed(m.run_over_profile_backward, 3),
            Fixed(m.run_over_profile_optimizer, 3), Fixed(m.overlap, 0)));
  }
  absl::StrAppend(
      &out, CheckLines("exact replay",
                       "each step's own times and waits (a bookkeeping check):",
                       v.predicted_ns, v.measured_ns,
                       v.exact_replay_error_fraction, v.interval, v.inside));
  for (const std::string& n : v.notes) {
    absl::StrAppend(&out, "  note: ", n, "\n");
  }
  absl::StrAppend(&out, ValidationPhases(v),
                  "  (seconds; held-out covers its predicted steps only)\n");
  return out;
}

// A risk for people: three decimals, '+' for a lower bound, n/a when not
// measured.
std::string RiskText(const sim::FreezeSchedule& s) {
  if (!s.accuracy_risk.has_value()) return "n/a";
  return absl::StrCat(Fixed(*s.accuracy_risk, 3),
                      s.accuracy_risk_partial ? "+" : "");
}

// Integer nanoseconds as exact seconds (nine decimals), for the CSV.
std::string SecondsText(int64_t ns) {
  const uint64_t a = ns < 0 ? -static_cast<uint64_t>(ns) : ns;
  return absl::StrFormat("%s%d.%09d", ns < 0 ? "-" : "", a / 1000000000,
                         a % 1000000000);
}

// The case's schedule with its marks, for the table.
std::string MarkedSchedule(const CaseResult& c, const sim::CostModel& model) {
  std::string schedule = ScheduleText(*c.schedule, model);
  if (c.schedule->extrapolated_from_step.has_value()) {
    absl::StrAppend(&schedule, "  [extrapolated from step ",
                    *c.schedule->extrapolated_from_step, "]");
  }
  if (c.schedule->statistics_assumed) {
    absl::StrAppend(&schedule, "  [statistics assumed]");
  }
  return schedule;
}

// The table of cases, one row each.
std::string CaseRows(const ReplayReport& r, const sim::CostModel& model) {
  // Column widths from the content (capped), so specs stay readable.
  size_t policy_w = 6, network_w = 7;
  for (const CaseResult& c : r.results) {
    policy_w = std::max(policy_w, std::min<size_t>(40, c.policy.given.size()));
    network_w = std::max(network_w, std::min<size_t>(28, c.network.size()));
  }
  auto cut = [](std::string s, size_t w) {
    return s.size() > w ? s.substr(0, w - 1) + "~" : s;
  };
  auto row = [&](const std::vector<std::string>& f) {
    return absl::StrFormat(
        "%-*s %-*s %5s %-10s %11s %-17s %8s %7s %10s %9s %7s  %s\n", policy_w,
        cut(f[0], policy_w), network_w, cut(f[1], network_w), f[2], f[3], f[4],
        f[5], f[6], f[7], f[8], f[9], f[10], f[11]);
  };
  std::string out =
      row({"policy", "network", "world", "scaling", "predicted_s",
           "90% interval s", "speedup", "saved", "exposed_s", "GB/rank", "risk",
           "freeze schedule (unit@step, * extrapolated)"});
  for (const CaseResult& c : r.results) {
    absl::StrAppend(
        &out,
        row({c.policy.given, c.network, absl::StrCat(c.world_size),
             sim::ScalingName(c.schedule->steps.scaling),
             Fixed(c.timing.phases.total_ns * 1e-9, 3),
             IntervalText(c.interval), Fixed(c.speedup, 3),
             absl::StrCat(Fixed(100 * c.saved_fraction, 1), "%"),
             Fixed(c.timing.phases.comm_exposed_ns * 1e-9, 3),
             Fixed(static_cast<double>(c.timing.bytes_allreduced) * 1e-9, 3),
             RiskText(*c.schedule), MarkedSchedule(c, model)}));
  }
  return out;
}

// Notes, each once, with the cases it concerns (runs of cases as a-b).
std::string CaseNotesText(const ReplayReport& r) {
  std::vector<std::string> texts;
  std::map<std::string, std::vector<size_t>> cases_of;
  for (size_t i = 0; i < r.results.size(); ++i) {
    for (const std::string& n : r.results[i].notes) {
      if (cases_of[n].empty()) texts.push_back(n);
      cases_of[n].push_back(i);
    }
  }
  std::string out;
  for (const std::string& n : texts) {
    const std::vector<size_t>& ids = cases_of[n];
    std::string list;
    for (size_t k = 0; k < ids.size(); ++k) {
      size_t j = k;
      while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
      absl::StrAppend(&list, list.empty() ? "" : ",", ids[k],
                      j > k ? absl::StrCat("-", ids[j]) : "");
      k = j;
    }
    absl::StrAppend(&out,
                    ids.size() == r.results.size() ? "all cases"
                    : ids.size() == 1              ? absl::StrCat("case ", list)
                                      : absl::StrCat("cases ", list),
                    ": ", n, "\n");
  }
  return out;
}

// What the risk column means, printed under every table.
std::string RiskLegend(const ReplayReport& r) {
  return absl::StrCat(
      "risk: the share of the recorded accumulated gradient norm the ",
      "schedule discarded (proxy ", r.risk_proxy,
      ", sim/accuracy_risk.h): 0 nothing frozen, 1 everything; a proxy for ",
      "the accuracy a policy costs, not a prediction of it (its validation ",
      "against measured drops: docs/RESULTS.md). '+': a lower bound (units ",
      "frozen where the recorded run never measured them); n/a: nothing it ",
      "froze was measured.\n",
      "interval: central 90% of the predicted total, from the trace's step ",
      "variability, the profile's calibration residuals and extrapolation ",
      "(sim/prediction_interval.h); not covering the network or world size ",
      "assumed.\n");
}

std::string CaseLine(const CaseResult& c) {
  return absl::StrFormat(
      "%s saves %s%% (predicted %s s, 90%% interval %s s), risk %s",
      c.policy.given, Fixed(100 * c.saved_fraction, 1),
      Fixed(c.timing.phases.total_ns * 1e-9, 3), IntervalText(c.interval),
      RiskText(*c.schedule));
}

// After the table: per network × world size, the policy that saves most,
// the one that saves most under the risk cap, and with --recommend the
// Pareto front.
std::string SummaryText(const ReplayReport& r) {
  std::string out;
  for (const GroupSummary& g : r.summaries) {
    absl::StrAppendFormat(&out, "summary, network %s, %d rank(s):\n", g.network,
                          g.world_size);
    if (g.most_saved.has_value()) {
      absl::StrAppend(&out, "  saves most:        ",
                      CaseLine(r.results[*g.most_saved]), "\n");
    }
    absl::StrAppend(
        &out, absl::StrFormat("  best with risk <= %s: ", Fixed(r.max_risk, 2)),
        g.under_cap.has_value()
            ? CaseLine(r.results[*g.under_cap])
            : "none (no replayed policy has a measured risk "
              "under the cap)",
        "\n");
    if (!r.recommend) continue;
    absl::StrAppend(&out, "  Pareto front (saved vs risk):");
    for (size_t i : g.pareto) {
      const CaseResult& c = r.results[i];
      absl::StrAppend(&out, " ", c.policy.given, " ",
                      Fixed(100 * c.saved_fraction, 1), "%/",
                      RiskText(*c.schedule));
    }
    absl::StrAppend(&out, "\n  recommended: ",
                    g.under_cap.has_value()
                        ? r.results[*g.under_cap].policy.given
                        : "none under the cap",
                    "\n");
  }
  return out;
}

// The options the table was made with, when they are not the defaults.
std::string OptionsLine(const ReplayReport& r) {
  std::string out = absl::StrCat(
      "scaling ", sim::ScalingName(r.scaling), ", policy intervals in ",
      sim::IntervalUnitName(r.interval_in), ", risk proxy ", r.risk_proxy);
  for (const sim::Straggler& s : r.skew.stragglers) {
    absl::StrAppend(&out, ", rank ", s.rank, " computes x", s.factor);
  }
  if (r.skew.jitter > 0) {
    absl::StrAppend(&out, ", jitter ", r.skew.jitter, " (seed ", r.skew.seed,
                    ")");
  }
  if (r.shared_cores > 0) {
    absl::StrAppend(&out, ", every rank on one machine of ", r.shared_cores,
                    " cores (emulated hosts)");
  }
  if (r.fold_frozen.has_value() && *r.fold_frozen != r.recorded_fold_frozen) {
    absl::StrAppend(&out, *r.fold_frozen
                              ? ", frozen prefix folded (recorded: not)"
                              : ", frozen prefix not folded (recorded: folded)");
  }
  return absl::StrCat(out, "\n");
}

}  // namespace

std::string FormatTable(const ReplayReport& r, const sim::CostModel& model) {
  std::string out = absl::StrFormat(
      "trace %s: %s, %d rank(s), %d steps, policy %s (rule %s), measured "
      "%s s\n",
      r.trace_path, r.model, r.recorded_world_size, r.steps, r.recorded_policy,
      r.recorded_vote_rule, Fixed(r.measured_total_ns * 1e-9, 3));
  for (const std::string& n : r.notes) absl::StrAppend(&out, "note: ", n, "\n");
  absl::StrAppend(&out, OptionsLine(r), "\n", CaseRows(r, model), "\n",
                  RiskLegend(r));
  const std::string notes = CaseNotesText(r);
  if (!notes.empty()) absl::StrAppend(&out, "\n", notes);
  absl::StrAppend(&out, "\n", SummaryText(r));
  if (r.validation.has_value()) {
    absl::StrAppend(&out, "\n", FormatValidation(*r.validation));
  }
  return out;
}

namespace {

void WriteRisks(base::JsonWriter& w, const sim::FreezeSchedule& s) {
  FractionField(w, "accuracy_risk", s.accuracy_risk);
  w.Key("accuracy_risk_partial").Bool(s.accuracy_risk_partial);
  w.Key("accuracy_risk_proxy").String(s.accuracy_risk_proxy);
  w.Key("accuracy_risks").BeginObject(Span::kOneLine);
  for (int p = 0; p < sim::kRiskProxies; ++p) {
    FractionField(w, sim::RiskProxyName(static_cast<sim::RiskProxy>(p)),
                  s.accuracy_risks[p].value);
  }
  w.EndObject();
}

void WriteSchedule(base::JsonWriter& w, const sim::FreezeSchedule& s,
                   const sim::CostModel& model) {
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
}

void WritePhaseTotals(base::JsonWriter& w, const sim::PhaseTotals& p) {
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
}

void OptionalInt(base::JsonWriter& w, absl::string_view key,
                 std::optional<int64_t> v) {
  w.Key(key);
  v.has_value() ? w.Int(*v) : w.Null();
}

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
  w.Key("scaling").String(sim::ScalingName(s.steps.scaling));
  w.Key("interval_in").String(sim::IntervalUnitName(s.steps.interval_in));
  w.Key("steps").Int(s.steps.num_steps());
  w.Key("global_batch").Int(s.steps.global_batch);
  SecondsField(w, "predicted_total_s", p.total_ns);
  IntervalField(w, "predicted_interval_s", c.interval);
  SpreadField(w, c.interval);
  SecondsField(w, "baseline_total_s", c.baseline_total_ns);
  FractionField(w, "speedup", c.speedup);
  FractionField(w, "saved_fraction", c.saved_fraction);
  WritePhaseTotals(w, p);
  SecondsField(w, "comm_exposed_s", p.comm_exposed_ns);
  w.Key("bytes_allreduced_per_rank").Int(c.timing.bytes_allreduced);
  WriteRisks(w, s);
  FractionField(w, "recorded_accuracy", c.recorded_accuracy);
  OptionalInt(w, "extrapolated_from_step", s.extrapolated_from_step);
  OptionalInt(w, "trains_recorded_frozen_from_step",
              s.trains_recorded_frozen_from_step);
  w.Key("statistics_assumed").Bool(s.statistics_assumed);
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
  WriteSchedule(w, s, model);
  w.Key("notes");
  WriteNotes(w, c.notes);
  w.EndObject();
}

// A case in the summaries (under `key`, or as an array element when it is
// empty): its index and what a reader needs.
void WriteCaseRef(base::JsonWriter& w, absl::string_view key,
                  const ReplayReport& r, std::optional<size_t> i) {
  if (!key.empty()) w.Key(key);
  if (!i.has_value()) {
    w.Null();
    return;
  }
  const CaseResult& c = r.results[*i];
  w.BeginObject(Span::kOneLine);
  w.Key("case").Int(static_cast<int64_t>(*i));
  w.Key("policy").String(c.policy.given);
  SecondsField(w, "predicted_total_s", c.timing.phases.total_ns);
  IntervalField(w, "predicted_interval_s", c.interval);
  FractionField(w, "saved_fraction", c.saved_fraction);
  FractionField(w, "accuracy_risk", c.schedule->accuracy_risk);
  w.Key("accuracy_risk_partial").Bool(c.schedule->accuracy_risk_partial);
  w.EndObject();
}

// summary (always), and pareto and recommended (with --recommend), one
// element per network × world size.
void WriteSummaries(base::JsonWriter& w, const ReplayReport& r) {
  w.Key("summary").BeginArray();
  for (const GroupSummary& g : r.summaries) {
    w.BeginObject();
    w.Key("network").String(g.network);
    w.Key("world_size").Int(g.world_size);
    WriteCaseRef(w, "saves_most", r, g.most_saved);
    WriteCaseRef(w, "best_under_max_risk", r, g.under_cap);
    w.EndObject();
  }
  w.EndArray();
  if (!r.recommend) return;
  w.Key("pareto").BeginArray();
  for (const GroupSummary& g : r.summaries) {
    w.BeginObject();
    w.Key("network").String(g.network);
    w.Key("world_size").Int(g.world_size);
    w.Key("front").BeginArray();
    for (size_t i : g.pareto) WriteCaseRef(w, "", r, i);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("recommended").BeginArray();
  for (const GroupSummary& g : r.summaries) {
    w.BeginObject();
    w.Key("network").String(g.network);
    w.Key("world_size").Int(g.world_size);
    FractionField(w, "max_risk", r.max_risk);
    WriteCaseRef(w, "policy", r, g.under_cap);
    w.EndObject();
  }
  w.EndArray();
}

void WriteOptions(base::JsonWriter& w, const ReplayReport& r) {
  w.Key("options").BeginObject();
  w.Key("scaling").String(sim::ScalingName(r.scaling));
  w.Key("interval_in").String(sim::IntervalUnitName(r.interval_in));
  w.Key("risk_proxy").String(r.risk_proxy);
  FractionField(w, "max_risk", r.max_risk);
  w.Key("stragglers").BeginArray(Span::kOneLine);
  for (const sim::Straggler& s : r.skew.stragglers) {
    w.BeginObject(Span::kOneLine);
    w.Key("rank").Int(s.rank);
    w.Key("factor").Double(s.factor);
    w.EndObject();
  }
  w.EndArray();
  w.Key("jitter").Double(r.skew.jitter);
  w.Key("jitter_seed").Uint(r.skew.seed);
  w.Key("shared_cores").Int(r.shared_cores);
  w.Key("fold_frozen").Bool(r.fold_frozen.value_or(r.recorded_fold_frozen));
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
  WriteOptions(w, r);
  w.Key("notes");
  WriteNotes(w, r.notes);
  w.Key("results").BeginArray();
  for (const CaseResult& c : r.results) WriteCase(w, c, model);
  w.EndArray();
  WriteSummaries(w, r);
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
          "scaling",
          "interval_in",
          "steps",
          "predicted_total_s",
          "predicted_interval_low_s",
          "predicted_interval_high_s",
          "baseline_total_s",
          "speedup",
          "saved_fraction",
          "data_s",
          "forward_s",
          "backward_s",
          "comm_exposed_s",
          "comm_total_s",
          "optimizer_s",
          "stats_s",
          "other_s",
          "bytes_allreduced_per_rank",
          "accuracy_risk",
          "accuracy_risk_partial",
          "accuracy_risk_proxy",
          "recorded_accuracy",
          "extrapolated_from_step",
          "statistics_assumed",
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
        sim::ScalingName(s.steps.scaling),
        sim::IntervalUnitName(s.steps.interval_in),
        absl::StrCat(s.steps.num_steps()),
        SecondsText(p.total_ns),
        SecondsText(c.interval.low_ns),
        SecondsText(c.interval.high_ns),
        SecondsText(c.baseline_total_ns),
        Exact(c.speedup),
        Exact(c.saved_fraction),
        SecondsText(p.data_ns),
        SecondsText(p.forward_ns),
        SecondsText(p.backward_ns),
        SecondsText(p.comm_exposed_ns),
        SecondsText(p.comm_total_ns),
        SecondsText(p.optimizer_ns),
        SecondsText(p.stats_ns),
        SecondsText(p.other_ns),
        absl::StrCat(c.timing.bytes_allreduced),
        s.accuracy_risk.has_value() ? Exact(*s.accuracy_risk) : "",
        s.accuracy_risk_partial ? "true" : "false",
        s.accuracy_risk_proxy,
        c.recorded_accuracy.has_value() ? Exact(*c.recorded_accuracy) : "",
        s.extrapolated_from_step.has_value()
            ? absl::StrCat(*s.extrapolated_from_step)
            : "",
        s.statistics_assumed ? "true" : "false",
        CsvField(ScheduleText(s, model))};
    absl::StrAppend(&out, absl::StrJoin(f, ","), "\n");
  }
  return out;
}

}  // namespace freezing::replay
