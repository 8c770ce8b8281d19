#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <dirent.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/status_macros.h"

namespace freezing::train {
namespace {

constexpr char kCommitFile[] = "CHECKPOINT";

std::string StateFileName(int epochs_done, int rank) {
  return absl::StrCat("state-e", epochs_done, "-rank", rank, ".pt");
}

at::Tensor Int64s(const std::vector<int64_t>& v) {
  return at::tensor(c10::ArrayRef<int64_t>(v), at::kLong).clone();
}

std::vector<int64_t> ToInt64s(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(),
                              c.data_ptr<int64_t>() + c.numel());
}

at::Tensor Doubles(const std::vector<double>& v) {
  return at::tensor(c10::ArrayRef<double>(v), at::kDouble).clone();
}

std::vector<double> ToDoubles(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(),
                             c.data_ptr<double>() + c.numel());
}

// The summary so far as "key=value" lines (exact integers, %a doubles).
std::string EncodeSummary(const RunSummary& s) {
  std::vector<std::string> l;
  auto d = [](double v) { return absl::StrFormat("%a", v); };
  l.push_back(absl::StrCat("steps=", s.steps));
  l.push_back(absl::StrCat("images=", s.images));
  const PhaseSums& p = s.phases;
  l.push_back(absl::StrCat("phases=", p.data_ns, ",", p.forward_ns, ",",
                           p.backward_ns, ",", p.comm_exposed_ns, ",",
                           p.comm_total_ns, ",", p.optimizer_ns, ",",
                           p.stats_ns, ",", p.total_ns));
  l.push_back(absl::StrCat("startup_ns=", s.startup_ns));
  l.push_back(absl::StrCat("eval_ns=", s.eval_ns));
  l.push_back(absl::StrCat("bytes=", s.bytes_allreduced));
  std::vector<std::string> acc, loss;
  for (double a : s.test_accuracy_per_epoch) acc.push_back(d(a));
  for (double a : s.test_loss_per_epoch) loss.push_back(d(a));
  l.push_back(absl::StrCat("accuracy=", absl::StrJoin(acc, ",")));
  l.push_back(absl::StrCat("loss=", absl::StrJoin(loss, ",")));
  for (const SummaryFreezeEvent& e : s.freeze_events) {
    l.push_back(absl::StrCat("event=", e.unit, ",", e.step, ",", e.epoch, ",",
                             e.unfreeze ? 1 : 0, ",", e.name));
  }
  l.push_back(absl::StrCat("cache=", s.cache_hits, ",", s.cache_misses, ",",
                           s.cache_forward_saved_ns, ",",
                           s.cache_disabled ? 1 : 0));
  return absl::StrJoin(l, "\n");
}

bool ParseI64(const std::string& text, int64_t& out) {
  return absl::SimpleAtoi(text, &out);
}

// Doubles are written with %a: exact.
bool ParseHexDoubles(const std::vector<std::string>& fields,
                     std::vector<double>& out) {
  for (const std::string& x : fields) {
    double v = 0;
    if (std::sscanf(x.c_str(), "%la", &v) != 1) return false;
    out.push_back(v);
  }
  return true;
}

bool ParsePhases(const std::vector<std::string>& f, PhaseSums& p) {
  return f.size() == 8 && ParseI64(f[0], p.data_ns) &&
         ParseI64(f[1], p.forward_ns) && ParseI64(f[2], p.backward_ns) &&
         ParseI64(f[3], p.comm_exposed_ns) && ParseI64(f[4], p.comm_total_ns) &&
         ParseI64(f[5], p.optimizer_ns) && ParseI64(f[6], p.stats_ns) &&
         ParseI64(f[7], p.total_ns);
}

// "unit,step,epoch,unfreeze,name" (the name may hold commas).
bool ParseEvent(const std::string& v, SummaryFreezeEvent& e) {
  std::vector<std::string> g = absl::StrSplit(v, absl::MaxSplits(',', 4));
  int64_t unit = 0, epoch = 0, unfreeze = 0;
  if (g.size() != 5 || !ParseI64(g[0], unit) || !ParseI64(g[1], e.step) ||
      !ParseI64(g[2], epoch) || !ParseI64(g[3], unfreeze)) {
    return false;
  }
  e.unit = static_cast<int>(unit);
  e.epoch = static_cast<int>(epoch);
  e.unfreeze = unfreeze != 0;
  e.name = g[4];
  return true;
}

bool ParseCache(const std::vector<std::string>& f, RunSummary& s) {
  int64_t disabled = 0;
  if (f.size() != 4 || !ParseI64(f[0], s.cache_hits) ||
      !ParseI64(f[1], s.cache_misses) ||
      !ParseI64(f[2], s.cache_forward_saved_ns) || !ParseI64(f[3], disabled)) {
    return false;
  }
  s.cache_disabled = disabled != 0;
  return true;
}

