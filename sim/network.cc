#include "sim/network.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/user_path.h"
#include "comm/calibration.h"

namespace freezing::sim {
namespace {

constexpr int kMaxWorldSize = 1 << 20;

// The shortest %g text (at least 6 digits of precision, so no exponent for
// everyday numbers) that reads back as exactly `v`.
std::string Num(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  return buf;
}

int64_t ToNs(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<int64_t>(std::llround(seconds * 1e9));
}

double BetaFromGbps(double gbps) { return 8.0 / (gbps * 1e9); }

int64_t AlgorithmNs(comm::AllReduceAlgorithm algorithm, double alpha_s,
                    double beta, int64_t bytes, int p, bool nonblocking) {
  const comm::AllReduceTerms t =
      comm::AllReduceTermsOf(algorithm, p, bytes, nonblocking);
  return ToNs(t.alpha_steps * alpha_s +
              t.byte_factor * static_cast<double>(bytes) * beta);
}

int CeilLog2(int p) {
  int k = 0;
  while ((1 << k) < p) ++k;
  return k;
}

// name[:key=value,...] with typed access and complete errors.
class SpecKeys {
 public:
  SpecKeys(std::string spec, std::string name,
           std::map<std::string, std::string> values)
      : spec_(std::move(spec)),
        name_(std::move(name)),
        values_(std::move(values)) {}

  // `required` must all be given; `optional` may be.
  absl::Status CheckKeys(const std::vector<std::string>& required,
                         const std::vector<std::string>& optional = {
                             "overlap"}) const {
    std::vector<std::string> valid = required;
    valid.insert(valid.end(), optional.begin(), optional.end());
    for (const auto& [key, value] : values_) {
      if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("network '", spec_, "': unknown key '", key, "' for ",
                         name_, "; valid keys: ", absl::StrJoin(valid, ", ")));
      }
    }
    const std::vector<std::string>& need = required;
    for (const std::string& key : need) {
      if (values_.count(key) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "network '", spec_, "': ", name_, " needs ",
            absl::StrJoin(need, "=..., "), "=... (missing ", key, ")"));
      }
    }
    return absl::OkStatus();
  }

  // A finite value in [min, max] (> min when `open_min`).
  absl::StatusOr<double> Positive(const std::string& key, double min,
                                  double max, bool open_min) const {
    const std::string& text = values_.at(key);
    double v = 0;
    if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) ||
        (open_min ? !(v > min) : !(v >= min)) || v > max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network '", spec_, "': ", key, "=", text, " must be a number in ",
          open_min ? "(" : "[", Num(min), ", ", Num(max), "]"));
    }
    return v;
  }

  const std::string& spec() const { return spec_; }

  absl::StatusOr<int> Int(const std::string& key, int min, int max) const {
    const std::string& text = values_.at(key);
    int v = 0;
    if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("network '", spec_, "': ", key, "=", text,
                       " must be an integer in [", min, ", ", max, "]"));
    }
    return v;
  }

 private:
  std::string spec_;
  std::string name_;
  std::map<std::string, std::string> values_;
};

// A model under another spec and overlap rate: a preset's name (with the
// model's own overlap), or a spec's `overlap=R`.
class Relabeled : public NetworkModel {
 public:
  Relabeled(std::unique_ptr<NetworkModel> inner, double overlap,
            std::string spec)
      : inner_(std::move(inner)), overlap_(overlap), spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  absl::Status CheckWorldSize(int p) const override {
    return inner_->CheckWorldSize(p);
  }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    return inner_->AllReduceNs(bytes, p);
  }
  double Overlap() const override { return overlap_; }
  bool ReplaysRecordedWaits() const override {
    return inner_->ReplaysRecordedWaits();
  }

 private:
  std::unique_ptr<NetworkModel> inner_;
  double overlap_;
  std::string spec_;
};

// Ring with α in seconds and β in seconds per byte: `ring:` specs and
// calibration files.
class RingModel : public NetworkModel {
 public:
  RingModel(double alpha_s, double beta, std::string spec)
      : alpha_s_(alpha_s), beta_(beta), spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    return RingNs(alpha_s_, beta_, bytes, p);
  }

 private:
  double alpha_s_;
  double beta_;
  std::string spec_;
};

