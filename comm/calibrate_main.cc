// Measures all-reduce times over message sizes, for the operations the
// trainer runs, and fits the all-reduce model of the algorithm the MPI
// library runs, for the simulator (`replay --network=calibration:FILE`):
//
//   bazel run //comm:calibrate -- --ranks=2 --out=calibration.json
//   bazel run //comm:calibrate -- --world_sizes=2,3,4 --cluster --out=c.json
//
// Each size: warm-up, then repeats of barrier + all-reduce timed on every
// rank; a repeat's time is the slowest rank's, a size's time the median of
// its repeats. --op picks MPI_Allreduce (blocking: the trainer's sync mode
// and its statistics), MPI_Iallreduce + wait (the gradient buckets in hooks
// and thread mode) or both. --world_sizes runs one job per world size (no
// idle ranks to steal the cores) and writes them all into one file.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/cli.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "base/user_path.h"
#include "comm/allreduce_settings.h"
#include "comm/calibration.h"
#include "comm/communicator.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"

ABSL_FLAG(int, ranks, 2, "MPI ranks; relaunches under mpiexec when > 1");
ABSL_FLAG(bool, cluster, false, freezing::comm::kClusterFlagHelp);
ABSL_FLAG(std::string, out, "",
          "calibration file to write (JSON; its folder is created), for "
          "replay --network=calibration:FILE and train --calibration=FILE; "
          "relative to where bazel run was typed; without it nothing is "
          "written");
ABSL_FLAG(int64_t, min_bytes, 4 << 10, "smallest message, bytes");
ABSL_FLAG(int64_t, max_bytes, 64 << 20, "largest message, bytes");
ABSL_FLAG(std::string, fit, "hybrid",
          "hybrid (alpha from the relative fit, beta by least squares on "
          "the times), absolute (ordinary least squares) or relative (least "
          "squares of relative errors)");
ABSL_FLAG(std::string, op, "both",
          "allreduce (MPI_Allreduce), iallreduce (MPI_Iallreduce + wait) or "
          "both");
ABSL_FLAG(std::string, model, "",
          "the algorithm whose alpha and beta are fitted: mpich (MPICH's own "
          "selection) or ring; default: what --allreduce_algorithm makes MPI "
          "run");
ABSL_FLAG(std::string, allreduce_algorithm, "auto",
          "auto (ring across hosts, MPICH's own choice on one host), ring or "
          "mpich (MPICH's own choice), as the trainer's flag of the same "
          "name");
ABSL_FLAG(std::string, world_sizes, "",
          "e.g. 2,3,4: one job per world size (instead of --ranks), all "
          "written to --out");
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
  AllReduceAlgorithm model;
  std::vector<bool> nonblocking;  // the operations to time
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

