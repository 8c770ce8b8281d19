#include "comm/reducer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace freezing::comm {
namespace {

absl::StatusOr<DType> ToDType(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return DType::kFloat32;
    case at::kDouble:
      return DType::kFloat64;
    case at::kLong:
      return DType::kInt64;
    case at::kByte:
      return DType::kUInt8;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported tensor type ", c10::toString(type),
                       " (float32, float64, int64, uint8 are)"));
  }
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

// Catches c10::Error (libtorch reports errors as exceptions) at comm/'s edge.
template <typename F>
absl::Status TorchCall(const char* what, F&& f) {
  try {
    f();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

// One message per rank for a collective agreement check: a fingerprint, a
// short description and this rank's own error, if any.
struct Agreement {
  uint64_t fingerprint = 0;
  std::string summary;
  std::string error;
};

// AgreeAcrossRanks: all-gathers every rank's Agreement; every rank returns
// the same verdict: the first rank's error, or FailedPrecondition listing
// the ranks per fingerprint when they differ.
absl::Status AgreeAcrossRanks(Communicator* comm, const Agreement& mine,
                              const std::string& what) {
  const std::string message =
      absl::StrCat(Hex(mine.fingerprint), "\n", mine.summary, "\n", mine.error);
  ASSIGN_OR_RETURN(std::vector<std::string> all, comm->AllGatherBytes(message));
  std::map<std::string, std::vector<int>> ranks_by_fp;
  std::map<std::string, std::string> summary_by_fp;
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    std::vector<std::string> parts =
        absl::StrSplit(all[r], absl::MaxSplits('\n', 2));
    parts.resize(3);
    if (!parts[2].empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " failed on rank ", r, ": ", parts[2]));
    }
    ranks_by_fp[parts[0]].push_back(r);
    summary_by_fp[parts[0]] = parts[1];
  }
  if (ranks_by_fp.size() <= 1) return absl::OkStatus();
  std::vector<std::string> groups;
  for (const auto& [fp, ranks] : ranks_by_fp) {
    groups.push_back(absl::StrCat("rank(s) ", absl::StrJoin(ranks, ","),
                                  " have fingerprint ", fp, " (",
                                  summary_by_fp[fp], ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      what, " differs across ranks: ", absl::StrJoin(groups, "; ")));
}

}  // namespace

struct GradientReducer::Param {
  at::Tensor tensor;
  std::string name;
  std::shared_ptr<torch::autograd::Node> accumulator;
  uintptr_t hook_key = 0;
  int bucket = -1;
  // This parameter's slice of its bucket's buffer, shaped like it.
  at::Tensor grad_view;
  bool ready = false;  // its gradient arrived in this step
};

struct GradientReducer::BucketState {
  at::Tensor buffer;  // flat, the bucket's element type
  DType dtype = DType::kFloat32;
  int pending = 0;  // gradients not yet ready in this step
  bool ready = false;
  bool launched = false;
  bool done = false;
  std::unique_ptr<PendingOp> op;
  BucketStepTiming timing;
};

// Runs after AccumulateGrad has added this step's gradient into param.grad().
class GradientReducer::PostHook : public torch::autograd::FunctionPostHook {
 public:
  PostHook(GradientReducer* reducer, int index)
      : reducer_(reducer), index_(index) {}
  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    reducer_->OnGradientReady(index_);
    return outputs;
  }

 private:
  GradientReducer* reducer_;
  int index_;
};

GradientReducer::GradientReducer(Communicator* comm,
                                 std::vector<at::Tensor> params,
                                 std::vector<std::string> names,
                                 ReducerOptions options)
    : comm_(comm), options_(options) {
  params_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    params_[i].tensor = std::move(params[i]);
    if (i < names.size()) params_[i].name = std::move(names[i]);
  }
}

