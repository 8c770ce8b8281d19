#include "comm/reducer_test_util.h"

#include <ATen/ATen.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "comm/bucket_plan.h"
#include "comm/reducer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm::testing {
namespace {

using ::testing::HasSubstr;

// Small caps so that the model below needs several buckets.
BucketPlanOptions SmallCaps() { return BucketPlanOptions{64, 256}; }

const std::vector<std::vector<int64_t>>& Shapes() {
  static const auto* shapes = new std::vector<std::vector<int64_t>>{
      {3, 5}, {7}, {2, 3, 4}, {1}, {100}, {257}};
  return *shapes;
}

struct Model {
  std::vector<at::Tensor> params;
  std::vector<std::string> names;
};

Model MakeModel() {
  Model m;
  for (size_t i = 0; i < Shapes().size(); ++i) {
    m.params.push_back(
        at::full(Shapes()[i], 0.5 + i, at::kFloat).requires_grad_());
    m.names.push_back("w" + std::to_string(i));
  }
  return m;
}

// Rank r's input for parameter i: x[k] = (r+1)(1 + k/100) + i, so
// d loss / d w_i = x, and its average over p ranks is x with (p+1)/2 in
// place of r+1.
at::Tensor Input(double factor, int i) {
  int64_t n = 1;
  for (int64_t d : Shapes()[i]) n *= d;
  at::Tensor k = at::arange(n, at::kFloat).view(Shapes()[i]);
  return factor * (1 + k / 100.0) + i;
}

at::Tensor LocalInput(const Communicator& c, int i) {
  return Input(c.rank() + 1, i);
}
at::Tensor MeanInput(const Communicator& c, int i) {
  return Input((c.size() + 1) / 2.0, i);
}

// loss = sum_i sum(w_i * x_i), skipping `unused`.
void Backward(const Communicator& c, const Model& m, int unused = -1) {
  at::Tensor loss = at::zeros({}, at::kFloat);
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (static_cast<int>(i) == unused) continue;
    loss = loss + (m.params[i] * LocalInput(c, i)).sum();
  }
  loss.backward();
}

std::unique_ptr<GradientReducer> MakeReducer(Communicator& c, const Model& m,
                                             ProgressMode mode) {
  ReducerOptions options;
  options.plan = SmallCaps();
  options.mode = mode;
  auto reducer = GradientReducer::Create(&c, m.params, m.names, options);
  EXPECT_TRUE(reducer.ok()) << reducer.status();
  return reducer.ok() ? std::move(*reducer) : nullptr;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

}  // namespace

