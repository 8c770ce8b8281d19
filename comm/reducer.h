// GradientReducer: DDP-style data-parallel gradient averaging for libtorch
// parameters over a Communicator, overlapping communication with backward.
//
// Trainable parameters are grouped into buckets by BucketPlan (reverse
// registration order, 1 MiB first bucket, 25 MiB caps). Each parameter's
// gradient lives in its bucket's flat buffer (param.grad() is a view of it,
// set at BeginStep), so autograd accumulates straight into the buffer. A post
// hook on each parameter's AccumulateGrad node marks the gradient ready;
// when the last gradient of a bucket is ready its non-blocking all-reduce
// starts (buckets start in plan order on every rank, as MPI requires), while
// backward goes on with earlier layers. FinishStep waits for the rest; the
// gradients are then averaged over ranks in param.grad().
//
// Frozen (non-trainable) parameters are never planned, never copied, and
// their bytes never travel. With one rank the same code path runs without
// communicating. Per step: one BeginStep, one backward, one FinishStep.
// In kThread mode the communication thread calls the communicator during a
// step (its stats() included): use the communicator only between steps.
// After a step fails the reducer refuses further steps: end the job
// (MpiSession::AbortJob), the ranks no longer agree on what is in flight.
//
//   auto reducer = GradientReducer::Create(&comm, params, names, {});
//   for (...) {
//     RETURN_IF_ERROR((*reducer)->BeginStep());
//     loss.backward();
//     ASSIGN_OR_RETURN(ReducerStepStats stats, (*reducer)->FinishStep());
//     optimizer.step();
//   }
#ifndef FREEZING_COMM_REDUCER_H_
#define FREEZING_COMM_REDUCER_H_

#include <ATen/core/Tensor.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/bucket_plan.h"
#include "comm/communicator.h"
#include "comm/progress_mode.h"

namespace torch::autograd {
struct Node;
}  // namespace torch::autograd

namespace freezing::comm {

// ReducerOptions: the bucket caps and how communication progresses. The
// default mode, auto, picks the mode measured fastest for where the job runs
// (comm/progress_mode.h, comm/README.md): sync when all ranks share one
// host's memory, hooks otherwise.
struct ReducerOptions {
  BucketPlanOptions plan;
  ProgressMode mode = ProgressMode::kAuto;
  // kThread: how often the communication thread tests in-flight all-reduces
  // (it sleeps in between, so it does not take a core from backward).
  std::chrono::microseconds thread_poll{50};
};

// BucketStepTiming: one bucket in one step. Times are nanoseconds since
// BeginStep: its last gradient became ready, its all-reduce started, its
// completion was observed (by a hook, the communication thread or
// FinishStep: an upper bound of the real completion in hooks mode).
struct BucketStepTiming {
  int64_t bytes = 0;
  int64_t ready_ns = 0;
  int64_t start_ns = 0;
  int64_t done_ns = 0;
};

// ReducerStepStats: what one step communicated and how long it took.
struct ReducerStepStats {
  // Payload bytes all-reduced by this rank (0 with one rank: nothing moves).
  int64_t bytes = 0;
  int buckets = 0;
  // Wall time during which at least one all-reduce was in flight.
  int64_t comm_total_ns = 0;
  // Time FinishStep spent waiting for communication: what backward did not
  // hide.
  int64_t comm_exposed_ns = 0;
  // Trainable parameters whose gradient never became ready in this step
  // (unused in the forward pass); their buffer slices were reduced as they
  // were (zero unless the caller left a gradient there).
  int missing_gradients = 0;
  std::vector<BucketStepTiming> timings;
};

class GradientReducer {
 public:
  // Create: a reducer for `params` (leaf tensors on the CPU, float32 or
  // float64, one name each). The trainable set is the parameters'
  // requires_grad flags; like SetTrainable, Create is collective and fails
  // when ranks plan differently. kAuto is resolved here (ranks exchange
  // their host names). `comm` must outlive the reducer; kThread
  // needs comm->thread_level() >= kSerialized.
  static absl::StatusOr<std::unique_ptr<GradientReducer>> Create(
      Communicator* comm, std::vector<at::Tensor> params,
      std::vector<std::string> names, ReducerOptions options);

  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // SetTrainable: collective: rebuilds the plan on every rank from
  // `trainable` (one flag per parameter) and sets each parameter's
  // requires_grad to match. Ranks compare plan fingerprints (all-gather) and
  // all fail with FailedPrecondition naming the fingerprints and the ranks
  // when they differ, instead of hanging later in mismatched all-reduces; the
  // old plan then stays. A newly frozen parameter's grad is reset (undefined);
  // a parameter that stays trainable keeps its gradient. Not between
  // BeginStep and FinishStep.
  absl::Status SetTrainable(const std::vector<bool>& trainable);