absl::StatusOr<std::unique_ptr<GradientReducer>> GradientReducer::Create(
    Communicator* comm, std::vector<at::Tensor> params,
    std::vector<std::string> names, ReducerOptions options) {
  if (comm == nullptr) {
    return absl::InvalidArgumentError("GradientReducer: no communicator");
  }
  if (options.mode == ProgressMode::kAuto) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    ASSIGN_OR_RETURN(std::vector<std::string> hosts,
                     comm->AllGatherBytes(host));
    const bool one_host =
        std::all_of(hosts.begin(), hosts.end(),
                    [&](const std::string& h) { return h == hosts[0]; });
    const char* ucx_tls = std::getenv("UCX_TLS");
    options.mode =
        ResolveAutoProgressMode(one_host, ucx_tls != nullptr ? ucx_tls : "");
  }
  const size_t num_names = names.size();
  std::unique_ptr<GradientReducer> reducer(
      new GradientReducer(comm, std::move(params), std::move(names), options));
  // A local error still joins the collective check so no rank hangs.
  absl::Status local = reducer->Validate();
  if (local.ok() && num_names != reducer->params_.size()) {
    local = absl::InvalidArgumentError(absl::StrCat(
        reducer->params_.size(), " parameters but ", num_names, " names"));
  }
  std::vector<bool> trainable;
  for (const Param& p : reducer->params_) {
    trainable.push_back(p.tensor.defined() && p.tensor.requires_grad());
  }
  if (!local.ok()) {
    Agreement mine;
    mine.error = std::string(local.message());
    RETURN_IF_ERROR(AgreeAcrossRanks(comm, mine, "GradientReducer::Create"));
    return local;  // unreachable: the agreement reports the error
  }
  RETURN_IF_ERROR(reducer->SetTrainable(trainable));
  if (options.mode == ProgressMode::kThread && comm->size() > 1) {
    reducer->comm_thread_ =
        std::thread([r = reducer.get()] { r->CommThreadMain(); });
  }
  return reducer;
}

absl::Status GradientReducer::Validate() const {
  if (options_.mode == ProgressMode::kThread &&
      static_cast<int>(comm_->thread_level()) <
          static_cast<int>(ThreadLevel::kSerialized)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "progress mode 'thread' needs MPI thread level serialized or "
        "multiple; the communicator has ",
        ThreadLevelName(comm_->thread_level()),
        " (initialize MPI with RequiredThreadLevel(mode))"));
  }
  for (const Param& p : params_) {
    if (!p.tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", p.name, "' is undefined"));
    }
    if (!p.tensor.is_leaf()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", p.name,
                       "' is not a leaf tensor (no gradient "
                       "accumulator)"));
    }
    if (!p.tensor.device().is_cpu()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", p.name, "' is not on the CPU"));
    }
    if (p.tensor.scalar_type() != at::kFloat &&
        p.tensor.scalar_type() != at::kDouble) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", p.name, "' has type ",
                       c10::toString(p.tensor.scalar_type()),
                       "; gradients must be float32 or float64"));
    }
  }
  return absl::OkStatus();
}

GradientReducer::~GradientReducer() {
  if (comm_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    comm_thread_.join();
  }
  // The accumulators may outlive the reducer (they live as long as the
  // parameters): remove the hooks that point here.
  for (Param& p : params_) {
    if (p.accumulator != nullptr) p.accumulator->del_post_hook(p.hook_key);
  }
}

absl::Status GradientReducer::SetTrainable(const std::vector<bool>& trainable) {
  if (in_step_) {
    return absl::FailedPreconditionError(
        "SetTrainable between BeginStep and FinishStep");
  }
  Agreement mine;
  std::vector<TensorSpec> specs;
  if (trainable.size() != params_.size()) {
    mine.error = absl::StrCat("SetTrainable: ", trainable.size(), " flags for ",
                              params_.size(), " parameters");
  } else {
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& t = params_[i].tensor;
      specs.push_back({params_[i].name, t.numel(),
                       static_cast<int>(t.element_size()),
                       static_cast<bool>(trainable[i])});
    }
  }
  BucketPlan plan = BucketPlan::Build(specs, options_.plan);
  mine.fingerprint = plan.Fingerprint();
  int num_trainable = 0;
  for (bool t : trainable) num_trainable += t ? 1 : 0;
  mine.summary = absl::StrCat(num_trainable, " of ", params_.size(),
                              " tensors trainable, ", plan.buckets().size(),
                              " buckets, ", plan.total_bytes(), " bytes");
  RETURN_IF_ERROR(AgreeAcrossRanks(comm_, mine, "gradient bucket plan"));

  return TorchCall("SetTrainable", [&] {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      Param& p = params_[i];
      if (p.tensor.requires_grad() != trainable[i]) {
        p.tensor.requires_grad_(trainable[i]);
      }
      if (!trainable[i]) {
        // Its grad may view an old bucket; a frozen unit needs none.
        if (p.bucket >= 0 && p.tensor.grad().defined()) {
          p.tensor.mutable_grad() = at::Tensor();
        }
        p.bucket = -1;
        p.grad_view = at::Tensor();
        continue;
      }
      if (p.accumulator == nullptr) {
        p.accumulator = torch::autograd::impl::grad_accumulator(p.tensor);
        p.hook_key = p.accumulator->add_post_hook(
            std::make_unique<PostHook>(this, static_cast<int>(i)));
      }
    }
    std::vector<BucketState> buckets(plan.buckets().size());
    for (size_t b = 0; b < plan.buckets().size(); ++b) {
      const Bucket& bucket = plan.buckets()[b];
      const at::ScalarType type =
          params_[bucket.tensors[0]].tensor.scalar_type();
      buckets[b].dtype = *ToDType(type);
      buckets[b].buffer =
          at::zeros({bucket.numel}, at::TensorOptions().dtype(type));
      for (size_t k = 0; k < bucket.tensors.size(); ++k) {
        Param& p = params_[bucket.tensors[k]];
        p.bucket = static_cast<int>(b);
        // The gradient takes its parameter's layout, as PyTorch DDP's
        // bucket views do: a channels-last parameter gets a channels-last
        // gradient over the same bytes of the bucket.
        const at::Tensor flat =
            buckets[b].buffer.narrow(0, bucket.offsets[k], p.tensor.numel());
        p.grad_view =
            p.tensor.is_contiguous() || !p.tensor.is_non_overlapping_and_dense()
                ? flat.view(p.tensor.sizes())
                : flat.as_strided(p.tensor.sizes(), p.tensor.strides());
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    plan_ = std::move(plan);
    buckets_ = std::move(buckets);
  });
}