absl::StatusOr<RunSummary> DecodeSummary(const std::string& text) {
  RunSummary s;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
    const std::string& k = kv.first;
    const std::string& v = kv.second;
    std::vector<std::string> f = absl::StrSplit(v, ',', absl::SkipEmpty());
    bool ok = true;
    if (k == "steps") {
      ok = ParseI64(v, s.steps);
    } else if (k == "images") {
      ok = ParseI64(v, s.images);
    } else if (k == "phases") {
      ok = ParsePhases(f, s.phases);
    } else if (k == "startup_ns") {
      ok = ParseI64(v, s.startup_ns);
    } else if (k == "eval_ns") {
      ok = ParseI64(v, s.eval_ns);
    } else if (k == "bytes") {
      ok = ParseI64(v, s.bytes_allreduced);
    } else if (k == "accuracy") {
      ok = ParseHexDoubles(f, s.test_accuracy_per_epoch);
    } else if (k == "loss") {
      ok = ParseHexDoubles(f, s.test_loss_per_epoch);
    } else if (k == "event") {
      SummaryFreezeEvent e;
      ok = ParseEvent(v, e);
      if (ok) s.freeze_events.push_back(e);
    } else if (k == "cache") {
      ok = ParseCache(f, s);
    }
    if (!ok) {
      return absl::DataLossError(
          absl::StrCat("checkpoint summary line is malformed: '", line, "'"));
    }
  }
  return s;
}

}  // namespace

std::string ModelFileName(int epochs_done) {
  return absl::StrCat("model-e", epochs_done, ".pt");
}

int SourceRank(int rank, int checkpoint_ranks) {
  return checkpoint_ranks > 0 ? rank % checkpoint_ranks : 0;
}

StatsState StatsForOtherWorldSize(StatsState s, int checkpoint_ranks,
                                  int ranks) {
  if (s.local.empty()) return s;  // a final checkpoint keeps no statistics
  at::NoGradGuard no_grad;
  const int windows = static_cast<int>(s.local.size());
  if (ranks == 1) {
    s.global.clear();  // one rank keeps no global sums
  } else if (s.global.empty()) {
    // One rank's global sums were its local ones.
    for (const at::Tensor& l : s.local) s.global.push_back(l.clone());
  } else {
    const double scale =
        static_cast<double>(ranks) / static_cast<double>(checkpoint_ranks);
    for (at::Tensor& g : s.global) g = g.mul(scale);
  }
  // The interval under way restarts empty.
  const int h = s.head;
  if (h >= 0 && h < windows) {
    s.local[h] = at::zeros_like(s.local[h]);
    if (!s.global.empty()) s.global[h] = at::zeros_like(s.local[h]);
    std::fill(s.trained_steps[h].begin(), s.trained_steps[h].end(), 0);
    s.samples[h] = 0;
    s.loss_sum[h] = 0;
  }
  return s;
}

