#include "replay/regression.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "replay/case_list.h"
#include "replay/replay.h"
#include "sim/rank_skew.h"
#include "sim/step_map.h"
#include "trace/trace_reader.h"

namespace freezing::replay {
namespace {

// Columns compared as text (everything else is a number).
const std::set<std::string>& TextColumns() {
  static const auto* columns =
      new std::set<std::string>{"cache",
                                "skew",
                                "scaling",
                                "interval_in",
                                "accuracy_risk_proxy",
                                "statistics_assumed",
                                "policy",
                                "policy_spec",
                                "vote_rule",
                                "network",
                                "freeze_schedule",
                                "accuracy_risk_partial",
                                "extrapolated_from_step",
                                "world_size",
                                "recorded_accuracy"};
  return *columns;
}

}  // namespace

std::vector<std::string> RegressionPolicies() {
  return {"all", "gradnorm@majority", "autofreeze@snr", "autofreeze@samples",
          "apf@loss"};
}

std::vector<std::string> RegressionNetworks(const sim::CostModel& model) {
  std::vector<std::string> out;
  if (DefaultNetworks(model) == "recorded") out.push_back("recorded");
  out.push_back("1gbe");
  out.push_back("ib100");
  out.push_back("tree:alpha_us=20,gbps=10");
  out.push_back("ps:servers=2,alpha_us=20,gbps=10");
  out.push_back(
      "hier:ranks_per_node=4,intra_alpha_us=2,intra_gbps=100,"
      "inter_alpha_us=20,inter_gbps=10");
  return out;
}

std::vector<int> RegressionWorldSizes() { return {0, 8}; }

namespace {

// One pass of the golden configuration: what differs from the first.
struct Pass {
  bool cache = false;
  sim::Scaling scaling = sim::Scaling::kSameData;
  sim::IntervalUnit interval_in = sim::IntervalUnit::kSteps;
  bool skew = false;
  bool first_network_only = false;
  std::vector<int> world_sizes = RegressionWorldSizes();
};

// The passes (testdata/README.md): every network at the recorded world size
// and 8 with the default scaling; same_steps and intervals in epochs at 8
// on the first network; a straggler and jitter at 8 on 1gbe; the cache on
// 1gbe.
std::vector<Pass> Passes() {
  std::vector<Pass> passes(5);
  passes[1].scaling = sim::Scaling::kSameSteps;
  passes[2].interval_in = sim::IntervalUnit::kEpochs;
  passes[1].world_sizes = passes[2].world_sizes = passes[3].world_sizes = {8};
  passes[1].first_network_only = passes[2].first_network_only = true;
  passes[3].skew = true;
  passes[4].cache = true;
  return passes;
}

// The skew of the straggler pass.
sim::RankSkewOptions RegressionSkew() {
  sim::RankSkewOptions o;
  o.stragglers = {{3, 1.5}};
  o.jitter = 0.05;
  return o;
}

}  // namespace

absl::StatusOr<std::string> GoldenCsv(const std::string& path) {
  trace::TraceContents contents = trace::ReadTrace(path);
  auto model = sim::FitTrace(contents);
  if (!model.ok()) return model.status();
  ReplayOptions base;
  for (const std::string& p : RegressionPolicies()) {
    auto cases = ParsePolicies(p, *model);
    if (!cases.ok()) return cases.status();
    base.policies.insert(base.policies.end(), cases->begin(), cases->end());
  }
  std::string out;
  for (const Pass& pass : Passes()) {
    ReplayOptions options = base;
    options.networks = RegressionNetworks(*model);
    if (pass.first_network_only) options.networks.resize(1);
    // With the cache or skew: one network; the cache with fixed inputs (one
    // variant per sample).
    if (pass.cache || pass.skew) options.networks = {"1gbe"};
    options.cache = pass.cache;
    options.augment_variants = pass.cache ? 1 : -1;
    options.scaling = pass.scaling;
    options.interval_in = pass.interval_in;
    if (pass.skew) options.skew = RegressionSkew();
    options.world_sizes = pass.world_sizes;
    auto report = RunReplay(*model, options);
    if (!report.ok()) return report.status();
    const std::string csv = ToCsv(*report, *model);
    const size_t body = csv.find('\n') + 1;
    if (out.empty()) absl::StrAppend(&out, "cache,skew,", csv.substr(0, body));
    const std::string prefix =
        absl::StrCat(pass.cache ? "on," : "off,",
                     pass.skew ? "\"3:1.5,jitter=0.05\"," : "none,");
    for (size_t pos = body; pos < csv.size();) {
      const size_t end = csv.find('\n', pos);
      absl::StrAppend(&out, prefix, csv.substr(pos, end - pos + 1));
      pos = end + 1;
    }
  }
  return out;
}

std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    any = true;
    if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
    }
  }
  if (any || !field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

// One golden row against the new one: "" when they agree, else one entry
// (prefixed with `label`): the schedule first (what CI guards most), then
// the predicted total, then the names of the other columns that moved.
std::string DiffRow(const std::string& label,
                    const std::vector<std::string>& header,
                    const std::vector<std::string>& a,
                    const std::vector<std::string>& b, double relative) {
  std::string schedule, total;
  std::vector<std::string> details, others;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string x = c < a.size() ? a[c] : "";
    const std::string y = c < b.size() ? b[c] : "";
    if (x == y) continue;
    if (TextColumns().count(header[c]) > 0) {
      const std::string line = absl::StrCat(
          "    ", header[c], " changed: golden '", x, "', now '", y, "'");
      if (header[c] == "freeze_schedule") {
        schedule = line;
      } else {
        details.push_back(line);
      }
      continue;
    }
    char* end_x = nullptr;
    char* end_y = nullptr;
    const double vx = std::strtod(x.c_str(), &end_x);
    const double vy = std::strtod(y.c_str(), &end_y);
    const bool numbers =
        !x.empty() && !y.empty() && *end_x == '\0' && *end_y == '\0';
    const double scale = std::max(std::fabs(vx), std::fabs(vy));
    if (numbers && std::fabs(vx - vy) <= relative * scale) continue;
    const std::string line = absl::StrCat(
        "    ", header[c], ": golden ", x, ", now ", y,
        numbers && vx != 0
            ? absl::StrFormat(" (%+.3g relative)", (vy - vx) / std::fabs(vx))
            : "");
    if (header[c] == "predicted_total_s") {
      total = line;
    } else if (details.size() < 2 && schedule.empty() && total.empty()) {
      details.push_back(line);
    } else {
      others.push_back(header[c]);
    }
  }
  if (schedule.empty() && total.empty() && details.empty() && others.empty()) {
    return "";
  }
  std::string entry = absl::StrCat(label, ":");
  for (const std::string& line : {schedule, total}) {
    if (!line.empty()) absl::StrAppend(&entry, "\n", line);
  }
  for (const std::string& line : details) absl::StrAppend(&entry, "\n", line);
  if (!others.empty()) {
    absl::StrAppend(&entry, "\n    and ", others.size(),
                    " more column(s) moved: ", absl::StrJoin(others, ", "));
  }
  return entry;
}