int GradientReducer::num_params() const {
  return static_cast<int>(params_.size());
}

void GradientReducer::SetError(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (step_error_.ok()) step_error_ = status;
  cv_.notify_all();
}

void GradientReducer::SetLocalGradientObserver(
    std::function<void(int param, const at::Tensor& local_grad)> f) {
  observer_ = std::move(f);
}

int64_t GradientReducer::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now() - step_start_)
      .count();
}

absl::Status GradientReducer::BeginStep() {
  if (in_step_) {
    return absl::FailedPreconditionError(
        "BeginStep called twice without FinishStep");
  }
  if (!step_error_.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the reducer failed in an earlier step: ", step_error_.ToString()));
  }
  RETURN_IF_ERROR(TorchCall("BeginStep", [&] {
    at::NoGradGuard no_grad;
    for (Param& p : params_) {
      p.ready = false;
      if (p.bucket < 0) continue;
      at::Tensor& grad = p.tensor.mutable_grad();
      if (!grad.defined()) {
        p.grad_view.zero_();
        grad = p.grad_view;
      } else if (!grad.is_same(p.grad_view)) {
        // Keep a gradient the caller left (accumulation across steps).
        p.grad_view.copy_(grad);
        grad = p.grad_view;
      }
    }
  }));
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    BucketState& s = buckets_[b];
    s.pending = static_cast<int>(plan_.buckets()[b].tensors.size());
    s.ready = s.launched = s.done = false;
    s.op.reset();
    s.timing = BucketStepTiming();
    s.timing.bytes = plan_.buckets()[b].bytes;
  }
  next_launch_ = 0;
  num_done_ = 0;
  missing_gradients_ = 0;
  finishing_ = false;
  step_start_ = std::chrono::steady_clock::now();
  in_step_ = true;
  return absl::OkStatus();
}

void GradientReducer::OnGradientReady(int index) {
  Param& p = params_[index];
  if (!in_step_ || p.bucket < 0) return;
  const absl::Status status = TorchCall("gradient hook", [&] {
    at::NoGradGuard no_grad;
    at::Tensor& grad = p.tensor.mutable_grad();
    // Autograd accumulates into the view; it replaces the grad only with
    // create_graph or when the caller swapped it.
    if (!grad.is_same(p.grad_view)) {
      if (grad.defined()) p.grad_view.copy_(grad);
      grad = p.grad_view;
    }
  });
  if (!status.ok()) SetError(status);
  if (p.ready) {
    SetError(absl::FailedPreconditionError(
        absl::StrCat("parameter '", p.name,
                     "' got a second gradient in one step: one "
                     "backward per BeginStep/FinishStep")));
    return;
  }
  p.ready = true;
  if (observer_) observer_(index, p.grad_view);
  BucketState& bucket = buckets_[p.bucket];
  switch (options_.mode) {
    case ProgressMode::kSync:
      if (--bucket.pending == 0) {
        bucket.ready = true;
        bucket.timing.ready_ns = Now();
      }
      return;
    case ProgressMode::kThread:
      if (comm_thread_.joinable()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (--bucket.pending == 0) {
          bucket.ready = true;
          bucket.timing.ready_ns = Now();
          cv_.notify_all();
        }
        return;
      }
      [[fallthrough]];         // one rank: nothing to drive
    case ProgressMode::kAuto:  // resolved in Create
    case ProgressMode::kHooks: {
      if (--bucket.pending == 0) {
        bucket.ready = true;
        bucket.timing.ready_ns = Now();
      }
      if (!step_error_.ok()) return;
      absl::Status s = LaunchReady(/*all=*/false);
      if (s.ok()) s = TestInFlight();
      if (!s.ok()) SetError(s);
      return;
    }
  }
}