// An algorithm's terms (comm/calibration.h) with α and β: `mpich:` specs and
// calibration files fitted with the mpich model.
class AlgorithmModel : public NetworkModel {
 public:
  AlgorithmModel(comm::AllReduceAlgorithm algorithm, double alpha_s,
                 double beta, bool nonblocking, std::string spec)
      : algorithm_(algorithm),
        alpha_s_(alpha_s),
        beta_(beta),
        nonblocking_(nonblocking),
        spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    return AlgorithmNs(algorithm_, alpha_s_, beta_, bytes, p, nonblocking_);
  }

 private:
  comm::AllReduceAlgorithm algorithm_;
  double alpha_s_;
  double beta_;
  bool nonblocking_;
  std::string spec_;
};

// A calibration file: per world size (and operation) its own fit; a world
// size it does not hold takes the nearest one's α, β with that one's
// algorithm at p.
class CalibrationModel : public NetworkModel {
 public:
  CalibrationModel(std::vector<comm::Calibration> entries, std::string spec)
      : entries_(std::move(entries)), spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    if (p <= 1 || bytes <= 0) return 0;
    const comm::Calibration* best = &entries_.front();
    for (const comm::Calibration& c : entries_) {
      const int d = std::abs(c.world_size() - p);
      const int d_best = std::abs(best->world_size() - p);
      if (d < d_best || (d == d_best && c.world_size() < best->world_size())) {
        best = &c;
      }
    }
    const comm::AllReduceAlgorithm algorithm =
        comm::ParseAllReduceAlgorithm(best->algorithm())
            .value_or(comm::AllReduceAlgorithm::kRing);
    if (algorithm == comm::AllReduceAlgorithm::kRing) {
      return RingNs(best->alpha_s(), best->beta_s_per_byte(), bytes, p);
    }
    return AlgorithmNs(algorithm, best->alpha_s(), best->beta_s_per_byte(),
                       bytes, p, best->operation() == "iallreduce");
  }

 private:
  std::vector<comm::Calibration> entries_;  // one operation, not empty
  std::string spec_;
};

// Hosts with links of different rates (a straggler's slow link): ranks are
// placed on the hosts in turn (as comm's --cluster does); every step of the
// algorithm involves every rank, so each runs at the slowest link's rate
// among the hosts in use.
class HostsModel : public NetworkModel {
 public:
  HostsModel(comm::AllReduceAlgorithm algorithm, double alpha_s,
             std::vector<double> gbps, std::string spec)
      : algorithm_(algorithm),
        alpha_s_(alpha_s),
        gbps_(std::move(gbps)),
        spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    double slowest = gbps_.front();
    for (int r = 0; r < p && r < static_cast<int>(gbps_.size()); ++r) {
      slowest = std::min(slowest, gbps_[r]);
    }
    const double beta = BetaFromGbps(slowest);
    if (algorithm_ == comm::AllReduceAlgorithm::kRing) {
      return RingNs(alpha_s_, beta, bytes, p);
    }
    return AlgorithmNs(algorithm_, alpha_s_, beta, bytes, p, false);
  }

 private:
  comm::AllReduceAlgorithm algorithm_;
  double alpha_s_;
  std::vector<double> gbps_;  // per host, in the order ranks are placed
  std::string spec_;
};

class TreeModel : public NetworkModel {
 public:
  TreeModel(double alpha_us, double gbps, std::string spec)
      : alpha_s_(alpha_us * 1e-6),
        beta_(BetaFromGbps(gbps)),
        spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    if (p <= 1 || bytes <= 0) return 0;
    const double hops = 2.0 * CeilLog2(p);
    return ToNs(hops * (alpha_s_ + static_cast<double>(bytes) * beta_));
  }

 private:
  double alpha_s_;
  double beta_;
  std::string spec_;
};

class ParameterServerModel : public NetworkModel {
 public:
  ParameterServerModel(int servers, double alpha_us, double gbps,
                       std::string spec)
      : servers_(servers),
        alpha_s_(alpha_us * 1e-6),
        beta_(BetaFromGbps(gbps)),
        spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    if (p <= 1 || bytes <= 0) return 0;
    const double n = static_cast<double>(bytes);
    const double shard =
        static_cast<double>(p) * n / static_cast<double>(servers_);
    return ToNs(2.0 * alpha_s_ + 2.0 * std::max(n, shard) * beta_);
  }

 private:
  int servers_;
  double alpha_s_;
  double beta_;
  std::string spec_;
};