absl::StatusOr<double> TimeOne(Communicator& c, std::vector<float>& buffer,
                               bool nonblocking) {
  RETURN_IF_ERROR(c.Barrier());
  const auto start = std::chrono::steady_clock::now();
  if (nonblocking) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<PendingOp> op,
        c.StartAllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
    RETURN_IF_ERROR(op->Wait());
  } else {
    RETURN_IF_ERROR(
        c.AllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return MaxOverRanks(c, seconds);
}

absl::StatusOr<CalibrationPoint> Measure(Communicator& c, int64_t bytes,
                                         bool nonblocking,
                                         const Config& config) {
  std::vector<float> buffer(bytes / 4, 1.0f);
  for (int i = 0; i < config.warmup; ++i) {
    RETURN_IF_ERROR(TimeOne(c, buffer, nonblocking).status());
  }
  // Every rank sees the same times, so all choose the same repeats.
  ASSIGN_OR_RETURN(const double first, TimeOne(c, buffer, nonblocking));
  const int repeats = std::clamp(
      static_cast<int>(config.seconds_per_size / std::max(first, 1e-9)),
      config.min_repeats, 1000);
  std::vector<double> times = {first};
  while (static_cast<int>(times.size()) < repeats) {
    ASSIGN_OR_RETURN(const double t, TimeOne(c, buffer, nonblocking));
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

const char* OpName(bool nonblocking) {
  return nonblocking ? "iallreduce" : "allreduce";
}

// One operation over every size; rank 0 prints the points as they come.
absl::StatusOr<std::vector<CalibrationPoint>> MeasureOp(Communicator& c,
                                                        bool nonblocking,
                                                        const Config& config) {
  const bool report = c.rank() == 0;
  if (report) {
    std::printf("%s:\n%12s %12s %12s %12s %8s %10s\n", OpName(nonblocking),
                "bytes", "median_us", "min_us", "max_us", "repeats",
                "ring_GB/s");
  }
  std::vector<CalibrationPoint> points;
  for (int64_t bytes = config.min_bytes; bytes <= config.max_bytes;
       bytes *= 2) {
    ASSIGN_OR_RETURN(CalibrationPoint point,
                     Measure(c, bytes, nonblocking, config));
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
  return points;
}

void PrintFit(const Calibration& c) {
  std::printf(
      "fit (%s, %s model, %s) at p=%d:\n  alpha = %.3f us\n"
      "  beta  = %.6f ns/byte (%.3f GB/s)\n  R^2   = %.4f\n"
      "  max relative error = %.1f%%\n",
      c.fit().c_str(), c.algorithm().c_str(), c.operation().c_str(),
      c.world_size(), c.alpha_s() * 1e6, c.beta_s_per_byte() * 1e9,
      c.beta_s_per_byte() > 0 ? 1e-9 / c.beta_s_per_byte() : 0.0, c.r_squared(),
      c.max_relative_error() * 100);
  if (c.r_squared() < 0.95) {
    std::printf(
        "warning: R^2 < 0.95: the model fits these times poorly (a busy "
        "machine? try again, or more repeats)\n");
  }
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
  const char* tls = std::getenv("UCX_TLS");
  if (report) {
    std::vector<std::string> settings;
    for (const auto& [name, value] : AllReduceSettings()) {
      settings.push_back(absl::StrCat(name, "=", value));
    }
    std::printf(
        "calibrate: %d ranks on %zu host(s), UCX_TLS=%s, %s\n", c.size(),
        std::set<std::string>(hosts.begin(), hosts.end()).size(),
        tls != nullptr ? tls : "default", absl::StrJoin(settings, " ").c_str());
  }
  std::vector<Calibration> calibrations;
  for (const bool nonblocking : config.nonblocking) {
    ASSIGN_OR_RETURN(std::vector<CalibrationPoint> points,
                     MeasureOp(c, nonblocking, config));
    if (!report) continue;
    ASSIGN_OR_RETURN(Calibration calibration,
                     FitAllReduceModel(points, c.size(), config.fit,
                                       {config.model, nonblocking}));
    for (const std::string& h : hosts) calibration.add_hosts(h);
    calibration.set_ranks_per_host(RanksOnThisHost(c.size()));
    calibration.set_transport(tls != nullptr ? tls : "default");
    calibration.set_mpi_library(session.library_version());
    for (const auto& [name, value] : AllReduceSettings()) {
      MpiSetting* m = calibration.add_mpi_settings();
      m->set_name(name);
      m->set_value(value);
    }
    PrintFit(calibration);
    calibrations.push_back(std::move(calibration));
  }
  // Tests only (binaries_test.sh): rank 0 ends the job with status 3
  // `before` or `after` writing its file, as a failure at exit does.
  const char* test_exit = std::getenv("FREEZING_TEST_CALIBRATE_EXIT");
  const std::string exit_at = test_exit == nullptr ? "" : test_exit;
  if (report && exit_at == "before") std::_Exit(3);
  if (report && !config.out.empty()) {
    RETURN_IF_ERROR(WriteCalibrations(calibrations, config.out));
    std::printf("wrote %s (use it: replay --network=calibration:%s)\n",
                config.out.c_str(), config.out.c_str());
  }
  if (report && exit_at == "after") {
    std::fflush(stdout);
    std::_Exit(3);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::comm

namespace freezing::comm {
namespace {

const base::CliSpec& Cli() {
  static const auto* cli = new base::CliSpec{
      "calibrate",
      "measures all-reduce times and fits the network model the simulator "
      "uses",
      {"bazel run //comm:calibrate -- --ranks=N --out=FILE [flags]"},
      {{"distributed", {"ranks", "cluster", "world_sizes"}},
       {"measurement",
        {"op", "min_bytes", "max_bytes", "warmup", "min_repeats",
         "seconds_per_size"}},
       {"model", {"model", "allreduce_algorithm", "fit"}},
       {"outputs", {"out"}}},
      {"bazel run //comm:calibrate -- --ranks=2 --out=/tmp/net.json",
       "bazel run //comm:calibrate -- --world_sizes=2,3,4 --cluster "
       "--out=/tmp/c.json"},
      "Use the file with bazel run //replay -- TRACE "
      "--network=calibration:FILE (what-ifs on this network), or record it "
      "in a run's trace with bazel run //train -- --calibration=FILE. See "
      "comm/README.md.",
      /*max_positional=*/0};
  return *cli;
}

// The configuration from the flags, checked before anything is launched;
// --out's folder is created.
absl::StatusOr<Config> ConfigFromFlags() {
  Config config;
  config.out = base::ResolveUserPath(absl::GetFlag(FLAGS_out));
  if (!config.out.empty()) {
    absl::Status made = base::MakeDirs(base::FolderOf(config.out));
    if (!made.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--out=", config.out, ": ", made.message()));
    }
  }
  config.min_bytes = absl::GetFlag(FLAGS_min_bytes);
  config.max_bytes = absl::GetFlag(FLAGS_max_bytes);
  config.warmup = absl::GetFlag(FLAGS_warmup);
  config.min_repeats = absl::GetFlag(FLAGS_min_repeats);
  config.seconds_per_size = absl::GetFlag(FLAGS_seconds_per_size);
  if (config.min_bytes < 4 || config.max_bytes < config.min_bytes ||
      config.min_repeats < 1) {
    return absl::InvalidArgumentError(
        "need 4 <= --min_bytes <= --max_bytes and --min_repeats >= 1");
  }
  ASSIGN_OR_RETURN(config.fit, ParseFitMethod(absl::GetFlag(FLAGS_fit)));
  const std::string op = absl::GetFlag(FLAGS_op);
  if (op == "allreduce" || op == "both") config.nonblocking.push_back(false);
  if (op == "iallreduce" || op == "both") config.nonblocking.push_back(true);
  if (config.nonblocking.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--op=", op, ": valid: allreduce, iallreduce, both"));
  }
  LaunchOptions launch;
  launch.cluster = absl::GetFlag(FLAGS_cluster);
  RETURN_IF_ERROR(PinAllReduceAlgorithm(
      absl::GetFlag(FLAGS_allreduce_algorithm), SpansSeveralHosts(launch)));
  const std::string model = absl::GetFlag(FLAGS_model);
  ASSIGN_OR_RETURN(config.model,
                   ParseAllReduceAlgorithm(
                       model.empty() ? AllReduceAlgorithmInEffect() : model));
  return config;
}

absl::StatusOr<std::vector<int>> ParseWorldSizes(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int p = 0;
    if (!absl::SimpleAtoi(part, &p) || p < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("--world_sizes=", text,
                       ": a comma list of world sizes, each at least 2"));
    }
    out.push_back(p);
  }
  return out;
}

// Runs `args` (args[0] the program) with this process's output, and waits.
absl::Status RunAndWait(const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> c_argv;
  for (std::string& a : copy) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(c_argv[0], c_argv.data());
    _exit(127);
  }
  if (pid < 0) return absl::InternalError("fork failed");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("the calibration job `",
                                            absl::StrJoin(args, " "),
                                            "` failed (status ", status, ")"));
  }
  return absl::OkStatus();
}

// --world_sizes: this process runs itself once per world size (--ranks=p,
// the other flags as given, its own temporary --out), then writes every
// calibration into --out.
absl::Status RunPerWorldSize(const std::vector<int>& sizes, int argc,
                             char** argv, const std::string& out) {
  std::vector<std::string> kept;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool ours = absl::StartsWith(a, "--ranks") ||
                      absl::StartsWith(a, "--world_sizes") ||
                      absl::StartsWith(a, "--out");
    if (ours && a.find('=') == std::string::npos) ++i;  // "--out FILE"
    if (!ours) kept.push_back(a);
  }
  std::vector<Calibration> all;
  for (const int p : sizes) {
    const std::string part =
        absl::StrCat(out.empty() ? "/tmp/calibrate" : out, ".p", p, ".tmp");
    std::vector<std::string> args = {"/proc/self/exe",
                                     absl::StrCat("--ranks=", p),
                                     absl::StrCat("--out=", part)};
    args.insert(args.end(), kept.begin(), kept.end());
    std::remove(part.c_str());  // a stale file must not pass for this job's
    const absl::Status run = RunAndWait(args);
    absl::StatusOr<std::vector<Calibration>> these = ReadCalibrations(part);
    if (!run.ok()) {
      // The job's file is written atomically after its last measurement: a
      // job that failed after writing it failed at exit (MPICH 4.0.2's
      // MPI_Finalize hang over UCX TCP, comm/mpi_session.h: Hydra reports
      // an error when the hang's bound ends some ranks while others wait in
      // its exit barrier; frequent on the emulated cluster), and its result
      // stands.
      if (!these.ok()) return run;
      std::fprintf(stderr,
                   "calibrate: warning: %s, after writing its calibration "
                   "(%s): kept; the failure came at MPI's exit\n",
                   std::string(run.message()).c_str(), part.c_str());
    }
    RETURN_IF_ERROR(these.status());
    std::remove(part.c_str());
    all.insert(all.end(), these->begin(), these->end());
  }
  if (out.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(WriteCalibrations(all, out));
  std::printf(
      "wrote %s: %zu calibrations (use it: replay "
      "--network=calibration:%s)\n",
      out.c_str(), all.size(), out.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::comm

int main(int argc, char** argv) {
  using freezing::base::ReportError;
  using freezing::comm::MpiSession;
  freezing::base::ParseCommandLineOrExit(freezing::comm::Cli(), argc, argv);
  auto config = freezing::comm::ConfigFromFlags();
  if (!config.ok()) return ReportError("calibrate", config.status());
  const std::string world_sizes = absl::GetFlag(FLAGS_world_sizes);
  if (!world_sizes.empty() && !freezing::comm::UnderMpiexec()) {
    auto sizes = freezing::comm::ParseWorldSizes(world_sizes);
    absl::Status s = sizes.ok() ? freezing::comm::RunPerWorldSize(
                                      *sizes, argc, argv, config->out)
                                : sizes.status();
    if (!s.ok()) return ReportError("calibrate", s, sizes.ok() ? 1 : 2);
    return 0;
  }
  freezing::comm::LaunchOptions launch;
  launch.ranks = absl::GetFlag(FLAGS_ranks);
  launch.cluster = absl::GetFlag(FLAGS_cluster);
  if (const absl::Status s =
          freezing::comm::RelaunchUnderMpiexec(launch, argc, argv);
      !s.ok()) {
    return ReportError("calibrate", s, 1);
  }
  auto session = MpiSession::Init(freezing::comm::ThreadLevel::kFunneled);
  if (!session.ok()) MpiSession::AbortJob(session.status());
  const absl::Status status = freezing::comm::Run(**session, *config);
  if (!status.ok()) MpiSession::AbortJob(status);
  return (*session)->Finalize().ok() ? 0 : 1;
}