void CheckAveraging(Communicator& c, ProgressMode mode) {
  Model m = MakeModel();
  std::unique_ptr<GradientReducer> reducer = MakeReducer(c, m, mode);
  ASSERT_NE(reducer, nullptr);
  ASSERT_GE(reducer->plan().buckets().size(), 3u);
  if (mode != ProgressMode::kAuto) EXPECT_EQ(reducer->mode(), mode);
  mode = reducer->mode();  // auto resolved
  std::vector<int> observed(m.params.size(), 0);
  reducer->SetLocalGradientObserver([&](int i, const at::Tensor& g) {
    ++observed[i];
    // The local gradient, before averaging.
    EXPECT_TRUE(at::allclose(g, LocalInput(c, i))) << m.names[i];
  });
  for (int step = 0; step < 2; ++step) {
    for (at::Tensor& p : m.params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    c.ResetStats();
    ASSERT_TRUE(reducer->BeginStep().ok());
    Backward(c, m);
    absl::StatusOr<ReducerStepStats> stats = reducer->FinishStep();
    ASSERT_TRUE(stats.ok()) << stats.status();
    for (size_t i = 0; i < m.params.size(); ++i) {
      ASSERT_TRUE(m.params[i].grad().defined()) << m.names[i];
      EXPECT_TRUE(at::allclose(m.params[i].grad(), MeanInput(c, i)))
          << m.names[i] << " step " << step << "\n"
          << m.params[i].grad() << "\nwant\n"
          << MeanInput(c, i);
    }
    const int64_t all_bytes = 404 * 4;
    EXPECT_EQ(reducer->plan().total_bytes(), all_bytes);
    EXPECT_EQ(stats->bytes, c.size() > 1 ? all_bytes : 0);
    EXPECT_EQ(c.stats().allreduce_bytes, c.size() > 1 ? all_bytes : 0);
    EXPECT_EQ(stats->buckets,
              static_cast<int>(reducer->plan().buckets().size()));
    EXPECT_EQ(stats->missing_gradients, 0);
    ASSERT_EQ(stats->timings.size(), reducer->plan().buckets().size());
    for (const BucketStepTiming& t : stats->timings) {
      EXPECT_LE(t.ready_ns, t.start_ns);
      EXPECT_LE(t.start_ns, t.done_ns);
    }
    const BucketStepTiming& first = stats->timings.front();
    const BucketStepTiming& last = stats->timings.back();
    if (mode == ProgressMode::kSync) {
      // No overlap: nothing starts before the last gradient is ready.
      EXPECT_GE(first.start_ns, last.ready_ns);
    } else if (mode == ProgressMode::kHooks) {
      // Overlap: the hook of the first bucket's last gradient starts it,
      // before backward reaches the last bucket. (In kThread mode the
      // communication thread starts it: when depends on the scheduler.)
      EXPECT_LE(first.start_ns, last.ready_ns);
    }
    EXPECT_GE(stats->comm_total_ns, 0);
    EXPECT_GE(stats->comm_exposed_ns, 0);
  }
  for (size_t i = 0; i < observed.size(); ++i) {
    EXPECT_EQ(observed[i], 2) << m.names[i];
  }
}

void CheckFrozenBytesNeverTravel(Communicator& c, ProgressMode mode) {
  Model m = MakeModel();
  std::unique_ptr<GradientReducer> reducer = MakeReducer(c, m, mode);
  ASSERT_NE(reducer, nullptr);
  // Freeze w1 (7 floats) and w4 (100 floats).
  ASSERT_TRUE(
      reducer->SetTrainable({true, false, true, true, false, true}).ok());
  EXPECT_FALSE(m.params[1].requires_grad());
  EXPECT_FALSE(m.params[4].requires_grad());
  EXPECT_EQ(reducer->plan().bucket_of(1), -1);
  EXPECT_EQ(reducer->plan().bucket_of(4), -1);
  const int64_t trainable_bytes = (404 - 7 - 100) * 4;
  EXPECT_EQ(reducer->plan().total_bytes(), trainable_bytes);
  c.ResetStats();
  ASSERT_TRUE(reducer->BeginStep().ok());
  Backward(c, m);
  absl::StatusOr<ReducerStepStats> stats = reducer->FinishStep();
  ASSERT_TRUE(stats.ok()) << stats.status();
  const int64_t want = c.size() > 1 ? trainable_bytes : 0;
  EXPECT_EQ(stats->bytes, want);
  EXPECT_EQ(c.stats().allreduce_bytes, want);
  EXPECT_FALSE(m.params[1].grad().defined());
  EXPECT_FALSE(m.params[4].grad().defined());
  for (int i : {0, 2, 3, 5}) {
    EXPECT_TRUE(at::allclose(m.params[i].grad(), MeanInput(c, i)))
        << m.names[i];
  }

  // Unfreeze everything: the plan grows back, every gradient is averaged.
  ASSERT_TRUE(reducer->SetTrainable(std::vector<bool>(6, true)).ok());
  EXPECT_EQ(reducer->plan().total_bytes(), 404 * 4);
  for (at::Tensor& p : m.params) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
  c.ResetStats();
  ASSERT_TRUE(reducer->BeginStep().ok());
  Backward(c, m);
  stats = reducer->FinishStep();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(c.stats().allreduce_bytes, c.size() > 1 ? 404 * 4 : 0);
  for (size_t i = 0; i < m.params.size(); ++i) {
    EXPECT_TRUE(at::allclose(m.params[i].grad(), MeanInput(c, i)))
        << m.names[i];
  }
}

void CheckPlanMismatchFails(Communicator& c) {
  Model m = MakeModel();
  std::unique_ptr<GradientReducer> reducer =
      MakeReducer(c, m, ProgressMode::kHooks);
  ASSERT_NE(reducer, nullptr);
  const uint64_t before = reducer->plan().Fingerprint();
  // The last rank freezes w2 as well; the others only w0.
  std::vector<bool> trainable(6, true);
  trainable[0] = false;
  std::vector<bool> other = trainable;
  other[2] = false;
  const bool odd_one = c.rank() == c.size() - 1;
  const absl::Status s = reducer->SetTrainable(odd_one ? other : trainable);
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  // Both fingerprints, as each rank would compute them, and the ranks.
  auto fingerprint = [&](const std::vector<bool>& t) {
    std::vector<TensorSpec> specs;
    for (size_t i = 0; i < m.params.size(); ++i) {
      specs.push_back({m.names[i], m.params[i].numel(), 4, t[i]});
    }
    return Hex(BucketPlan::Build(specs, SmallCaps()).Fingerprint());
  };
  const std::string message(s.message());
  EXPECT_THAT(message, HasSubstr("differs across ranks"));
  EXPECT_THAT(message, HasSubstr(fingerprint(trainable)));
  EXPECT_THAT(message, HasSubstr(fingerprint(other)));
  EXPECT_THAT(message, HasSubstr("rank(s) " + std::to_string(c.size() - 1) +
                                 " have fingerprint " + fingerprint(other)));
  EXPECT_THAT(message, HasSubstr("rank(s) 0"));
  // The old plan stays, and a step still works on every rank.
  EXPECT_EQ(reducer->plan().Fingerprint(), before);
  ASSERT_TRUE(reducer->BeginStep().ok());
  Backward(c, m);
  absl::StatusOr<ReducerStepStats> stats = reducer->FinishStep();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(at::allclose(m.params[2].grad(), MeanInput(c, 2)));
}

void CheckMissingAndKeptGradients(Communicator& c, ProgressMode mode) {
  Model m = MakeModel();
  std::unique_ptr<GradientReducer> reducer = MakeReducer(c, m, mode);
  ASSERT_NE(reducer, nullptr);
  // A gradient the caller left in w0 (accumulation across micro-batches).
  m.params[0].mutable_grad() =
      at::full(Shapes()[0], c.rank() * 1.0, at::kFloat);
  ASSERT_TRUE(reducer->BeginStep().ok());
  Backward(c, m, /*unused=*/5);
  absl::StatusOr<ReducerStepStats> stats = reducer->FinishStep();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->missing_gradients, 1);
  EXPECT_TRUE(at::allclose(m.params[5].grad(), at::zeros({257})));
  const double mean_rank = (c.size() - 1) / 2.0;
  EXPECT_TRUE(at::allclose(m.params[0].grad(), MeanInput(c, 0) + mean_rank))
      << m.params[0].grad();
  EXPECT_TRUE(at::allclose(m.params[1].grad(), MeanInput(c, 1)));
}