class HierarchicalModel : public NetworkModel {
 public:
  HierarchicalModel(int ranks_per_node, double intra_alpha_us,
                    double intra_gbps, double inter_alpha_us, double inter_gbps,
                    std::string spec)
      : g_(ranks_per_node),
        intra_alpha_s_(intra_alpha_us * 1e-6),
        intra_beta_(BetaFromGbps(intra_gbps)),
        inter_alpha_s_(inter_alpha_us * 1e-6),
        inter_beta_(BetaFromGbps(inter_gbps)),
        spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  absl::Status CheckWorldSize(int p) const override {
    if (p >= 1 && (p <= g_ || p % g_ == 0)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "network '", spec_, "': world size ", p, " is not a whole number of ",
        "nodes of ", g_, " ranks; valid: 1..", g_, " (one node) or a ",
        "multiple of ", g_));
  }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    if (p <= 1 || bytes <= 0) return 0;
    const int g = std::min(g_, p);
    const int nodes = p / g;
    const double n = static_cast<double>(bytes);
    const double intra =
        2.0 * (g - 1) * intra_alpha_s_ +
        2.0 * (g - 1) / static_cast<double>(g) * n * intra_beta_;
    const double inter = 2.0 * (nodes - 1) * inter_alpha_s_ +
                         2.0 * (nodes - 1) / static_cast<double>(nodes) *
                             (n / static_cast<double>(g)) * inter_beta_;
    return ToNs(intra + inter);
  }

 private:
  int g_;
  double intra_alpha_s_, intra_beta_, inter_alpha_s_, inter_beta_;
  std::string spec_;
};

// The recorded run's measurements: per-size medians interpolated linearly
// in bytes; below the smallest size towards the fitted latency, above the
// largest along the fitted slope. Other world sizes: scaled by the ratio of
// the recorded algorithm's formula (with the fitted alpha, beta) at p and at
// the recorded p.
class RecordedModel : public NetworkModel {
 public:
  RecordedModel(std::vector<AllReduceSample> points, int world_size,
                double overlap, comm::AllReduceAlgorithm algorithm,
                bool nonblocking, std::string spec)
      : points_(std::move(points)),
        p_rec_(world_size),
        overlap_(overlap),
        algorithm_(algorithm),
        nonblocking_(nonblocking),
        spec_(std::move(spec)) {
    // Least squares t = a + b·n over the points; a, b >= 0.
    const size_t k = points_.size();
    double a = 0, b = 0;
    if (k >= 2) {
      double sn = 0, st = 0;
      for (const AllReduceSample& s : points_) {
        sn += static_cast<double>(s.bytes);
        st += static_cast<double>(s.ns);
      }
      const double mn = sn / k, mt = st / k;
      double sxy = 0, sxx = 0;
      for (const AllReduceSample& s : points_) {
        const double dx = static_cast<double>(s.bytes) - mn;
        sxy += dx * (static_cast<double>(s.ns) - mt);
        sxx += dx * dx;
      }
      b = sxx > 0 ? sxy / sxx : 0;
      a = mt - b * mn;
    }
    const AllReduceSample& last = points_.back();
    if (!(b > 0)) {
      b = static_cast<double>(last.ns) / static_cast<double>(last.bytes);
      a = 0;
    }
    if (a < 0) {
      // Through the origin, the slope of the largest point.
      a = 0;
      b = static_cast<double>(last.ns) / static_cast<double>(last.bytes);
    }
    intercept_ns_ = std::min(a, static_cast<double>(points_.front().ns));
    slope_ns_per_byte_ = b;
    if (p_rec_ > 1 && algorithm_ == comm::AllReduceAlgorithm::kRing) {
      // T = 2(p-1)α + 2(p-1)/p·n·β with T in ns: α and β in seconds.
      alpha_s_ = intercept_ns_ * 1e-9 / (2.0 * (p_rec_ - 1));
      beta_ = slope_ns_per_byte_ * 1e-9 * p_rec_ / (2.0 * (p_rec_ - 1));
    } else if (p_rec_ > 1) {
      // The terms of a large message (the buckets): T = a·α + b·n·β.
      const comm::AllReduceTerms t = comm::AllReduceTermsOf(
          algorithm_, p_rec_, int64_t{1} << 20, nonblocking_);
      alpha_s_ = intercept_ns_ * 1e-9 / t.alpha_steps;
      beta_ = slope_ns_per_byte_ * 1e-9 / t.byte_factor;
    }
  }
  std::string spec() const override { return spec_; }
  double Overlap() const override { return overlap_; }
  bool ReplaysRecordedWaits() const override { return true; }
  int64_t AllReduceNs(int64_t bytes, int p) const override {
    if (p <= 1 || bytes <= 0) return 0;
    const double at_rec = AtRecorded(bytes);
    if (p == p_rec_) return static_cast<int64_t>(std::llround(at_rec));
    const int64_t model_rec = ModelNs(bytes, p_rec_);
    const int64_t model_p = ModelNs(bytes, p);
    if (model_rec <= 0) return model_p;
    return static_cast<int64_t>(
        std::llround(at_rec * static_cast<double>(model_p) /
                     static_cast<double>(model_rec)));
  }

