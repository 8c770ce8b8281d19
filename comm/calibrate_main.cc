// Measures all-reduce times over message sizes and fits the ring model
// T(n) = 2(p-1)·alpha + 2(p-1)/p·n·beta for the simulator:
//
//   bazel run //comm:calibrate -- --ranks=2 --out=calibration.json
//
// Each size: warm-up, then repeats of barrier + all-reduce timed on every
// rank; a repeat's time is the slowest rank's, a size's time the median of
// its repeats. Prints the points, alpha, beta and R², writes --out (JSON of
// comm/calibration.proto). With UCX_TLS=tcp,self MPI goes over TCP.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/user_path.h"
#include "comm/calibration.h"
#include "comm/communicator.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"

ABSL_FLAG(int, ranks, 2, "MPI ranks; relaunches under mpiexec when > 1");
ABSL_FLAG(bool, cluster, false, freezing::comm::kClusterFlagHelp);
ABSL_FLAG(std::string, out, "",
          "calibration file to write (JSON); relative to where bazel run "
          "was typed");
ABSL_FLAG(int64_t, min_bytes, 4 << 10, "smallest message, bytes");
ABSL_FLAG(int64_t, max_bytes, 64 << 20, "largest message, bytes");
ABSL_FLAG(std::string, fit, "hybrid",
          "hybrid (alpha from the relative fit, beta by least squares on "
          "the times), absolute (ordinary least squares) or relative (least "
          "squares of relative errors)");
ABSL_FLAG(int, warmup, 3, "untimed all-reduces per size");
ABSL_FLAG(int, min_repeats, 7, "timed all-reduces per size, at least");
ABSL_FLAG(double, seconds_per_size, 0.3,
          "time budget per size; more repeats for small messages");