absl::Status WriteRankState(const std::string& folder, int rank,
                            const RankState& state) {
  const std::string path =
      absl::StrCat(folder, "/", StateFileName(state.epochs_done, rank));
  return base::ReplaceFileAtomically(path, [&](const std::string& temp) {
    try {
      torch::serialize::OutputArchive a;
      a.write("epochs_done", Int64s({state.epochs_done}));
      a.write("global_step", Int64s({state.global_step}));
      std::vector<int64_t> frozen(state.frozen.begin(), state.frozen.end());
      a.write("frozen", Int64s(frozen));
      a.write("freezer_state", c10::IValue(state.freezer_state));
      std::vector<int64_t> has_momentum;
      for (size_t i = 0; i < state.momentum.size(); ++i) {
        has_momentum.push_back(state.momentum[i].defined());
        if (state.momentum[i].defined()) {
          a.write(absl::StrCat("momentum.", i), state.momentum[i]);
        }
      }
      a.write("has_momentum", Int64s(has_momentum));
      const StatsState& st = state.stats;
      a.write("stats.head", Int64s({st.head}));
      a.write("stats.intervals_done", Int64s({st.intervals_done}));
      for (size_t w = 0; w < st.local.size(); ++w) {
        a.write(absl::StrCat("stats.local.", w), st.local[w]);
        // The head's global slot is recomputed when its interval ends; one
        // rank keeps no global sums.
        if (static_cast<int>(w) != st.head && w < st.global.size()) {
          a.write(absl::StrCat("stats.global.", w), st.global[w]);
        }
        a.write(absl::StrCat("stats.trained_steps.", w),
                Int64s(st.trained_steps[w]));
      }
      a.write("stats.samples", Int64s(st.samples));
      a.write("stats.windows", Int64s({static_cast<int64_t>(st.local.size())}));
      a.write("stats.has_global", Int64s({st.global.empty() ? 0 : 1}));
      a.write("stats.loss_sum", Doubles(st.loss_sum));
      a.write("summary", c10::IValue(EncodeSummary(state.summary)));
      a.save_to(temp);
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat(
          "cannot write checkpoint ", temp, ": ", e.what_without_backtrace()));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<RankState> ReadRankState(const std::string& folder, int rank,
                                        int epochs_done) {
  const std::string path =
      absl::StrCat(folder, "/", StateFileName(epochs_done, rank));
  if (::access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("checkpoint file ", path,
                     " is missing: was the run started with "
                     "another number of ranks?"));
  }
  RankState s;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path);
    at::Tensor t;
    a.read("epochs_done", t);
    s.epochs_done = static_cast<int>(ToInt64s(t)[0]);
    a.read("global_step", t);
    s.global_step = ToInt64s(t)[0];
    a.read("frozen", t);
    for (int64_t f : ToInt64s(t)) s.frozen.push_back(f != 0);
    c10::IValue v;
    a.read("freezer_state", v);
    s.freezer_state = v.toStringRef();
    a.read("has_momentum", t);
    const std::vector<int64_t> has = ToInt64s(t);
    for (size_t i = 0; i < has.size(); ++i) {
      at::Tensor m;
      if (has[i]) a.read(absl::StrCat("momentum.", i), m);
      s.momentum.push_back(m);
    }
    StatsState& st = s.stats;
    a.read("stats.head", t);
    st.head = static_cast<int>(ToInt64s(t)[0]);
    a.read("stats.intervals_done", t);
    st.intervals_done = ToInt64s(t)[0];
    a.read("stats.samples", t);
    st.samples = ToInt64s(t);
    a.read("stats.loss_sum", t);
    st.loss_sum = ToDoubles(t);
    a.read("stats.windows", t);
    const int64_t windows = ToInt64s(t)[0];
    a.read("stats.has_global", t);
    const bool has_global = ToInt64s(t)[0] != 0;
    for (int64_t w = 0; w < windows; ++w) {
      at::Tensor local, global, trained;
      a.read(absl::StrCat("stats.local.", w), local);
      if (has_global && w != st.head) {
        a.read(absl::StrCat("stats.global.", w), global);
      } else if (has_global) {
        global = at::zeros_like(local);
      }
      a.read(absl::StrCat("stats.trained_steps.", w), trained);
      st.local.push_back(local);
      if (has_global) st.global.push_back(global);
      st.trained_steps.push_back(ToInt64s(trained));
    }
    a.read("summary", v);
    ASSIGN_OR_RETURN(s.summary, DecodeSummary(v.toStringRef()));
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint file ", path,
                     " is unreadable: ", e.what_without_backtrace()));
  }
  return s;
}

absl::Status CommitCheckpoint(const std::string& folder,
                              const CheckpointInfo& info) {
  std::string text = absl::StrCat(
      "epochs_done=", info.epochs_done, "\nglobal_step=", info.global_step,
      "\nranks=", info.ranks, "\nmodel=", info.model_file, "\n");
  for (absl::string_view line : absl::StrSplit(info.fingerprint, '\n')) {
    absl::StrAppend(&text, "config.", line, "\n");
  }
  RETURN_IF_ERROR(
      base::WriteFileAtomically(absl::StrCat(folder, "/", kCommitFile), text));
  // Remove the files of older checkpoints.
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return absl::OkStatus();
  const std::string keep_model = info.model_file;
  const std::string keep_state = absl::StrCat("state-e", info.epochs_done, "-");
  std::vector<std::string> remove;
  while (dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    const bool model = absl::StartsWith(name, "model-e") && name != keep_model;
    const bool state = absl::StartsWith(name, "state-e") &&
                       !absl::StartsWith(name, keep_state);
    if (model || state) remove.push_back(absl::StrCat(folder, "/", name));
  }
  ::closedir(dir);
  for (const std::string& path : remove) ::unlink(path.c_str());
  return absl::OkStatus();
}

absl::StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& folder) {
  const std::string path = absl::StrCat(folder, "/", kCommitFile);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "no checkpoint to resume from: ", path, " does not exist"));
  }
  CheckpointInfo info;
  std::vector<std::string> config;
  std::string line;
  bool ok = true;
  while (std::getline(in, line)) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    int64_t n = 0;
    if (kv.first == "epochs_done") {
      ok = ok && absl::SimpleAtoi(kv.second, &n);
      info.epochs_done = static_cast<int>(n);
    } else if (kv.first == "global_step") {
      ok = ok && absl::SimpleAtoi(kv.second, &info.global_step);
    } else if (kv.first == "ranks") {
      ok = ok && absl::SimpleAtoi(kv.second, &n);
      info.ranks = static_cast<int>(n);
    } else if (kv.first == "model") {
      info.model_file = kv.second;
    } else if (absl::StartsWith(line, "config.")) {
      config.push_back(line.substr(7));
    }
  }
  if (!ok || info.model_file.empty()) {
    return absl::DataLossError(absl::StrCat(path, " is malformed"));
  }
  info.fingerprint = absl::StrJoin(config, "\n");
  return info;
}

}  // namespace freezing::train