 private:
  double AtRecorded(int64_t bytes) const {
    const double n = static_cast<double>(bytes);
    const AllReduceSample& first = points_.front();
    if (bytes <= first.bytes) {
      const double f = n / static_cast<double>(first.bytes);
      return intercept_ns_ +
             f * (static_cast<double>(first.ns) - intercept_ns_);
    }
    for (size_t i = 1; i < points_.size(); ++i) {
      const AllReduceSample& lo = points_[i - 1];
      const AllReduceSample& hi = points_[i];
      if (bytes <= hi.bytes) {
        const double f = (n - static_cast<double>(lo.bytes)) /
                         static_cast<double>(hi.bytes - lo.bytes);
        return static_cast<double>(lo.ns) +
               f * static_cast<double>(hi.ns - lo.ns);
      }
    }
    const AllReduceSample& last = points_.back();
    return static_cast<double>(last.ns) +
           (n - static_cast<double>(last.bytes)) * slope_ns_per_byte_;
  }

  int64_t ModelNs(int64_t bytes, int p) const {
    if (algorithm_ == comm::AllReduceAlgorithm::kRing) {
      return RingNs(alpha_s_, beta_, bytes, p);
    }
    return AlgorithmNs(algorithm_, alpha_s_, beta_, bytes, p, nonblocking_);
  }

  std::vector<AllReduceSample> points_;  // ascending bytes, distinct
  int p_rec_;
  double overlap_;
  comm::AllReduceAlgorithm algorithm_;
  bool nonblocking_;
  std::string spec_;
  double intercept_ns_ = 0;
  double slope_ns_per_byte_ = 0;
  double alpha_s_ = 0;
  double beta_ = 0;
};

constexpr double kMaxAlphaUs = 1e6;
constexpr double kMaxGbps = 1e6;

