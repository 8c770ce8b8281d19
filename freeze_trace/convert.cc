#include "freeze_trace/convert.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace freezing::freeze_trace {
namespace {

void CopyWindow(const freeze::WindowNorms& from, trace::UnitWindowNorms* to) {
  for (double v : from.l2) to->add_l2(v);
  for (double v : from.l1) to->add_l1(v);
  for (double v : from.dot_global) to->add_dot_global(v);
  for (int64_t v : from.trained_steps) to->add_trained_steps(v);
}

void CopyWindow(const trace::UnitWindowNorms& from, freeze::WindowNorms& to) {
  to.l2.assign(from.l2().begin(), from.l2().end());
  to.l1.assign(from.l1().begin(), from.l1().end());
  to.dot_global.assign(from.dot_global().begin(), from.dot_global().end());
  to.trained_steps.assign(from.trained_steps().begin(),
                          from.trained_steps().end());
}

// Places `list` (one entry per unit, each naming its unit) into `out`.
absl::Status PlaceUnits(
    const google::protobuf::RepeatedPtrField<trace::UnitWindowNorms>& list,
    int num_units, const std::string& where,
    std::vector<freeze::WindowNorms>& out) {
  out.assign(static_cast<size_t>(num_units), freeze::WindowNorms{});
  std::vector<bool> seen(static_cast<size_t>(num_units), false);
  if (list.size() != num_units) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": statistics for ", list.size(),
                     " units, the model has ", num_units));
  }
  for (const trace::UnitWindowNorms& n : list) {
    if (n.unit() < 0 || n.unit() >= num_units || seen[n.unit()]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unit index ", n.unit(),
                       " is out of range or repeated (the model has ",
                       num_units, " units)"));
    }
    seen[n.unit()] = true;
    CopyWindow(n, out[n.unit()]);
  }
  return absl::OkStatus();
}

}  // namespace

trace::Interval ToTraceInterval(const freeze::BaseIntervalStats& s) {
  trace::Interval out;
  out.set_index(s.index);
  out.set_first_step(s.first_step);
  out.set_last_step(s.last_step);
  out.set_epoch(s.epoch);
  out.set_progress(s.progress);
  for (size_t u = 0; u < s.global.size(); ++u) {
    trace::UnitWindowNorms* n = out.add_global();
    n->set_unit(static_cast<int>(u));
    CopyWindow(s.global[u], n);
  }
  for (const freeze::RankWindowStats& r : s.ranks) {
    trace::RankStats* rs = out.add_ranks();
    rs->set_rank(r.rank);
    for (int64_t v : r.samples) rs->add_samples(v);
    for (double v : r.mean_loss) rs->add_mean_loss(v);
    for (size_t u = 0; u < r.units.size(); ++u) {
      trace::UnitWindowNorms* n = rs->add_units();
      n->set_unit(static_cast<int>(u));
      CopyWindow(r.units[u], n);
    }
  }
  return out;
}

absl::StatusOr<freeze::BaseIntervalStats> ToBaseIntervalStats(
    const trace::Interval& interval, int num_units) {
  freeze::BaseIntervalStats s;
  s.index = interval.index();
  s.first_step = interval.first_step();
  s.last_step = interval.last_step();
  s.epoch = interval.epoch();
  s.progress = interval.progress();
  const std::string where = absl::StrCat("interval ", interval.index());
  absl::Status st = PlaceUnits(interval.global(), num_units, where, s.global);
  if (!st.ok()) return st;
  for (const trace::RankStats& r : interval.ranks()) {
    freeze::RankWindowStats rs;
    rs.rank = r.rank();
    rs.samples.assign(r.samples().begin(), r.samples().end());
    rs.mean_loss.assign(r.mean_loss().begin(), r.mean_loss().end());
    st = PlaceUnits(r.units(), num_units,
                    absl::StrCat(where, " rank ", r.rank()), rs.units);
    if (!st.ok()) return st;
    s.ranks.push_back(std::move(rs));
  }
  return s;
}

trace::Vote ToTraceVote(const freeze::Vote& v) {
  trace::Vote out;
  out.set_rank(v.rank);
  for (int u : v.freeze) out.add_freeze(u);
  for (int u : v.unfreeze) out.add_unfreeze(u);
  out.set_weight(v.weight);
  return out;
}

freeze::Vote FromTraceVote(const trace::Vote& v) {
  freeze::Vote out;
  out.rank = v.rank();
  out.freeze.assign(v.freeze().begin(), v.freeze().end());
  out.unfreeze.assign(v.unfreeze().begin(), v.unfreeze().end());
  out.weight = v.weight();
  return out;
}

trace::FreezeEvent ToTraceFreezeEvent(const freeze::FreezeDecision& d,
                                      const std::string& policy,
                                      const std::string& rule) {
  trace::FreezeEvent e;
  e.set_step(d.apply_step);
  e.set_epoch(d.epoch);
  e.set_interval(d.interval);
  e.set_policy(policy);
  e.set_rule(rule);
  for (int u : d.decision.freeze) e.add_freeze(u);
  for (int u : d.decision.unfreeze) e.add_unfreeze(u);
  for (const freeze::Vote& v : d.votes) *e.add_votes() = ToTraceVote(v);
  e.set_reason(d.decision.reason);
  return e;
}

std::string EncodeVotes(const std::vector<freeze::Vote>& votes) {
  trace::Votes message;
  for (const freeze::Vote& v : votes) *message.add_votes() = ToTraceVote(v);
  return message.SerializeAsString();
}

absl::Status DecodeVotes(const std::string& bytes,
                         std::vector<freeze::Vote>& out) {
  trace::Votes message;
  if (!message.ParseFromString(bytes)) {
    return absl::DataLossError(
        "freezing votes from another rank are malformed: are all ranks "
        "running the same binary?");
  }
  for (const trace::Vote& v : message.votes()) out.push_back(FromTraceVote(v));
  return absl::OkStatus();
}

int64_t TotalSteps(const trace::TraceContents& trace) {
  const trace::RunConfig& c = trace.header->config();
  const int64_t planned = c.steps_per_epoch() * c.epochs();
  for (const trace::Interval& i : trace.intervals) {
    if (!(i.progress() > 0) || !std::isfinite(i.progress())) continue;
    const double done = static_cast<double>(i.last_step() + 1);
    const int64_t total = std::llround(done / i.progress());
    if (total > 0 && done / static_cast<double>(total) == i.progress()) {
      return total;
    }
  }
  return planned;
}

absl::StatusOr<freeze::PolicyContext> PolicyContextFromTrace(
    const trace::TraceContents& trace) {
  if (!trace.header.has_value()) {
    return absl::InvalidArgumentError("the trace has no header");
  }
  const trace::Header& h = *trace.header;
  const trace::RunConfig& c = h.config();
  freeze::PolicyContext ctx;
  for (const trace::Unit& u : h.units()) {
    ctx.units.push_back({u.name(), u.params(), u.is_classifier()});
  }
  if (ctx.units.empty()) {
    return absl::InvalidArgumentError("the trace's header lists no units");
  }
  ctx.total_steps = TotalSteps(trace);
  ctx.steps_per_epoch = c.steps_per_epoch();
  ctx.base_interval_steps = c.stats_interval() > 0 ? c.stats_interval() : 1;
  ctx.max_window = c.stats_window() > 0 ? c.stats_window() : 1;
  ctx.ranks = c.ranks() > 0 ? c.ranks() : 1;
  return ctx;
}

}  // namespace freezing::freeze_trace