namespace freezing::comm {
namespace {

struct Config {
  std::string out;
  int64_t min_bytes;
  int64_t max_bytes;
  FitMethod fit;
  int warmup;
  int min_repeats;
  double seconds_per_size;
};

double Max(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

// The slowest rank's value (every rank gets the same).
absl::StatusOr<double> MaxOverRanks(Communicator& c, double value) {
  std::vector<double> all(c.size());
  RETURN_IF_ERROR(c.AllGather(&value, 1, DType::kFloat64, all.data()));
  return Max(all);
}

absl::StatusOr<double> TimeOne(Communicator& c, std::vector<float>& buffer) {
  RETURN_IF_ERROR(c.Barrier());
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(
      c.AllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return MaxOverRanks(c, seconds);
}

absl::StatusOr<CalibrationPoint> Measure(Communicator& c, int64_t bytes,
                                         const Config& config) {
  std::vector<float> buffer(bytes / 4, 1.0f);
  for (int i = 0; i < config.warmup; ++i) {
    RETURN_IF_ERROR(TimeOne(c, buffer).status());
  }
  // Every rank sees the same times, so all choose the same repeats.
  ASSIGN_OR_RETURN(const double first, TimeOne(c, buffer));
  const int repeats = std::clamp(
      static_cast<int>(config.seconds_per_size / std::max(first, 1e-9)),
      config.min_repeats, 1000);
  std::vector<double> times = {first};
  while (static_cast<int>(times.size()) < repeats) {
    ASSIGN_OR_RETURN(const double t, TimeOne(c, buffer));
    times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  CalibrationPoint point;
  point.set_bytes(bytes);
  point.set_median_s(
      times.size() % 2 == 1
          ? times[times.size() / 2]
          : (times[times.size() / 2 - 1] + times[times.size() / 2]) / 2);
  point.set_min_s(times.front());
  point.set_max_s(times.back());
  point.set_repeats(static_cast<int>(times.size()));
  return point;
}

absl::Status Run(MpiSession& session, const Config& config) {
  Communicator& c = session.world();
  if (c.size() < 2) {
    return absl::InvalidArgumentError(
        "calibrate measures communication: run it with --ranks=2 or more");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> hosts,
                   c.AllGatherBytes(session.processor_name()));
  const bool report = c.rank() == 0;
  if (report) {
    std::printf("calibrate: %d ranks on %zu host(s), UCX_TLS=%s\n", c.size(),
                std::set<std::string>(hosts.begin(), hosts.end()).size(),
                std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : "default");
    std::printf("%12s %12s %12s %12s %8s %10s\n", "bytes", "median_us",
                "min_us", "max_us", "repeats", "bus_GB/s");
  }
  std::vector<CalibrationPoint> points;
  for (int64_t bytes = config.min_bytes; bytes <= config.max_bytes;
       bytes *= 2) {
    ASSIGN_OR_RETURN(CalibrationPoint point, Measure(c, bytes, config));
    if (report) {
      const double p = c.size();
      std::printf("%12lld %12.1f %12.1f %12.1f %8d %10.3f\n",
                  static_cast<long long>(bytes), point.median_s() * 1e6,
                  point.min_s() * 1e6, point.max_s() * 1e6, point.repeats(),
                  2 * (p - 1) / p * bytes / point.median_s() / 1e9);
      std::fflush(stdout);
    }
    points.push_back(point);
  }
  if (!report) return absl::OkStatus();
  ASSIGN_OR_RETURN(Calibration calibration,
                   FitRingModel(points, c.size(), config.fit));
  for (const std::string& h : hosts) calibration.add_hosts(h);
  calibration.set_ranks_per_host(RanksOnThisHost(c.size()));
  calibration.set_transport(std::getenv("UCX_TLS") ? std::getenv("UCX_TLS")
                                                   : "default");
  std::printf(
      "fit (%s) of T(n) = 2(p-1)*alpha + 2(p-1)/p*n*beta, "
      "p=%d:\n  alpha = %.3f us\n  beta  = %.6f ns/byte (%.3f GB/s)\n"
      "  R^2   = %.4f\n  max relative error = %.1f%%\n",
      FitMethodName(config.fit), c.size(), calibration.alpha_s() * 1e6,
      calibration.beta_s_per_byte() * 1e9,
      calibration.beta_s_per_byte() > 0 ? 1e-9 / calibration.beta_s_per_byte()
                                        : 0.0,
      calibration.r_squared(), calibration.max_relative_error() * 100);
  if (calibration.r_squared() < 0.95) {
    std::printf(
        "warning: R^2 < 0.95: the ring model fits these times "
        "poorly (a busy machine? try again, or more repeats)\n");
  }
  if (!config.out.empty()) {
    RETURN_IF_ERROR(WriteCalibration(calibration, config.out));
    std::printf("wrote %s\n", config.out.c_str());
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::comm

int main(int argc, char** argv) {
  using freezing::comm::MpiSession;
  absl::ParseCommandLine(argc, argv);
  freezing::comm::LaunchOptions launch;
  launch.ranks = absl::GetFlag(FLAGS_ranks);
  launch.cluster = absl::GetFlag(FLAGS_cluster);
  if (const absl::Status s =
          freezing::comm::RelaunchUnderMpiexec(launch, argc, argv);
      !s.ok()) {
    std::fprintf(stderr, "calibrate: %s\n", s.ToString().c_str());
    return 1;
  }
  freezing::comm::Config config;
  config.out = freezing::base::ResolveUserPath(absl::GetFlag(FLAGS_out));
  config.min_bytes = absl::GetFlag(FLAGS_min_bytes);
  config.max_bytes = absl::GetFlag(FLAGS_max_bytes);
  config.warmup = absl::GetFlag(FLAGS_warmup);
  config.min_repeats = absl::GetFlag(FLAGS_min_repeats);
  config.seconds_per_size = absl::GetFlag(FLAGS_seconds_per_size);
  auto fit = freezing::comm::ParseFitMethod(absl::GetFlag(FLAGS_fit));
  if (!fit.ok() || config.min_bytes < 4 ||
      config.max_bytes < config.min_bytes || config.min_repeats < 1) {
    std::fprintf(stderr, "calibrate: %s\n",
                 !fit.ok() ? fit.status().ToString().c_str()
                           : "need 4 <= --min_bytes <= --max_bytes and "
                             "--min_repeats >= 1");
    return 2;
  }
  config.fit = *fit;
  auto session = MpiSession::Init(freezing::comm::ThreadLevel::kFunneled);
  if (!session.ok()) MpiSession::AbortJob(session.status());
  const absl::Status status = freezing::comm::Run(**session, config);
  if (!status.ok()) MpiSession::AbortJob(status);
  return (*session)->Finalize().ok() ? 0 : 1;
}