// A row's case, as the comparison names it.
std::string RowKey(const std::vector<std::string>& header,
                   const std::vector<std::string>& row) {
  std::vector<std::string> k;
  for (const char* name : {"cache", "skew", "policy", "vote_rule", "network",
                           "world_size", "scaling", "interval_in"}) {
    const auto it = std::find(header.begin(), header.end(), name);
    const size_t c = static_cast<size_t>(it - header.begin());
    k.push_back(it != header.end() && c < row.size() ? row[c] : "?");
  }
  return absl::StrFormat(
      "[cache %s, skew %s, policy %s@%s, network %s, world %s, %s, intervals "
      "in %s]",
      k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
}

}  // namespace

std::vector<std::string> CompareGolden(const std::string& name,
                                       const std::string& golden,
                                       const std::string& now,
                                       double relative) {
  std::vector<std::string> diffs;
  const auto g = ParseCsv(golden), n = ParseCsv(now);
  if (g.empty() || n.empty()) {
    diffs.push_back(absl::StrCat(name, ": ", g.empty() ? "golden" : "new",
                                 " output is empty"));
    return diffs;
  }
  if (g[0] != n[0]) {
    diffs.push_back(absl::StrCat(
        name, ": columns changed:\n  golden: ", absl::StrJoin(g[0], ","),
        "\n  now:    ", absl::StrJoin(n[0], ",")));
    return diffs;
  }
  const std::vector<std::string>& header = g[0];
  std::map<std::string, const std::vector<std::string>*> golden_rows, new_rows;
  std::vector<std::string> order;
  for (size_t i = 1; i < g.size(); ++i) {
    golden_rows[RowKey(header, g[i])] = &g[i];
    order.push_back(RowKey(header, g[i]));
  }
  for (size_t i = 1; i < n.size(); ++i) {
    const std::string key = RowKey(header, n[i]);
    new_rows[key] = &n[i];
    if (golden_rows.count(key) == 0) order.push_back(key);
  }
  for (const std::string& key : order) {
    auto gi = golden_rows.find(key);
    auto ni = new_rows.find(key);
    if (ni == new_rows.end() || gi == golden_rows.end()) {
      diffs.push_back(absl::StrCat(name, " ", key,
                                   ni == new_rows.end()
                                       ? ": in the golden, not replayed now"
                                       : ": replayed now, not in the golden"));
      continue;
    }
    std::string entry = DiffRow(absl::StrCat(name, " ", key), header,
                                *gi->second, *ni->second, relative);
    if (!entry.empty()) diffs.push_back(std::move(entry));
  }
  return diffs;
}

}  // namespace freezing::replay
