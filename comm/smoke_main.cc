// A short real run of the communication layer (comm's end-to-end check):
//
//   bazel run //comm:smoke -- --ranks=2
//
// Broadcast, all-gather, parameters broadcast from rank 0, bucketed gradient
// all-reduce of a small CNN overlapping its backward pass (checked against
// an independent all-reduce of the local gradients), freezing its first
// layers (their bytes must not travel), and all-reduce bandwidth. Prints
// the results on rank 0; exits non-zero on any mismatch, on every rank.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "comm/communicator.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"
#include "comm/progress_mode.h"
#include "comm/reducer.h"

ABSL_FLAG(int, ranks, 2, "MPI ranks; relaunches under mpiexec when > 1");
ABSL_FLAG(bool, cluster, false, freezing::comm::kClusterFlagHelp);
ABSL_FLAG(std::string, progress, "auto",
          "how all-reduces progress during backward: hooks, thread, sync or "
          "auto (sync on one host with shared memory, hooks otherwise)");
ABSL_FLAG(int, steps, 3, "training steps to reduce");

namespace freezing::comm {
namespace {

struct SmallCnnImpl : torch::nn::Module {
  SmallCnnImpl() {
    namespace nn = torch::nn;
    conv1 = register_module("conv1",
                            nn::Conv2d(nn::Conv2dOptions(3, 32, 3).padding(1)));
    conv2 = register_module(
        "conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)));
    conv3 = register_module(
        "conv3", nn::Conv2d(nn::Conv2dOptions(64, 128, 3).padding(1)));
    fc1 = register_module("fc1", nn::Linear(128 * 4 * 4, 512));
    fc2 = register_module("fc2", nn::Linear(512, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);
    x = torch::max_pool2d(torch::relu(conv3(x)), 2);
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SmallCnn);

absl::Status Mismatch(const std::string& what) {
  return absl::InternalError(absl::StrCat("smoke: mismatch: ", what));
}

// Every rank must reach every collective, so a local mismatch is first
// agreed on: all ranks fail together, naming the ranks that saw it.
absl::Status AgreeOk(Communicator& c, bool ok, const std::string& what) {
  const int64_t mine = ok ? 1 : 0;
  std::vector<int64_t> all(c.size());
  RETURN_IF_ERROR(c.AllGather(&mine, 1, DType::kInt64, all.data()));
  std::string bad;
  for (int r = 0; r < c.size(); ++r) {
    if (all[r] == 0) absl::StrAppend(&bad, bad.empty() ? "" : ",", r);
  }
  if (bad.empty()) return absl::OkStatus();
  return Mismatch(absl::StrCat(what, " (on rank(s) ", bad, ")"));
}

// The world this run has: ranks, hosts, thread level, progress mode.
absl::Status PrintWorld(MpiSession& session, ProgressMode mode, int threads) {
  Communicator& c = session.world();
  ASSIGN_OR_RETURN(std::vector<std::string> hosts,
                   c.AllGatherBytes(session.processor_name()));
  if (c.rank() != 0) return absl::OkStatus();
  std::printf(
      "smoke: %d rank(s) on %zu host(s), MPI thread level %s, %d torch "
      "thread(s) per rank, --progress=%s\n",
      c.size(), std::set<std::string>(hosts.begin(), hosts.end()).size(),
      ThreadLevelName(session.provided_thread_level()), threads,
      ProgressModeName(mode));
  std::printf("hosts of ranks 0..%d: %s\n", c.size() - 1,
              absl::StrJoin(hosts, " ").c_str());
  return absl::OkStatus();
}

// 1. Broadcast from the last rank.
absl::Status CheckBroadcast(Communicator& c, bool say) {
  const int root = c.size() - 1;
  std::vector<int64_t> x(1 << 17, -1);
  if (c.rank() == root) std::iota(x.begin(), x.end(), 42);
  RETURN_IF_ERROR(c.Broadcast(x.data(), x.size(), DType::kInt64, root));
  bool ok = true;
  for (size_t i = 0; i < x.size(); ++i) ok &= x[i] == 42 + int64_t(i);
  RETURN_IF_ERROR(AgreeOk(c, ok, "broadcast"));
  if (say) std::printf("broadcast: 1 MiB from rank %d: ok\n", root);
  return absl::OkStatus();
}

// 2. All-gather of small vectors (what votes and statistics use).
absl::Status CheckAllGather(Communicator& c, bool say) {
  const double mine[2] = {double(c.rank()), double(c.rank()) * c.rank()};
  std::vector<double> all(2 * c.size());
  RETURN_IF_ERROR(c.AllGather(mine, 2, DType::kFloat64, all.data()));
  bool ok = true;
  for (int r = 0; r < c.size(); ++r) {
    ok &= all[2 * r] == r && all[2 * r + 1] == double(r) * r;
  }
  RETURN_IF_ERROR(AgreeOk(c, ok, "all-gather"));
  if (say) std::printf("all-gather: (r, r^2) of %d ranks: ok\n", c.size());
  return absl::OkStatus();
}

// 3 (after the broadcast of rank 0's parameters): the same parameters on
// every rank.
absl::Status CheckSameParameters(Communicator& c,
                                 const std::vector<torch::Tensor>& params,
                                 bool say) {
  double checksum = 0;
  for (const torch::Tensor& p : params) {
    checksum += p.detach().to(torch::kDouble).abs().sum().item<double>();
  }
  std::vector<double> all(c.size());
  RETURN_IF_ERROR(c.AllGather(&checksum, 1, DType::kFloat64, all.data()));
  bool ok = true;
  for (double v : all) ok &= v == all[0];
  RETURN_IF_ERROR(AgreeOk(c, ok, "parameters after broadcast"));
  int64_t numel = 0;
  for (const torch::Tensor& p : params) numel += p.numel();
  if (say) {
    std::printf("parameters: %zu tensors, %lld floats, same on all ranks\n",
                params.size(), static_cast<long long>(numel));
  }
  return absl::OkStatus();
}

// 4 and 5: training steps of the small CNN with the bucketed gradient
// all-reduce overlapping backward, each checked against an independent
// all-reduce of the local gradients; then with conv1 and conv2 frozen.
class ReducedSteps {
 public:
  ReducedSteps(Communicator& c, SmallCnn model,
               std::vector<torch::Tensor> params,
               std::vector<std::string> names, bool say)
      : c_(c),
        model_(model),
        params_(std::move(params)),
        names_(std::move(names)),
        say_(say),
        local_(params_.size()) {}
  ReducedSteps(const ReducedSteps&) = delete;  // the observer holds `this`
  ReducedSteps& operator=(const ReducedSteps&) = delete;

  // Creates the reducer and has it keep each local gradient.
  absl::Status Start(ProgressMode mode) {
    ReducerOptions options;
    options.mode = mode;
    options.plan.bucket_cap_bytes = 1
                                    << 20;  // several buckets in a small model
    ASSIGN_OR_RETURN(reducer_,
                     GradientReducer::Create(&c_, params_, names_, options));
    if (say_) {
      std::printf("reducer: %zu buckets, progress mode %s\n",
                  reducer_->plan().buckets().size(),
                  ProgressModeName(reducer_->mode()));
    }
    reducer_->SetLocalGradientObserver([this](int i, const torch::Tensor& g) {
      local_[i] = g.detach().clone();
    });
    return absl::OkStatus();
  }

  // Step `s` on a random batch of this rank's, checked.
  absl::StatusOr<ReducerStepStats> Step(int s) {
    const torch::Tensor x = torch::randn({16, 3, 32, 32});
    const torch::Tensor y = torch::randint(0, 10, {16});
    model_->zero_grad();
    for (torch::Tensor& l : local_) l = torch::Tensor();
    RETURN_IF_ERROR(reducer_->BeginStep());
    torch::nn::functional::cross_entropy(model_->forward(x), y).backward();
    ASSIGN_OR_RETURN(ReducerStepStats stats, reducer_->FinishStep());
    ASSIGN_OR_RETURN(const double max_error, MaxErrorAgainstAllReduce());
    RETURN_IF_ERROR(AgreeOk(c_, max_error <= 1e-5,
                            absl::StrCat("reduced gradients, step ", s,
                                         ": max error ", max_error)));
    if (say_) {
      std::printf(
          "step %d: %d buckets, %lld bytes reduced, comm %.2f ms (exposed "
          "%.2f ms), first bucket started %.2f ms after its gradients, "
          "max |error| %.1e: ok\n",
          s, stats.buckets, static_cast<long long>(stats.bytes),
          stats.comm_total_ns / 1e6, stats.comm_exposed_ns / 1e6,
          (stats.timings[0].start_ns - stats.timings[0].ready_ns) / 1e6,
          max_error);
    }
    return stats;
  }

  // 5. Step `s` with conv1 and conv2 frozen: their bytes must not travel.
  absl::Status CheckFreezing(int s) {
    std::vector<bool> trainable;
    int64_t frozen_bytes = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      const bool frozen = names_[i].rfind("conv1.", 0) == 0 ||
                          names_[i].rfind("conv2.", 0) == 0;
      trainable.push_back(!frozen);
      if (frozen) frozen_bytes += params_[i].numel() * 4;
    }
    RETURN_IF_ERROR(reducer_->SetTrainable(trainable));
    c_.ResetStats();
    ASSIGN_OR_RETURN(ReducerStepStats stats, Step(s));
    const GradientReducer& r = *reducer_;
    const int64_t want = c_.size() > 1 ? r.plan().total_bytes() : 0;
    RETURN_IF_ERROR(AgreeOk(
        c_,
        // The reducer's bytes, plus the check's own all-reduce of them.
        stats.bytes == want &&
            c_.stats().allreduce_bytes == want + r.plan().total_bytes() &&
            !params_[0].grad().defined(),
        "bytes after freezing conv1, conv2"));
    if (say_) {
      std::printf(
          "frozen conv1, conv2: %lld bytes stay home, %lld reduced: "
          "ok\n",
          static_cast<long long>(frozen_bytes),
          static_cast<long long>(stats.bytes));
    }
    return absl::OkStatus();
  }

 private:
  // Independently: a blocking all-reduce of the local gradients; the largest
  // difference from the gradients the reducer left.
  absl::StatusOr<double> MaxErrorAgainstAllReduce() {
    double max_error = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (reducer_->plan().bucket_of(i) < 0) continue;
      if (!local_[i].defined()) {
        return Mismatch(absl::StrCat("no local gradient for ", names_[i]));
      }
      torch::Tensor want = local_[i].contiguous();
      RETURN_IF_ERROR(
          c_.AllReduceSum(want.data_ptr(), want.numel(), DType::kFloat32));
      want.div_(c_.size());
      max_error = std::max(
          max_error, (params_[i].grad() - want).abs().max().item<double>());
    }
    return max_error;
  }

  Communicator& c_;
  SmallCnn model_;
  const std::vector<torch::Tensor> params_;
  const std::vector<std::string> names_;
  const bool say_;
  std::unique_ptr<GradientReducer> reducer_;
  std::vector<torch::Tensor> local_;  // this rank's gradients of the step
};

// 6. Bandwidth of a 16 MiB all-reduce (median of 5, slowest rank).
absl::Status CheckBandwidth(Communicator& c, bool say) {
  std::vector<float> buffer(4 << 20, 1.0f);
  std::vector<double> times;
  for (int i = 0; i < 6; ++i) {
    RETURN_IF_ERROR(c.Barrier());
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(
        c.AllReduceSum(buffer.data(), buffer.size(), DType::kFloat32));
    double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::vector<double> all(c.size());
    RETURN_IF_ERROR(c.AllGather(&t, 1, DType::kFloat64, all.data()));
    if (i > 0) times.push_back(*std::max_element(all.begin(), all.end()));
  }
  std::sort(times.begin(), times.end());
  const double p = c.size();
  const double bytes = buffer.size() * 4.0;
  // Six all-reduces of ones: p^6 everywhere.
  bool ok = buffer[0] == std::pow(p, 6) && buffer.back() == std::pow(p, 6);
  RETURN_IF_ERROR(AgreeOk(c, ok, "16 MiB all-reduce sum"));
  if (say) {
    std::printf("all-reduce 16 MiB: %.2f ms, bus bandwidth %.2f GB/s: ok\n",
                times[times.size() / 2] * 1e3,
                2 * (p - 1) / p * bytes / times[times.size() / 2] / 1e9);
  }
  return absl::OkStatus();
}

absl::Status Run(MpiSession& session, ProgressMode mode, int steps) {
  Communicator& c = session.world();
  const bool say = c.rank() == 0;
  const int threads = DefaultThreadsPerRank(c.size());
  torch::set_num_threads(threads);
  RETURN_IF_ERROR(PrintWorld(session, mode, threads));
  RETURN_IF_ERROR(CheckBroadcast(c, say));
  RETURN_IF_ERROR(CheckAllGather(c, say));

  // 3. A small CNN: rank 0's parameters everywhere.
  torch::manual_seed(1000 + c.rank());  // different on purpose
  SmallCnn model;
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  for (const auto& item : model->named_parameters()) {
    names.push_back(item.key());
    params.push_back(item.value());
  }
  RETURN_IF_ERROR(GradientReducer::BroadcastTensors(&c, params, 0));
  RETURN_IF_ERROR(CheckSameParameters(c, params, say));

  // 4. Bucketed gradient all-reduce overlapping backward, then 5. freezing.
  ReducedSteps reduced(c, model, std::move(params), std::move(names), say);
  RETURN_IF_ERROR(reduced.Start(mode));
  torch::manual_seed(7 + c.rank());  // each rank its own batch
  for (int s = 0; s < steps; ++s) RETURN_IF_ERROR(reduced.Step(s).status());
  RETURN_IF_ERROR(reduced.CheckFreezing(steps));

  if (c.size() > 1) RETURN_IF_ERROR(CheckBandwidth(c, say));
  if (say) std::printf("smoke: OK\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::comm

namespace {

const freezing::base::CliSpec& Cli() {
  static const auto* cli = new freezing::base::CliSpec{
      "smoke",
      "the communication layer end to end on a few ranks (broadcast, "
      "all-gather, bucketed gradient all-reduce, freezing, bandwidth)",
      {"bazel run //comm:smoke -- [--ranks=N] [flags]"},
      {{"distributed", {"ranks", "cluster", "progress"}}, {"run", {"steps"}}},
      {"bazel run //comm:smoke -- --ranks=2",
       "bazel run //comm:smoke -- --ranks=2 --cluster --progress=hooks"},
      "Exits non-zero on any mismatch, on every rank. See comm/README.md.",
      /*max_positional=*/0};
  return *cli;
}

}  // namespace

int main(int argc, char** argv) {
  using freezing::base::ReportError;
  using freezing::comm::MpiSession;
  freezing::base::ParseCommandLineOrExit(Cli(), argc, argv);
  auto mode = freezing::comm::ParseProgressMode(absl::GetFlag(FLAGS_progress));
  if (!mode.ok()) {
    return ReportError("smoke", absl::InvalidArgumentError(absl::StrCat(
                                    "--progress: ", mode.status().message())));
  }
  freezing::comm::LaunchOptions launch;
  launch.ranks = absl::GetFlag(FLAGS_ranks);
  launch.cluster = absl::GetFlag(FLAGS_cluster);
  if (const absl::Status s =
          freezing::comm::RelaunchUnderMpiexec(launch, argc, argv);
      !s.ok()) {
    return ReportError("smoke", s, 1);
  }
  auto session = MpiSession::Init(freezing::comm::RequiredThreadLevel(*mode),
                                  freezing::comm::RequiredThreadLevel(*mode));
  if (!session.ok()) MpiSession::AbortJob(session.status());
  const absl::Status status =
      freezing::comm::Run(**session, *mode, absl::GetFlag(FLAGS_steps));
  if (!status.ok()) MpiSession::AbortJob(status);
  return (*session)->Finalize().ok() ? 0 : 1;
}
