#include "comm/calibration.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/proto_json.h"
#include "base/status_macros.h"

namespace freezing::comm {

namespace {

// Weight: kRelative weighs each point by 1/T²; the others weigh alike.
double Weight(const CalibrationPoint& p, FitMethod method) {
  return method == FitMethod::kRelative ? 1 / (p.median_s() * p.median_s()) : 1;
}

// A point's features: T = alpha·a + beta·b.
struct Features {
  double a = 0;
  double b = 0;
};

Features FeaturesOf(const CalibrationPoint& p, int world_size,
                    ModelChoice model) {
  const AllReduceTerms t = AllReduceTermsOf(model.algorithm, world_size,
                                            p.bytes(), model.nonblocking);
  return {t.alpha_steps, t.byte_factor * static_cast<double>(p.bytes())};
}

// FitBoth: weighted least squares of T = alpha·a + beta·b (the normal
// equations of two features; with a constant `a` this is a line with an
// intercept).
void FitBoth(const std::vector<CalibrationPoint>& points,
             const std::vector<Features>& f, FitMethod method, double* alpha,
             double* beta) {
  double aa = 0, ab = 0, bb = 0, at = 0, bt = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const double w = Weight(points[i], method);
    const double t = points[i].median_s();
    aa += w * f[i].a * f[i].a;
    ab += w * f[i].a * f[i].b;
    bb += w * f[i].b * f[i].b;
    at += w * f[i].a * t;
    bt += w * f[i].b * t;
  }
  const double det = aa * bb - ab * ab;
  *alpha = (at * bb - bt * ab) / det;
  *beta = (aa * bt - ab * at) / det;
}

// FitOne: weighted least squares of the coefficient of `b` (`use_b`) or of
// `a` with the other coefficient fixed at `other`.
double FitOne(const std::vector<CalibrationPoint>& points,
              const std::vector<Features>& f, FitMethod method, bool use_b,
              double other) {
  double xx = 0, xy = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const double w = Weight(points[i], method);
    const double x = use_b ? f[i].b : f[i].a;
    const double fixed = use_b ? f[i].a * other : f[i].b * other;
    xx += w * x * x;
    xy += w * x * (points[i].median_s() - fixed);
  }
  return xx > 0 ? xy / xx : 0;
}

int FloorPowerOfTwo(int p) {
  int q = 1;
  while (q * 2 <= p) q *= 2;
  return q;
}

int Log2(int power_of_two) {
  int k = 0;
  while ((1 << k) < power_of_two) ++k;
  return k;
}

}  // namespace

AllReduceTerms AllReduceTermsOf(AllReduceAlgorithm algorithm, int world_size,
                                int64_t bytes, bool nonblocking) {
  AllReduceTerms t;
  if (world_size <= 1 || bytes <= 0) return t;
  const double p = world_size;
  if (algorithm == AllReduceAlgorithm::kRing) {
    t.alpha_steps = 2 * (p - 1);
    t.byte_factor = 2 * (p - 1) / p;
    return t;
  }
  const int pof2 = FloorPowerOfTwo(world_size);
  const double extra = world_size > pof2 ? 2 : 0;
  const int64_t count = bytes / 4;
  const int64_t small = nonblocking ? 2048 : 8;
  if (bytes <= small || count < pof2) {
    // Recursive doubling: every step exchanges the whole vector.
    t.alpha_steps = Log2(pof2) + extra;
    t.byte_factor = Log2(pof2) + extra;
    return t;
  }
  t.alpha_steps = 2 * Log2(pof2) + extra;
  t.byte_factor = 2.0 * (pof2 - 1) / pof2 + extra;
  return t;
}

absl::StatusOr<AllReduceAlgorithm> ParseAllReduceAlgorithm(
    const std::string& text) {
  if (text.empty() || text == "ring") return AllReduceAlgorithm::kRing;
  if (text == "mpich") return AllReduceAlgorithm::kMpich;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown all-reduce algorithm '", text, "'; valid: ring, mpich"));
}

const char* AllReduceAlgorithmName(AllReduceAlgorithm algorithm) {
  return algorithm == AllReduceAlgorithm::kRing ? "ring" : "mpich";
}

absl::StatusOr<FitMethod> ParseFitMethod(const std::string& text) {
  if (text == "hybrid") return FitMethod::kHybrid;
  if (text == "absolute") return FitMethod::kAbsolute;
  if (text == "relative") return FitMethod::kRelative;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown fit method '", text, "'; valid: hybrid, absolute, relative"));
}

const char* FitMethodName(FitMethod method) {
  switch (method) {
    case FitMethod::kHybrid:
      return "hybrid";
    case FitMethod::kAbsolute:
      return "absolute";
    case FitMethod::kRelative:
      return "relative";
  }
  return "unknown";
}

