#include "comm/mpi_benchmark_main.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "benchmark/benchmark.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"

namespace freezing::comm::benchmarking {
namespace {

MpiSession* g_session = nullptr;

// --cluster, --cluster=true|false: the launcher's, not the benchmark's.
bool IsClusterFlag(absl::string_view arg) {
  return arg == "--cluster" || absl::StartsWith(arg, "--cluster=");
}

// Ranks other than 0 run the same benchmarks silently.
class NullReporter : public ::benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

MpiSession& Session() { return *g_session; }

double MaxOverRanks(double value) {
  Communicator& world = World();
  std::vector<double> all(world.size());
  const absl::Status s =
      world.AllGather(&value, 1, DType::kFloat64, all.data());
  if (!s.ok()) MpiSession::AbortJob(s);
  double max = all[0];
  for (double v : all) max = v > max ? v : max;
  return max;
}

}  // namespace freezing::comm::benchmarking

int main(int argc, char** argv) {
  using freezing::comm::MpiSession;
  freezing::comm::LaunchOptions launch;
  launch.ranks = 2;
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--ranks=") &&
        !absl::SimpleAtoi(argv[i] + 8, &launch.ranks)) {
      std::fprintf(stderr, "bad %s\n", argv[i]);
      return 2;
    }
    if (freezing::comm::benchmarking::IsClusterFlag(argv[i])) {
      const absl::string_view a = argv[i];
      if (a != "--cluster" && a != "--cluster=true" && a != "--cluster=false") {
        std::fprintf(stderr, "bad %s\n", argv[i]);
        return 2;
      }
      launch.cluster = a != "--cluster=false";
    }
  }
  if (const absl::Status s =
          freezing::comm::RelaunchUnderMpiexec(launch, argc, argv);
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  auto session = MpiSession::Init(freezing::comm::ThreadLevel::kMultiple);
  if (!session.ok()) MpiSession::AbortJob(session.status());
  freezing::comm::benchmarking::g_session = session->get();
  const bool reporter = (*session)->rank() == 0;
  // Drop --ranks (benchmark rejects unknown flags) and, on ranks > 0, the
  // output file flags (one file, from rank 0).
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    // Each rank would shuffle with its own seed and run different
    // benchmarks at the same time: mismatched collectives, a hang.
    if (absl::StartsWith(argv[i], "--benchmark_enable_random_interleaving") &&
        !absl::EndsWith(argv[i], "=false")) {
      MpiSession::AbortJob(absl::InvalidArgumentError(
          "--benchmark_enable_random_interleaving would run different "
          "benchmarks on different ranks; interleave with repeated runs "
          "instead"));
    }
    if (absl::StartsWith(argv[i], "--ranks=") ||
        freezing::comm::benchmarking::IsClusterFlag(argv[i])) {
      continue;
    }
    if (!reporter && absl::StartsWith(argv[i], "--benchmark_out")) continue;
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  ::benchmark::Initialize(&n, args.data());
  if (::benchmark::ReportUnrecognizedArguments(n, args.data())) {
    MpiSession::AbortJob(absl::InvalidArgumentError("unrecognized flags"));
  }
  if (reporter) {
    ::benchmark::RunSpecifiedBenchmarks();
  } else {
    freezing::comm::benchmarking::NullReporter null;
    ::benchmark::RunSpecifiedBenchmarks(&null);
  }
  ::benchmark::Shutdown();
  freezing::comm::benchmarking::g_session = nullptr;
  return (*session)->Finalize().ok() ? 0 : 1;
}