absl::Status GradientReducer::Launch(int b) {
  BucketState& s = buckets_[b];
  s.launched = true;
  s.timing.start_ns = Now();
  if (comm_->size() == 1) {
    s.done = true;
    s.timing.done_ns = s.timing.start_ns;
    ++num_done_;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(TorchCall("averaging a bucket", [&] {
    at::NoGradGuard no_grad;
    s.buffer.div_(comm_->size());
  }));
  if (options_.mode == ProgressMode::kSync) {
    RETURN_IF_ERROR(
        comm_->AllReduceSum(s.buffer.data_ptr(), s.buffer.numel(), s.dtype));
    s.done = true;
    s.timing.done_ns = Now();
    ++num_done_;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(s.op, comm_->StartAllReduceSum(s.buffer.data_ptr(),
                                                  s.buffer.numel(), s.dtype));
  return absl::OkStatus();
}

absl::Status GradientReducer::LaunchReady(bool all) {
  while (next_launch_ < static_cast<int>(buckets_.size()) &&
         (all || buckets_[next_launch_].ready)) {
    RETURN_IF_ERROR(Launch(next_launch_));
    ++next_launch_;
  }
  return absl::OkStatus();
}

absl::Status GradientReducer::TestInFlight() {
  for (int b = 0; b < next_launch_; ++b) {
    BucketState& s = buckets_[b];
    if (s.done) continue;
    ASSIGN_OR_RETURN(const bool done, s.op->Test());
    if (!done) continue;
    s.done = true;
    s.timing.done_ns = Now();
    s.op.reset();
    ++num_done_;
  }
  return absl::OkStatus();
}

void GradientReducer::CommThreadMain() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const int num_buckets = static_cast<int>(buckets_.size());
    if (!in_step_ || !step_error_.ok() || num_done_ == num_buckets) {
      cv_.wait(lock);
      continue;
    }
    // Start, in plan order, every bucket whose gradients are all ready.
    while (next_launch_ < num_buckets && step_error_.ok() &&
           (finishing_ || buckets_[next_launch_].ready)) {
      const int b = next_launch_++;
      lock.unlock();
      absl::Status s = Launch(b);
      lock.lock();
      if (!s.ok()) step_error_ = s;
    }
    // Drive the ones in flight; only this thread touches their requests.
    std::vector<int> in_flight;
    for (int b = 0; b < next_launch_; ++b) {
      if (!buckets_[b].done) in_flight.push_back(b);
    }
    for (int b : in_flight) {
      lock.unlock();
      absl::StatusOr<bool> done = buckets_[b].op->Test();
      lock.lock();
      if (!done.ok()) {
        step_error_ = done.status();
        break;
      }
      if (!*done) break;  // later ones complete after this one
      buckets_[b].done = true;
      buckets_[b].timing.done_ns = Now();
      buckets_[b].op.reset();
      ++num_done_;
    }
    if (num_done_ == num_buckets || !step_error_.ok()) {
      cv_.notify_all();
      continue;
    }
    if (next_launch_ > num_done_) {
      cv_.wait_for(lock, options_.thread_poll);
    } else {
      cv_.wait(lock);
    }
  }
}

absl::StatusOr<ReducerStepStats> GradientReducer::FinishStep() {
  if (!in_step_) {
    return absl::FailedPreconditionError("FinishStep without BeginStep");
  }
  const int64_t finish_start = Now();
  const int num_buckets = static_cast<int>(buckets_.size());
  absl::Status status;
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (Param& p : params_) {
      if (p.bucket >= 0 && !p.ready) ++missing_gradients_;
    }
    for (BucketState& s : buckets_) {
      if (!s.ready) {
        s.ready = true;
        s.timing.ready_ns = finish_start;
      }
    }
    if (comm_thread_.joinable()) {
      finishing_ = true;
      cv_.notify_all();
      cv_.wait(lock,
               [&] { return num_done_ == num_buckets || !step_error_.ok(); });
      status = step_error_;
    }
  }
  if (!comm_thread_.joinable()) {
    status = step_error_;
    if (status.ok()) status = LaunchReady(/*all=*/true);
    for (int b = 0; status.ok() && b < num_buckets; ++b) {
      BucketState& s = buckets_[b];
      if (s.done) continue;
      status = s.op->Wait();
      s.done = true;
      s.timing.done_ns = Now();
      s.op.reset();
      ++num_done_;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status.ok() && step_error_.ok()) step_error_ = status;
    in_step_ = false;
  }
  if (!status.ok()) return status;
  return CollectStats(finish_start);
}

