// All-reduce bus bandwidth over message sizes on N ranks (default 2):
//
//   bazel run //comm:allreduce_benchmark -- --ranks=2
//
// bus_bw is NCCL's "bus bandwidth": the bytes a ring all-reduce moves per
// rank, 2(p-1)/p * n, per second; it is comparable across world sizes.
// Times are the slowest rank's (all ranks wait for it).
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "comm/communicator.h"
#include "comm/mpi_benchmark_main.h"
#include "comm/mpi_session.h"

namespace freezing::comm {
namespace {

using benchmarking::MaxOverRanks;
using benchmarking::World;

void Check(const absl::Status& s) {
  if (!s.ok()) MpiSession::AbortJob(s);
}

template <bool kNonBlocking>
void BM_AllReduce(benchmark::State& state) {
  Communicator& c = World();
  const int64_t bytes = state.range(0);
  std::vector<float> buffer(bytes / 4, 1.0f);
  Check(c.AllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
  for (auto _ : state) {
    Check(c.Barrier());
    const auto start = std::chrono::steady_clock::now();
    if (kNonBlocking) {
      auto op =
          c.StartAllReduceSum(buffer.data(), buffer.size(), DType::kFloat32);
      Check(op.status());
      Check((*op)->Wait());
    } else {
      Check(c.AllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    state.SetIterationTime(MaxOverRanks(seconds));
  }
  const double p = c.size();
  state.counters["bus_bw"] = benchmark::Counter(
      2 * (p - 1) / p * bytes * state.iterations(), benchmark::Counter::kIsRate,
      benchmark::Counter::kIs1024);
  state.counters["alg_bw"] = benchmark::Counter(
      static_cast<double>(bytes) * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
  state.counters["bytes"] = bytes;
}

// 4 KiB .. 64 MiB, the calibration's range.
BENCHMARK(BM_AllReduce<false>)
    ->Name("BM_AllReduce")
    ->RangeMultiplier(4)
    ->Range(4 << 10, 64 << 20)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// The reducer's path: MPI_Iallreduce + MPI_Wait.
BENCHMARK(BM_AllReduce<true>)
    ->Name("BM_IAllReduce")
    ->RangeMultiplier(4)
    ->Range(4 << 10, 64 << 20)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace freezing::comm
