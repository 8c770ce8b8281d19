#include "trace/trace_csv.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace freezing::trace {
namespace {

std::string Field(absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(s);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string Real(double value) { return absl::StrFormat("%.9g", value); }

template <typename T>
std::string At(const google::protobuf::RepeatedField<T>& values, int i) {
  if (i >= values.size()) return "";
  if constexpr (std::is_same_v<T, double>) {
    return Real(values.Get(i));
  } else if constexpr (std::is_same_v<T, bool>) {
    return values.Get(i) ? "1" : "0";
  } else {
    return absl::StrCat(values.Get(i));
  }
}

void Row(const std::vector<std::string>& fields, std::ostream& out) {
  out << absl::StrJoin(fields, ",") << "\n";
}

}  // namespace

void WriteStepsCsv(const TraceContents& contents, std::ostream& out) {
  std::vector<std::string> header = {"step",
                                     "epoch",
                                     "data_ns",
                                     "forward_ns",
                                     "backward_ns",
                                     "comm_total_ns",
                                     "comm_exposed_ns",
                                     "optimizer_ns",
                                     "stats_ns",
                                     "other_ns",
                                     "total_ns",
                                     "max_rank_total_ns",
                                     "bytes_allreduced",
                                     "buckets",
                                     "trainable_units",
                                     "loss",
                                     "lr",
                                     "cache_hits",
                                     "cache_misses",
                                     "cache_bytes_read",
                                     "cache_bytes_written",
                                     "cache_forward_saved_ns",
                                     "cache_boundary_unit"};
  const int units =
      contents.header.has_value() ? contents.header->units_size() : 0;
  for (int u = 0; u < units; ++u) {
    const std::string& name = contents.header->units(u).name();
    header.push_back(Field(absl::StrCat("forward_ns:", name)));
    header.push_back(Field(absl::StrCat("backward_ns:", name)));
    header.push_back(Field(absl::StrCat("trainable:", name)));
  }
  Row(header, out);
  for (const Step& s : contents.steps) {
    const PhaseTimes& p = s.phases();
    const CacheStep& c = s.cache();
    std::vector<std::string> row = {
        absl::StrCat(s.step()),
        absl::StrCat(s.epoch()),
        absl::StrCat(p.data_ns()),
        absl::StrCat(p.forward_ns()),
        absl::StrCat(p.backward_ns()),
        absl::StrCat(p.comm_total_ns()),
        absl::StrCat(p.comm_exposed_ns()),
        absl::StrCat(p.optimizer_ns()),
        absl::StrCat(p.stats_ns()),
        absl::StrCat(p.other_ns()),
        absl::StrCat(p.total_ns()),
        absl::StrCat(s.max_rank_total_ns()),
        absl::StrCat(s.bytes_allreduced()),
        absl::StrCat(s.buckets()),
        absl::StrCat(
            std::count(s.trainable().begin(), s.trainable().end(), true)),
        Real(s.loss()),
        Real(s.lr()),
        absl::StrCat(c.hits()),
        absl::StrCat(c.misses()),
        absl::StrCat(c.bytes_read()),
        absl::StrCat(c.bytes_written()),
        absl::StrCat(c.forward_saved_ns()),
        absl::StrCat(c.boundary_unit())};
    for (int u = 0; u < units; ++u) {
      row.push_back(At(s.unit_forward_ns(), u));
      row.push_back(At(s.unit_backward_ns(), u));
      row.push_back(At(s.trainable(), u));
    }
    Row(row, out);
  }
}

void WriteIntervalsCsv(const TraceContents& contents, std::ostream& out) {
  Row({"interval", "first_step", "last_step", "epoch", "progress", "scope",
       "rank", "unit", "unit_name", "window", "l2", "l1", "dot_global",
       "trained_steps", "samples", "mean_loss"},
      out);
  const auto unit_name = [&](int unit) -> std::string {
    if (contents.header.has_value() && unit >= 0 &&
        unit < contents.header->units_size()) {
      return Field(contents.header->units(unit).name());
    }
    return "";
  };
  for (const Interval& iv : contents.intervals) {
    const std::vector<std::string> common = {
        absl::StrCat(iv.index()), absl::StrCat(iv.first_step()),
        absl::StrCat(iv.last_step()), absl::StrCat(iv.epoch()),
        Real(iv.progress())};
    const auto emit = [&](const UnitWindowNorms& n, const std::string& scope,
                          const RankStats* rank) {
      const int windows =
          std::max({n.l2_size(), n.l1_size(), n.dot_global_size(),
                    n.trained_steps_size(), rank ? rank->samples_size() : 0,
                    rank ? rank->mean_loss_size() : 0});
      for (int k = 0; k < windows; ++k) {
        std::vector<std::string> row = common;
        row.push_back(scope);
        row.push_back(rank ? absl::StrCat(rank->rank()) : "");
        row.push_back(absl::StrCat(n.unit()));
        row.push_back(unit_name(n.unit()));
        row.push_back(absl::StrCat(k + 1));
        row.push_back(At(n.l2(), k));
        row.push_back(At(n.l1(), k));
        row.push_back(At(n.dot_global(), k));
        row.push_back(At(n.trained_steps(), k));
        row.push_back(rank ? At(rank->samples(), k) : "");
        row.push_back(rank ? At(rank->mean_loss(), k) : "");
        Row(row, out);
      }
    };
    for (const UnitWindowNorms& n : iv.global()) emit(n, "global", nullptr);
    for (const RankStats& r : iv.ranks()) {
      for (const UnitWindowNorms& n : r.units()) emit(n, "rank", &r);
    }
  }
}

}  // namespace freezing::trace