  // SetLocalGradientObserver: `f` is called with each trainable parameter's
  // LOCAL gradient (this rank's, before averaging) as soon as it is ready,
  // on the thread running backward. `local_grad` is valid only during the
  // call (it is about to be all-reduced in place): read it, do not keep it.
  void SetLocalGradientObserver(
      std::function<void(int param, const at::Tensor& local_grad)> f);

  // BeginStep: before backward. Points every trainable parameter's grad at
  // its slice of the bucket buffers (keeping any gradient already there) and
  // starts the step's clock.
  absl::Status BeginStep();

  // FinishStep: after backward. Starts the buckets not started yet, waits for
  // all, and leaves the average over ranks in each trainable param.grad().
  absl::StatusOr<ReducerStepStats> FinishStep();

  const BucketPlan& plan() const { return plan_; }
  // mode: the progress mode in use (never kAuto: Create resolves it).
  ProgressMode mode() const { return options_.mode; }
  int num_params() const;

  // BroadcastTensors: copies `tensors` (parameters and buffers; float32,
  // float64, int64 or uint8) from rank `root` into every rank's, in place and
  // without recording autograd history. Collective; ranks first compare the
  // list of dtypes and shapes and fail with FailedPrecondition when it
  // differs. Small tensors travel packed together.
  static absl::Status BroadcastTensors(Communicator* comm,
                                       const std::vector<at::Tensor>& tensors,
                                       int root);

 private:
  struct Param;
  struct BucketState;
  class PostHook;

  GradientReducer(Communicator* comm, std::vector<at::Tensor> params,
                  std::vector<std::string> names, ReducerOptions options);

  absl::Status Validate() const;
  // OnGradientReady: from the AccumulateGrad post hook of parameter `index`.
  void OnGradientReady(int index);
  // Launch: starts bucket `b`'s all-reduce (divides by the world size first).
  absl::Status Launch(int b);
  // LaunchReady: launches, in order, every bucket whose turn has come and
  // whose gradients are ready (all of them when `all`).
  absl::Status LaunchReady(bool all);
  // SetError: records the step's first error (thread-safe).
  void SetError(const absl::Status& status);
  // TestInFlight: advances progress; records completions.
  absl::Status TestInFlight();
  int64_t Now() const;
  void CommThreadMain();
  absl::StatusOr<ReducerStepStats> CollectStats(int64_t finish_start_ns);

  Communicator* comm_;
  std::vector<Param> params_;
  ReducerOptions options_;
  BucketPlan plan_;
  std::vector<BucketState> buckets_;
  std::function<void(int, const at::Tensor&)> observer_;

  // Step state. In kThread mode, guarded by mu_ (buckets' ops and timings
  // are the communication thread's until the step is done).
  std::mutex mu_;
  std::condition_variable cv_;
  bool in_step_ = false;
  bool finishing_ = false;
  bool stop_ = false;
  int next_launch_ = 0;
  int num_done_ = 0;
  int missing_gradients_ = 0;
  absl::Status step_error_;
  std::chrono::steady_clock::time_point step_start_;
  std::thread comm_thread_;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_REDUCER_H_