void CheckBroadcastTensors(Communicator& c) {
  const int root = c.size() - 1;
  const bool is_root = c.rank() == root;
  // More than one 16 MiB chunk of floats, and every supported type.
  const int64_t big = (int64_t{17} << 20) / 4;
  std::vector<at::Tensor> tensors = {
      at::zeros({3, 4}, at::kFloat).requires_grad_(),
      at::zeros({5}, at::kDouble),
      at::zeros({2}, at::kLong),
      at::zeros({10}, at::kByte),
      at::zeros({big}, at::kFloat),
      at::zeros({3, 4}, at::kFloat).t()};
  std::vector<at::Tensor> want;
  for (const at::Tensor& t : tensors) {
    want.push_back(at::arange(t.numel(), at::kDouble)
                       .remainder(251)
                       .add(1)
                       .to(t.scalar_type())
                       .view(t.sizes()));
  }
  if (is_root) {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(want[i]);
  }
  c.ResetStats();
  const absl::Status s = GradientReducer::BroadcastTensors(&c, tensors, root);
  ASSERT_TRUE(s.ok()) << s;
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_TRUE(at::equal(tensors[i].detach(), want[i])) << "tensor " << i;
  }
  EXPECT_TRUE(tensors[0].requires_grad());
  EXPECT_FALSE(tensors[0].grad_fn());  // no autograd history
  // Small tensors travel packed: one call per type and chunk, not per tensor.
  EXPECT_LE(c.stats().broadcast_calls, 6);

  // Different lists fail on every rank instead of exchanging garbage.
  std::vector<at::Tensor> mismatched = {
      at::zeros({c.rank() == root ? 3 : 4}, at::kFloat)};
  const absl::Status bad =
      GradientReducer::BroadcastTensors(&c, mismatched, root);
  EXPECT_EQ(bad.code(), c.size() > 1 ? absl::StatusCode::kFailedPrecondition
                                     : absl::StatusCode::kOk)
      << bad;
}

}  // namespace freezing::comm::testing