// A link's latency (µs) and bandwidth (Gbit/s) keys.
struct Link {
  double alpha_us = 0;
  double gbps = 0;
};
absl::StatusOr<Link> ReadLink(const SpecKeys& keys, const std::string& alpha,
                              const std::string& gbps) {
  Link link;
  auto a = keys.Positive(alpha, 0, kMaxAlphaUs, false);
  if (!a.ok()) return a.status();
  link.alpha_us = *a;
  auto g = keys.Positive(gbps, 0, kMaxGbps, true);
  if (!g.ok()) return g.status();
  link.gbps = *g;
  return link;
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeRingOrTree(
    const std::string& name, const SpecKeys& keys) {
  if (auto s = keys.CheckKeys({"alpha_us", "gbps"}); !s.ok()) return s;
  auto link = ReadLink(keys, "alpha_us", "gbps");
  if (!link.ok()) return link.status();
  const std::string canonical = absl::StrCat(
      name, ":alpha_us=", Num(link->alpha_us), ",gbps=", Num(link->gbps));
  if (name == "ring") {
    return std::unique_ptr<NetworkModel>(new RingModel(
        link->alpha_us * 1e-6, BetaFromGbps(link->gbps), canonical));
  }
  if (name == "mpich") {
    return std::unique_ptr<NetworkModel>(new AlgorithmModel(
        comm::AllReduceAlgorithm::kMpich, link->alpha_us * 1e-6,
        BetaFromGbps(link->gbps), false, canonical));
  }
  return std::unique_ptr<NetworkModel>(
      new TreeModel(link->alpha_us, link->gbps, canonical));
}

// hosts:gbps=G1/G2/...,alpha_us=A[,algorithm=mpich|ring]
absl::StatusOr<std::unique_ptr<NetworkModel>> MakeHosts(
    const SpecKeys& keys, const std::map<std::string, std::string>& values) {
  if (auto s = keys.CheckKeys({"gbps", "alpha_us"}, {"algorithm", "overlap"});
      !s.ok()) {
    return s;
  }
  auto alpha = keys.Positive("alpha_us", 0, kMaxAlphaUs, false);
  if (!alpha.ok()) return alpha.status();
  std::vector<double> gbps;
  std::vector<std::string> texts;
  for (absl::string_view part : absl::StrSplit(values.at("gbps"), '/')) {
    double g = 0;
    if (!absl::SimpleAtod(part, &g) || !(g > 0) || g > kMaxGbps) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network '", keys.spec(), "': gbps=", values.at("gbps"),
          " must be one positive rate per host, separated by '/' (e.g. "
          "gbps=0.94/0.94/0.235: the third host's link at a quarter)"));
    }
    gbps.push_back(g);
    texts.push_back(Num(g));
  }
  const std::string name =
      values.count("algorithm") > 0 ? values.at("algorithm") : "mpich";
  auto algorithm = comm::ParseAllReduceAlgorithm(name);
  if (!algorithm.ok() || name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("network '", keys.spec(),
                                                   "': algorithm=", name,
                                                   " must be ring or mpich"));
  }
  return std::unique_ptr<NetworkModel>(new HostsModel(
      *algorithm, *alpha * 1e-6, gbps,
      absl::StrCat("hosts:gbps=", absl::StrJoin(texts, "/"),
                   ",alpha_us=", Num(*alpha), ",algorithm=", name)));
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeParameterServer(
    const SpecKeys& keys) {
  if (auto s = keys.CheckKeys({"servers", "alpha_us", "gbps"}); !s.ok()) {
    return s;
  }
  auto servers = keys.Int("servers", 1, kMaxWorldSize);
  if (!servers.ok()) return servers.status();
  auto link = ReadLink(keys, "alpha_us", "gbps");
  if (!link.ok()) return link.status();
  return std::unique_ptr<NetworkModel>(new ParameterServerModel(
      *servers, link->alpha_us, link->gbps,
      absl::StrCat("ps:servers=", *servers, ",alpha_us=", Num(link->alpha_us),
                   ",gbps=", Num(link->gbps))));
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeHierarchical(
    const SpecKeys& keys) {
  if (auto s = keys.CheckKeys({"ranks_per_node", "intra_alpha_us", "intra_gbps",
                               "inter_alpha_us", "inter_gbps"});
      !s.ok()) {
    return s;
  }
  auto g = keys.Int("ranks_per_node", 1, kMaxWorldSize);
  if (!g.ok()) return g.status();
  auto intra = ReadLink(keys, "intra_alpha_us", "intra_gbps");
  if (!intra.ok()) return intra.status();
  auto inter = ReadLink(keys, "inter_alpha_us", "inter_gbps");
  if (!inter.ok()) return inter.status();
  return std::unique_ptr<NetworkModel>(new HierarchicalModel(
      *g, intra->alpha_us, intra->gbps, inter->alpha_us, inter->gbps,
      absl::StrCat("hier:ranks_per_node=", *g, ",intra_alpha_us=",
                   Num(intra->alpha_us), ",intra_gbps=", Num(intra->gbps),
                   ",inter_alpha_us=", Num(inter->alpha_us),
                   ",inter_gbps=", Num(inter->gbps))));
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeRecorded(
    const SpecKeys& keys, const std::map<std::string, std::string>& values,
    const NetworkContext& context) {
  if (auto s = keys.CheckKeys({}, {"overlap", "algorithm"}); !s.ok()) return s;
  if (context.recorded_world_size <= 1 || context.recorded.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "network 'recorded': the trace has no all-reduce measurements (it ",
        "was recorded on ", std::max(1, context.recorded_world_size),
        " rank(s)); choose a model or preset instead: ", NetworkSpecHelp()));
  }
  std::vector<AllReduceSample> points = context.recorded;
  std::sort(points.begin(), points.end(),
            [](const AllReduceSample& a, const AllReduceSample& b) {
              return a.bytes < b.bytes;
            });
  std::vector<AllReduceSample> clean;
  for (const AllReduceSample& s : points) {
    if (s.bytes <= 0 || s.ns < 0) continue;
    if (!clean.empty() && clean.back().bytes == s.bytes) continue;
    clean.push_back(s);
  }
  if (clean.empty()) {
    return absl::FailedPreconditionError(
        "network 'recorded': the trace's all-reduce measurements are all "
        "empty");
  }
  double overlap = context.recorded_overlap;
  std::vector<std::string> given;
  if (values.count("algorithm") > 0) {
    given.push_back(absl::StrCat("algorithm=", values.at("algorithm")));
  }
  const std::string algorithm_name = values.count("algorithm") > 0
                                         ? values.at("algorithm")
                                         : context.recorded_algorithm;
  auto algorithm = comm::ParseAllReduceAlgorithm(algorithm_name);
  if (!algorithm.ok() || algorithm_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("network '", keys.spec(), "': algorithm=", algorithm_name,
                     " must be ring or mpich"));
  }
  if (values.count("overlap") > 0) {
    auto o = keys.Positive("overlap", 0, 1, false);
    if (!o.ok()) return o.status();
    overlap = *o;
    given.push_back(absl::StrCat("overlap=", Num(overlap)));
  }
  const std::string canonical =
      given.empty() ? "recorded"
                    : absl::StrCat("recorded:", absl::StrJoin(given, ","));
  return std::unique_ptr<NetworkModel>(
      new RecordedModel(std::move(clean), context.recorded_world_size,
                        std::min(1.0, std::max(0.0, overlap)), *algorithm,
                        context.nonblocking_buckets, canonical));
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeFromParts(
    const std::string& spec, const std::string& name,
    const std::map<std::string, std::string>& values,
    const NetworkContext& context) {
  const SpecKeys keys(spec, name, values);
  if (name == "ring" || name == "tree" || name == "mpich") {
    return MakeRingOrTree(name, keys);
  }
  if (name == "ps") return MakeParameterServer(keys);
  if (name == "hosts") return MakeHosts(keys, values);
  if (name == "hier") return MakeHierarchical(keys);
  if (name == "recorded") return MakeRecorded(keys, values, context);
  return absl::InvalidArgumentError(absl::StrCat(
      "network '", spec, "': unknown model '", name, "'; ", NetworkSpecHelp()));
}