absl::StatusOr<ReducerStepStats> GradientReducer::CollectStats(
    int64_t finish_start_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ReducerStepStats stats;
  stats.buckets = static_cast<int>(buckets_.size());
  stats.missing_gradients = missing_gradients_;
  std::vector<std::pair<int64_t, int64_t>> intervals;
  for (const BucketState& s : buckets_) {
    stats.timings.push_back(s.timing);
    if (comm_->size() > 1) stats.bytes += s.timing.bytes;
    intervals.emplace_back(s.timing.start_ns, s.timing.done_ns);
  }
  std::sort(intervals.begin(), intervals.end());
  int64_t covered_until = 0;
  for (const auto& [start, done] : intervals) {
    const int64_t from = std::max(start, covered_until);
    if (done > from) stats.comm_total_ns += done - from;
    covered_until = std::max(covered_until, done);
  }
  stats.comm_exposed_ns = Now() - finish_start_ns;
  return stats;
}

absl::Status GradientReducer::BroadcastTensors(
    Communicator* comm, const std::vector<at::Tensor>& tensors, int root) {
  // Ranks must agree on what they broadcast before any payload moves.
  Agreement mine;
  std::vector<DType> types(tensors.size());
  {
    std::string desc;
    for (size_t i = 0; i < tensors.size() && mine.error.empty(); ++i) {
      const at::Tensor& t = tensors[i];
      if (!t.defined()) {
        mine.error = absl::StrCat("tensor ", i, " is undefined");
        break;
      }
      absl::StatusOr<DType> type = ToDType(t.scalar_type());
      if (!type.ok()) {
        mine.error = absl::StrCat("tensor ", i, ": ", type.status().message());
        break;
      }
      types[i] = *type;
      absl::StrAppend(&desc, DTypeName(*type), "[",
                      absl::StrJoin(t.sizes(), ","), "];");
    }
    std::vector<TensorSpec> as_specs = {{desc, 0, 1, false}};
    mine.fingerprint = BucketPlan::Build(as_specs, {}).Fingerprint();
    mine.summary = absl::StrCat(tensors.size(), " tensors");
  }
  RETURN_IF_ERROR(AgreeAcrossRanks(comm, mine, "BroadcastTensors list"));

  // Packs tensors of one type into chunks of up to kChunkBytes; a larger
  // tensor travels alone.
  constexpr int64_t kChunkBytes = int64_t{16} << 20;
  absl::Status status;
  const absl::Status torch_status = TorchCall("BroadcastTensors", [&] {
    at::NoGradGuard no_grad;
    const bool is_root = comm->rank() == root;
    for (DType type :
         {DType::kFloat32, DType::kFloat64, DType::kInt64, DType::kUInt8}) {
      std::vector<size_t> group;
      for (size_t i = 0; i < tensors.size(); ++i) {
        if (types[i] == type) group.push_back(i);
      }
      size_t k = 0;
      while (k < group.size() && status.ok()) {
        size_t end = k;
        int64_t numel = 0;
        while (end < group.size() &&
               (end == k ||
                (numel + tensors[group[end]].numel()) * DTypeBytes(type) <=
                    kChunkBytes)) {
          numel += tensors[group[end]].numel();
          ++end;
        }
        at::Tensor flat = at::empty(
            {numel}, tensors[group[k]].options().requires_grad(false));
        if (is_root) {
          int64_t offset = 0;
          for (size_t j = k; j < end; ++j) {
            const at::Tensor& t = tensors[group[j]];
            flat.narrow(0, offset, t.numel()).view(t.sizes()).copy_(t);
            offset += t.numel();
          }
        }
        status = comm->Broadcast(flat.data_ptr(), numel, type, root);
        if (status.ok() && !is_root) {
          int64_t offset = 0;
          for (size_t j = k; j < end; ++j) {
            at::Tensor t = tensors[group[j]];
            t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
            offset += t.numel();
          }
        }
        k = end;
      }
    }
  });
  RETURN_IF_ERROR(torch_status);
  return status;
}

}  // namespace freezing::comm
