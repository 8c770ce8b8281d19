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

namespace freezing::comm {

namespace {

// Weight: kRelative weighs each point by 1/T²; the others weigh alike.
double Weight(const CalibrationPoint& p, FitMethod method) {
  return method == FitMethod::kRelative ? 1 / (p.median_s() * p.median_s()) : 1;
}

// FitLine: weighted least squares of T = a + b·n.
void FitLine(const std::vector<CalibrationPoint>& points, FitMethod method,
             double* a, double* b) {
  double w_sum = 0, x_sum = 0, y_sum = 0, xx_sum = 0, xy_sum = 0;
  for (const CalibrationPoint& p : points) {
    const double x = static_cast<double>(p.bytes());
    const double y = p.median_s();
    const double w = Weight(p, method);
    w_sum += w;
    x_sum += w * x;
    y_sum += w * y;
    xx_sum += w * x * x;
    xy_sum += w * x * y;
  }
  *b = (w_sum * xy_sum - x_sum * y_sum) / (w_sum * xx_sum - x_sum * x_sum);
  *a = (y_sum - *b * x_sum) / w_sum;
}

// FitSlope: weighted least squares of T = a + b·n for a given intercept `a`.
void FitSlope(const std::vector<CalibrationPoint>& points, FitMethod method,
              double a, double* b) {
  double xx_sum = 0, xy_sum = 0;
  for (const CalibrationPoint& p : points) {
    const double x = static_cast<double>(p.bytes());
    const double w = Weight(p, method);
    xx_sum += w * x * x;
    xy_sum += w * x * (p.median_s() - a);
  }
  *b = xy_sum / xx_sum;
}

}  // namespace

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

absl::StatusOr<Calibration> FitRingModel(
    const std::vector<CalibrationPoint>& points, int world_size,
    FitMethod method) {
  if (world_size < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ring model needs at least 2 ranks, got ", world_size));
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
  double a = 0;
  double b = 0;
  if (method == FitMethod::kHybrid) {
    double unused_b = 0;
    FitLine(points, FitMethod::kRelative, &a, &unused_b);
    a = std::max(a, 0.0);
    FitSlope(points, FitMethod::kAbsolute, a, &b);
  } else {
    FitLine(points, method, &a, &b);
  }
  // Keep the model physical: no negative latency or bandwidth cost.
  if (a < 0) {
    a = 0;
    FitSlope(points, method, 0, &b);
  }
  if (b < 0) {
    b = 0;
    double w_sum = 0;
    double y_sum = 0;
    for (const CalibrationPoint& p : points) {
      const double w = Weight(p, method);
      w_sum += w;
      y_sum += w * p.median_s();
    }
    a = y_sum / w_sum;
  }
  const double p = world_size;
  Calibration c;
  c.set_world_size(world_size);
  c.set_alpha_s(a / (2 * (p - 1)));
  c.set_beta_s_per_byte(b * p / (2 * (p - 1)));
  c.set_fit(FitMethodName(method));
  double mean = 0;
  for (const CalibrationPoint& pt : points) mean += pt.median_s();
  mean /= points.size();
  double ss_res = 0, ss_tot = 0, max_rel = 0;
  for (const CalibrationPoint& pt : points) {
    const double predicted = RingAllReduceSeconds(c, pt.bytes());
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

double RingAllReduceSeconds(const Calibration& c, int64_t bytes) {
  const double p = c.world_size();
  return 2 * (p - 1) * c.alpha_s() +
         2 * (p - 1) / p * static_cast<double>(bytes) * c.beta_s_per_byte();
}

absl::Status WriteCalibration(const Calibration& calibration,
                              const std::string& path) {
  return base::WriteFileAtomically(path, base::ProtoToJson(calibration));
}

absl::StatusOr<Calibration> ReadCalibration(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open calibration file ", path, ": ", std::strerror(errno),
        " (make one with: bazel run //comm:calibrate -- --ranks=2 --out=", path,
        ")"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  Calibration c;
  const auto status =
      google::protobuf::util::JsonStringToMessage(buffer.str(), &c);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat(
        path, " is not a calibration (JSON of freezing.comm.Calibration): ",
        status.ToString()));
  }
  if (c.world_size() < 2 || c.alpha_s() < 0 || !(c.beta_s_per_byte() > 0) ||
      !std::isfinite(c.alpha_s()) || !std::isfinite(c.beta_s_per_byte())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": impossible calibration: world_size=", c.world_size(),
        " (>= 2), alpha_s=", c.alpha_s(),
        " (>= 0), beta_s_per_byte=", c.beta_s_per_byte(), " (> 0)"));
  }
  return c;
}

}  // namespace freezing::comm