// The calibrations of the operation the gradient buckets use (files written
// before operations were recorded hold blocking ones); all of them when the
// file has none of that operation.
std::vector<comm::Calibration> OfOperation(std::vector<comm::Calibration> all,
                                           bool nonblocking) {
  std::vector<comm::Calibration> kept;
  for (const comm::Calibration& c : all) {
    if ((c.operation() == "iallreduce") == nonblocking) kept.push_back(c);
  }
  return kept.empty() ? all : kept;
}

}  // namespace

void SetRecordedAlgorithm(const std::string& allreduce_algorithm,
                          const std::string& comm_mode,
                          NetworkContext& context) {
  context.recorded_algorithm = allreduce_algorithm == "ring" ? "ring" : "mpich";
  context.nonblocking_buckets = comm_mode != "sync";
}

absl::Status NetworkModel::CheckWorldSize(int world_size) const {
  if (world_size >= 1 && world_size <= kMaxWorldSize) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "world size ", world_size, " is impossible; valid: 1..", kMaxWorldSize));
}

int64_t RingNs(double alpha_s, double beta_s_per_byte, int64_t bytes,
               int world_size) {
  if (world_size <= 1 || bytes <= 0) return 0;
  const double p = static_cast<double>(world_size);
  return ToNs(2.0 * (p - 1.0) * alpha_s + 2.0 * (p - 1.0) / p *
                                              static_cast<double>(bytes) *
                                              beta_s_per_byte);
}