absl::StatusOr<Calibration> FitAllReduceModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method, ModelChoice model) {
  if (world_size < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an all-reduce model needs at least 2 ranks, got ", world_size));
  }
  std::set<int64_t> sizes;
  for (const CalibrationPoint& p : points) {
    if (!(p.median_s() > 0) || p.bytes() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("point of ", p.bytes(), " bytes has time ", p.median_s(),
                       " s; times must be positive"));
    }
    sizes.insert(p.bytes());
  }
  if (sizes.size() < 2) {
    return absl::InvalidArgumentError(
        "fitting needs at least two distinct message sizes");
  }
  std::vector<Features> f;
  for (const CalibrationPoint& p : points) {
    f.push_back(FeaturesOf(p, world_size, model));
  }
  double alpha = 0;
  double beta = 0;
  if (method == FitMethod::kHybrid) {
    double unused_beta = 0;
    FitBoth(points, f, FitMethod::kRelative, &alpha, &unused_beta);
    alpha = std::max(alpha, 0.0);
    beta = FitOne(points, f, FitMethod::kAbsolute, /*use_b=*/true, alpha);
  } else {
    FitBoth(points, f, method, &alpha, &beta);
  }
  // Keep the model physical: no negative latency or bandwidth cost.
  if (alpha < 0) {
    alpha = 0;
    beta = FitOne(points, f, method, /*use_b=*/true, 0);
  }
  if (beta < 0) {
    beta = 0;
    alpha = FitOne(points, f, method, /*use_b=*/false, 0);
  }
  Calibration c;
  c.set_world_size(world_size);
  c.set_alpha_s(alpha);
  c.set_beta_s_per_byte(beta);
  c.set_fit(FitMethodName(method));
  c.set_algorithm(AllReduceAlgorithmName(model.algorithm));
  c.set_operation(model.nonblocking ? "iallreduce" : "allreduce");
  double mean = 0;
  for (const CalibrationPoint& pt : points) mean += pt.median_s();
  mean /= points.size();
  double ss_res = 0, ss_tot = 0, max_rel = 0;
  for (const CalibrationPoint& pt : points) {
    const double predicted = AllReduceSeconds(c, pt.bytes());
    ss_res += (pt.median_s() - predicted) * (pt.median_s() - predicted);
    ss_tot += (pt.median_s() - mean) * (pt.median_s() - mean);
    max_rel =
        std::max(max_rel, std::abs(predicted - pt.median_s()) / pt.median_s());
  }
  c.set_r_squared(ss_tot > 0 ? 1 - ss_res / ss_tot : 1);
  c.set_max_relative_error(max_rel);
  for (const CalibrationPoint& pt : points) *c.add_points() = pt;
  return c;
}

absl::StatusOr<Calibration> FitRingModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method) {
  return FitAllReduceModel(points, world_size, method,
                           {AllReduceAlgorithm::kRing, false});
}

double AllReduceSeconds(const Calibration& c, int64_t bytes, int world_size) {
  const int p = world_size > 0 ? world_size : c.world_size();
  // Validated files only (ReadCalibrations checks the name).
  const AllReduceAlgorithm algorithm = ParseAllReduceAlgorithm(c.algorithm())
                                           .value_or(AllReduceAlgorithm::kRing);
  const AllReduceTerms t =
      AllReduceTermsOf(algorithm, p, bytes, c.operation() == "iallreduce");
  return t.alpha_steps * c.alpha_s() +
         t.byte_factor * static_cast<double>(bytes) * c.beta_s_per_byte();
}

absl::Status WriteCalibration(const Calibration& calibration,
                              const std::string& path) {
  return base::WriteFileAtomically(path, base::ProtoToJson(calibration));
}

namespace {

absl::Status CheckCalibration(const std::string& path, const Calibration& c) {
  if (c.world_size() < 2 || c.alpha_s() < 0 || !(c.beta_s_per_byte() > 0) ||
      !std::isfinite(c.alpha_s()) || !std::isfinite(c.beta_s_per_byte())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": impossible calibration: world_size=", c.world_size(),
        " (>= 2), alpha_s=", c.alpha_s(),
        " (>= 0), beta_s_per_byte=", c.beta_s_per_byte(), " (> 0)"));
  }
  if (!ParseAllReduceAlgorithm(c.algorithm()).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown algorithm '", c.algorithm(),
                     "' (valid: ring, mpich)"));
  }
  if (!c.operation().empty() && c.operation() != "allreduce" &&
      c.operation() != "iallreduce") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown operation '", c.operation(),
                     "' (valid: allreduce, iallreduce)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Calibration>> ReadCalibrations(
    const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open calibration file ", path, ": ", text.status().message(),
        " (make one with: bazel run //comm:calibrate -- --ranks=2 --out=", path,
        ")"));
  }
  std::vector<Calibration> out;
  CalibrationSet set;
  if (google::protobuf::util::JsonStringToMessage(*text, &set).ok() &&
      set.calibrations_size() > 0) {
    out.assign(set.calibrations().begin(), set.calibrations().end());
  } else {
    Calibration c;
    const auto status = google::protobuf::util::JsonStringToMessage(*text, &c);
    if (!status.ok()) {
      return absl::DataLossError(absl::StrCat(
          path,
          " is not a calibration (JSON of freezing.comm.Calibration or "
          "CalibrationSet): ",
          status.ToString()));
    }
    out.push_back(std::move(c));
  }
  for (const Calibration& c : out) RETURN_IF_ERROR(CheckCalibration(path, c));
  return out;
}

absl::StatusOr<Calibration> ReadCalibration(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<Calibration> all, ReadCalibrations(path));
  return all.front();
}

absl::Status WriteCalibrations(const std::vector<Calibration>& calibrations,
                               const std::string& path) {
  if (calibrations.size() == 1) {
    return WriteCalibration(calibrations.front(), path);
  }
  CalibrationSet set;
  for (const Calibration& c : calibrations) *set.add_calibrations() = c;
  return base::WriteFileAtomically(path, base::ProtoToJson(set));
}

}  // namespace freezing::comm