const std::vector<NetworkPreset>& NetworkPresets() {
  static const std::vector<NetworkPreset>* presets =
      new std::vector<NetworkPreset>{
          {"1gbe", "ring:alpha_us=50,gbps=0.94",
           "1 Gb/s Ethernet, kernel TCP: 94% of line rate, 50 us per step"},
          {"10gbe", "ring:alpha_us=20,gbps=9.4",
           "10 Gb/s Ethernet, kernel TCP: 94% of line rate, 20 us per step"},
          {"25gbe", "ring:alpha_us=10,gbps=23.5",
           "25 Gb/s Ethernet, kernel TCP: 94% of line rate, 10 us per step"},
          {"ib100", "ring:alpha_us=1.5,gbps=96",
           "100 Gb/s InfiniBand EDR, RDMA: 96 Gb/s, 1.5 us per step"},
      };
  return *presets;
}

std::string NetworkSpecHelp() {
  std::vector<std::string> presets;
  for (const NetworkPreset& p : NetworkPresets()) presets.push_back(p.name);
  return absl::StrCat(
      "valid networks: presets ", absl::StrJoin(presets, ", "),
      "; models ring:alpha_us=A,gbps=G | mpich:alpha_us=A,gbps=G | "
      "tree:alpha_us=A,gbps=G | "
      "ps:servers=M,alpha_us=A,gbps=G | hier:ranks_per_node=R,"
      "intra_alpha_us=A,intra_gbps=G,inter_alpha_us=A,inter_gbps=G | "
      "hosts:gbps=G1/G2/...,alpha_us=A[,algorithm=mpich|ring] | "
      "recorded[:algorithm=ring|mpich] | calibration:FILE");
}

absl::StatusOr<std::unique_ptr<NetworkModel>> MakeNetworkModel(
    absl::string_view spec_view, const NetworkContext& context) {
  const std::string spec(absl::StripAsciiWhitespace(spec_view));
  if (spec.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty network spec; ", NetworkSpecHelp()));
  }
  for (const NetworkPreset& p : NetworkPresets()) {
    if (spec == p.name) {
      auto model = MakeNetworkModel(p.spec, context);
      if (!model.ok()) return model.status();
      // Presets keep their name, so reports say "1gbe".
      const double overlap = (*model)->Overlap();
      return std::unique_ptr<NetworkModel>(
          new Relabeled(*std::move(model), overlap, p.name));
    }
  }
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  if (name == "calibration") {
    const std::string file =
        colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (file.empty()) {
      return absl::InvalidArgumentError(
          "network 'calibration' needs a file: calibration:FILE (written by "
          "bazel run //comm:calibrate -- --out=FILE)");
    }
    auto calibrations = comm::ReadCalibrations(base::ResolveUserPath(file));
    if (!calibrations.ok()) {
      return absl::Status(calibrations.status().code(),
                          absl::StrCat("network '", spec,
                                       "': ", calibrations.status().message()));
    }
    return std::unique_ptr<NetworkModel>(new CalibrationModel(
        OfOperation(*std::move(calibrations), context.nonblocking_buckets),
        absl::StrCat("calibration:", file)));
  }
  std::map<std::string, std::string> values;
  if (colon != std::string::npos) {
    const std::string rest = spec.substr(colon + 1);
    for (absl::string_view part : absl::StrSplit(rest, ',')) {
      part = absl::StripAsciiWhitespace(part);
      const size_t eq = part.find('=');
      if (part.empty() || eq == absl::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("network '", spec, "': '", part,
                         "' is not key=value; ", NetworkSpecHelp()));
      }
      const std::string key(part.substr(0, eq));
      if (!values.emplace(key, std::string(part.substr(eq + 1))).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("network '", spec, "': key '", key, "' given twice"));
      }
    }
  }
  auto model = MakeFromParts(spec, name, values, context);
  if (!model.ok() || name == "recorded" || values.count("overlap") == 0) {
    return model;
  }
  auto overlap = SpecKeys(spec, name, values).Positive("overlap", 0, 1, false);
  if (!overlap.ok()) return overlap.status();
  const std::string canonical =
      absl::StrCat((*model)->spec(), ",overlap=", Num(*overlap));
  return std::unique_ptr<NetworkModel>(
      new Relabeled(*std::move(model), *overlap, canonical));
}

}  // namespace freezing::sim
