// The training step's guarantees: data parallelism over 2 ranks equals one
// rank on the concatenated batches; a frozen unit costs no backward, no
// communication and no optimizer work (ResNet and ViT: a frozen prefix of
// encoder blocks records no autograd graph); the gradient statistics equal
// norms computed directly from the step's gradients.
#include "train/step_runner.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "comm/fake_communicator.h"
#include "comm/reducer.h"
#include "gtest/gtest.h"
#include "train/grad_stats.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"
#include "train/sgd.h"

namespace freezing::train {
namespace {

std::shared_ptr<UnitModel> Model(const std::string& name) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  at::manual_seed(7);
  ModelConfig mc;
  mc.name = name;
  mc.num_classes = 4;
  mc.in_channels = 3;
  auto m = MakeModel(mc);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

// A fixed batch of 2B samples; rank r of n gets rows [r*2B/n, (r+1)*2B/n).
struct Data {
  at::Tensor images;
  at::Tensor labels;
};

Data Batch(int step, int rows) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1000 + step);
  Data d;
  d.images = at::randn({rows, 3, 32, 32}, gen);
  d.labels = at::randint(0, 4, {rows}, gen);
  return d;
}

struct Harness {
  std::shared_ptr<UnitModel> model;
  std::unique_ptr<comm::GradientReducer> reducer;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<GradientStatistics> stats;
  std::unique_ptr<StepRunner> runner;
};

absl::StatusOr<Harness> MakeHarness(
    const std::string& model_name, comm::Communicator& comm, int window,
    at::MemoryFormat format = at::MemoryFormat::Contiguous) {
  Harness h;
  h.model = Model(model_name);
  h.model->SetMemoryFormat(format);
  std::vector<at::Tensor> params = h.model->parameters();
  auto reducer = comm::GradientReducer::Create(
      &comm, params, h.model->parameter_names(), comm::ReducerOptions());
  if (!reducer.ok()) return reducer.status();
  h.reducer = std::move(*reducer);
  h.sgd = std::make_unique<Sgd>(params, SgdOptions{0.9, 1e-4});
  StatsLayout layout;
  layout.num_units = h.model->num_units();
  layout.param_unit.assign(params.size(), 0);
  for (int u = 0; u < h.model->num_units(); ++u) {
    for (int p : h.model->unit(u).params) layout.param_unit[p] = u;
  }
  for (const at::Tensor& p : params) layout.param_numel.push_back(p.numel());
  auto stats = GradientStatistics::Create(layout, window, &comm);
  if (!stats.ok()) return stats.status();
  h.stats = std::move(*stats);
  h.runner = std::make_unique<StepRunner>(h.model.get(), h.reducer.get(),
                                          h.sgd.get(), h.stats.get());
  return h;
}

// Runs `steps` steps on `ranks` fake ranks over the same global batches and
// freezes unit 0 before step `freeze_at`; returns rank 0's parameters.
std::vector<at::Tensor> Train(
    int ranks, int steps, int freeze_at, const std::string& model = "mlp",
    at::MemoryFormat format = at::MemoryFormat::Contiguous) {
  constexpr int kGlobalBatch = 8;
  std::vector<at::Tensor> result;
  std::vector<absl::Status> st = comm::RunOnFakeRanks(
      ranks, [&](comm::Communicator& comm) -> absl::Status {
        auto h = MakeHarness(model, comm, 1, format);
        if (!h.ok()) return h.status();
        const int rows = kGlobalBatch / ranks;
        for (int s = 0; s < steps; ++s) {
          if (s == freeze_at) {
            std::vector<bool> frozen(h->model->num_units(), false);
            frozen[0] = true;
            if (auto f = h->runner->SetFrozen(frozen); !f.ok()) return f;
          }
          Data d = Batch(s, kGlobalBatch);
          auto report = h->runner->Step(
              d.images.narrow(0, comm.rank() * rows, rows), 0,
              d.labels.narrow(0, comm.rank() * rows, rows), 0.05);
          if (!report.ok()) return report.status();
        }
        if (comm.rank() == 0) {
          for (const at::Tensor& p : h->model->parameters()) {
            result.push_back(p.detach().clone());
          }
        }
        return absl::OkStatus();
      });
  for (const absl::Status& s : st) EXPECT_TRUE(s.ok()) << s;
  return result;
}

TEST(StepRunnerTest, TwoRanksEqualOneRankOnConcatenatedBatches) {
  at::set_num_threads(1);
  const std::vector<at::Tensor> one = Train(1, 6, /*freeze_at=*/3);
  const std::vector<at::Tensor> two = Train(2, 6, /*freeze_at=*/3);
  ASSERT_EQ(one.size(), two.size());
  ASSERT_FALSE(one.empty());
  for (size_t i = 0; i < one.size(); ++i) {
    const double diff = (one[i] - two[i]).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5) << "parameter " << i;
  }
  // The run really trained: parameters moved from their initialisation.
  auto init = Model("mlp")->parameters();
  EXPECT_GT((one.back() - init.back()).abs().max().item<double>(), 1e-3);
}

// Channels-last parameters get channels-last gradients that are views of
// the reducer's buckets (the all-reduce, the statistics and the fused
// optimizer read them in that order): two ranks train as they do with
// contiguous parameters, up to rounding (measured: within 3.7e-5 of each
// parameter's largest value after two steps, unit 0 frozen after the first;
// BatchNorm over 4 samples amplifies rounding from step to step, 1.4e-4
// after three; a gradient in the wrong order would differ by O(1)).
TEST(StepRunnerTest, ChannelsLastTrainsAsContiguousOnTwoRanks) {
  at::set_num_threads(1);
  const std::vector<at::Tensor> plain = Train(2, 2, 1, "resnet_tiny");
  const std::vector<at::Tensor> cl =
      Train(2, 2, 1, "resnet_tiny", at::MemoryFormat::ChannelsLast);
  ASSERT_EQ(plain.size(), cl.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    if (cl[i].dim() == 4) {
      EXPECT_TRUE(cl[i].is_contiguous(at::MemoryFormat::ChannelsLast)) << i;
    }
    const double diff = (plain[i] - cl[i]).abs().max().item<double>() /
                        plain[i].abs().max().item<double>();
    EXPECT_LT(diff, 1e-4) << "parameter " << i;
  }
}

TEST(StepRunnerTest, TheFrozenPrefixIsFoldedAndUnfreezingDropsIt) {
  auto world = comm::FakeCommunicator::CreateWorld(1);
  auto h = MakeHarness("resnet_tiny", *world[0], 1);
  ASSERT_TRUE(h.ok()) << h.status();
  UnitModel& m = *h->model;
  const int units = m.num_units();
  auto set = [&](std::vector<bool> frozen) {
    frozen.resize(units, false);
    ASSERT_TRUE(h->runner->SetFrozen(frozen).ok());
  };
  set({true, true, true});
  EXPECT_TRUE(m.unit_folded(0) && m.unit_folded(1) && m.unit_folded(2));
  Data d = Batch(0, 4);
  auto report = h->runner->Step(d.images, 0, d.labels, 0.01);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->prefix_folded);
  // apf unfreezes unit 1: unit 0 stays folded, unit 2 (frozen behind a
  // trainable unit, run with autograd) is not.
  set({true, false, true});
  EXPECT_TRUE(m.unit_folded(0));
  EXPECT_FALSE(m.unit_folded(1));
  EXPECT_FALSE(m.unit_folded(2));
  set({});
  for (int u = 0; u < units; ++u) EXPECT_FALSE(m.unit_folded(u)) << u;
  report = h->runner->Step(d.images, 0, d.labels, 0.01);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->prefix_folded);
}

TEST(StepRunnerTest, AutoMemoryFormatIsContiguousForEveryModel) {
  // The model does not enter the choice; each case names the one it is for.
  const auto format = [](const std::string& flag,
                         const std::string& /*model*/) {
    return ChooseMemoryFormat(flag);
  };
  EXPECT_EQ(*format("auto", "resnet_tiny"), at::MemoryFormat::Contiguous);
  EXPECT_EQ(*format("channels_last", "resnet_tiny"),
            at::MemoryFormat::ChannelsLast);
  EXPECT_EQ(*format("auto", "mlp"), at::MemoryFormat::Contiguous);
  EXPECT_EQ(*format("auto", "vit_mini"), at::MemoryFormat::Contiguous);
  EXPECT_EQ(*format("contiguous", "resnet_tiny"), at::MemoryFormat::Contiguous);
  EXPECT_EQ(*format("channels_last", "mlp"), at::MemoryFormat::ChannelsLast);
  EXPECT_FALSE(format("nhwc", "mlp").ok());
}

TEST(StepRunnerTest, FrozenPrefixCostsNoBackwardNoBytesNoUpdate) {
  at::set_num_threads(1);
  std::vector<absl::Status> st =
      comm::RunOnFakeRanks(2, [&](comm::Communicator& comm) -> absl::Status {
        auto h = MakeHarness("resnet_tiny", comm, 1);
        if (!h.ok()) return h.status();
        const int units = h->model->num_units();
        std::vector<bool> frozen(units, false);
        frozen[0] = frozen[1] = frozen[2] = true;  // conv1, bn1, layer1
        EXPECT_TRUE(h->runner->SetFrozen(frozen).ok());
        EXPECT_EQ(h->runner->first_trainable(), 3);
        std::vector<at::Tensor> before;
        for (const at::Tensor& p : h->model->parameters()) {
          before.push_back(p.detach().clone());
        }
        std::vector<at::Tensor> buffers_before;
        for (const at::Tensor& b : h->model->buffers()) {
          buffers_before.push_back(b.detach().clone());
        }
        for (int s = 0; s < 3; ++s) {
          Data d = Batch(s, 4);
          auto r = h->runner->Step(d.images, 0, d.labels, 0.1);
          if (!r.ok()) return r.status();
          // No backward for the frozen units; the first trainable one runs.
          for (int u = 0; u < 3; ++u) EXPECT_EQ(r->unit_backward_ns[u], 0);
          EXPECT_GT(r->unit_backward_ns[3], 0);
          EXPECT_GT(r->unit_forward_ns[0], 0);
          // Exactly the trainable bytes travel.
          EXPECT_EQ(r->comm.bytes, h->runner->trainable_bytes());
          EXPECT_TRUE(r->prefix_output.defined());
          EXPECT_FALSE(r->prefix_output.requires_grad());
        }
        const std::vector<at::Tensor> after = h->model->parameters();
        for (int u = 0; u < units; ++u) {
          for (int p : h->model->unit(u).params) {
            const bool same = at::equal(after[p], before[p]);
            EXPECT_EQ(same, frozen[u]) << h->model->unit(u).name;
            EXPECT_EQ(after[p].requires_grad(), !frozen[u]);
            if (frozen[u]) {
              EXPECT_FALSE(after[p].grad().defined());
            }
          }
        }
        // bn1 is frozen: its running statistics did not move.
        const std::vector<std::string> names = h->model->buffer_names();
        const std::vector<at::Tensor> buffers = h->model->buffers();
        for (size_t i = 0; i < names.size(); ++i) {
          if (names[i].rfind("bn1.running", 0) == 0) {
            EXPECT_TRUE(at::equal(buffers[i], buffers_before[i])) << names[i];
          }
        }
        return absl::OkStatus();
      });
  for (const absl::Status& s : st) EXPECT_TRUE(s.ok()) << s;
}

// The autograd graph of a loss: its nodes, and the parameters it would
// accumulate gradients into.
struct Graph {
  int nodes = 0;
  std::set<const void*> accumulates;  // TensorImpl of each AccumulateGrad
};

Graph GraphOf(const at::Tensor& loss) {
  Graph g;
  std::set<const torch::autograd::Node*> seen;
  std::vector<std::shared_ptr<torch::autograd::Node>> todo = {loss.grad_fn()};
  while (!todo.empty()) {
    std::shared_ptr<torch::autograd::Node> n = todo.back();
    todo.pop_back();
    if (n == nullptr || !seen.insert(n.get()).second) continue;
    ++g.nodes;
    if (auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(n.get())) {
      g.accumulates.insert(acc->variable.unsafeGetTensorImpl());
    }
    for (const torch::autograd::Edge& e : n->next_edges()) {
      todo.push_back(e.function);
    }
  }
  return g;
}

// A ViT with the embedding and the first K-1 encoder blocks frozen
// (static:K): the frozen prefix records no autograd node (backward stops at
// the first trainable block: nothing computes its input's gradient), each
// frozen block removes the same number of nodes, and only the trainable
// parameters are in the reducer's plan, the bytes sent and the updates.
TEST(StepRunnerTest, VitFrozenBlocksRecordNoGraphAndLeaveTheBuckets) {
  at::set_num_threads(1);
  std::vector<absl::Status> st =
      comm::RunOnFakeRanks(2, [&](comm::Communicator& comm) -> absl::Status {
        auto h = MakeHarness("vit_mini", comm, 1);
        if (!h.ok()) return h.status();
        UnitModel& m = *h->model;
        const int units = m.num_units();  // embedding, 6 blocks, head
        EXPECT_EQ(units, 8);
        const std::vector<at::Tensor> params = m.parameters();
        std::vector<int> nodes;
        for (int k = 0; k < units; ++k) {
          std::vector<bool> frozen(units, false);
          for (int u = 0; u < k; ++u) frozen[u] = true;
          if (auto f = h->runner->SetFrozen(frozen); !f.ok()) return f;
          EXPECT_EQ(h->runner->first_trainable(), k);

          // The forward as StepRunner::Step runs it.
          Data d = Batch(k, 4);
          at::Tensor x = d.images;
          for (int u = 0; u < units; ++u) {
            if (u < k) {
              at::NoGradGuard no_grad;
              x = m.ForwardUnit(u, x);
              EXPECT_FALSE(x.requires_grad()) << "unit " << u;
            } else {
              x = m.ForwardUnit(u, x);
            }
          }
          const Graph g = GraphOf(at::cross_entropy_loss(x, d.labels));
          nodes.push_back(g.nodes);
          const comm::BucketPlan& plan = h->reducer->plan();
          int64_t planned_bytes = 0;
          for (int u = 0; u < units; ++u) {
            for (int p : m.unit(u).params) {
              const bool trainable = u >= k;
              EXPECT_EQ(g.accumulates.count(params[p].unsafeGetTensorImpl()),
                        trainable ? 1u : 0u)
                  << "K=" << k << " " << m.unit(u).name;
              EXPECT_EQ(plan.bucket_of(p) >= 0, trainable)
                  << "K=" << k << " " << m.unit(u).name;
              if (trainable) planned_bytes += params[p].numel() * 4;
            }
          }
          EXPECT_EQ(plan.total_bytes(), planned_bytes);

          // The step itself: no backward time and no update for frozen
          // units; exactly the trainable bytes travel.
          std::vector<at::Tensor> before;
          for (const at::Tensor& p : params)
            before.push_back(p.detach().clone());
          auto r = h->runner->Step(d.images, 0, d.labels, 0.1);
          if (!r.ok()) return r.status();
          EXPECT_EQ(r->comm.bytes, planned_bytes);
          for (int u = 0; u < units; ++u) {
            if (u < k) {
              EXPECT_EQ(r->unit_backward_ns[u], 0) << "K=" << k << " " << u;
            }
            for (int p : m.unit(u).params) {
              if (u < k) {
                EXPECT_TRUE(at::equal(params[p], before[p]));
                EXPECT_FALSE(params[p].grad().defined());
              }
            }
          }
          if (k > 0) EXPECT_FALSE(r->prefix_output.requires_grad());
        }
        // Freezing the embedding removes its nodes; every further block the
        // same number (the blocks are identical), and the graph keeps
        // shrinking down to the head alone (whose selection of the class
        // token then needs no gradient either: one node more).
        for (int k = 1; k < units; ++k) EXPECT_LT(nodes[k], nodes[k - 1]);
        const int per_block = nodes[1] - nodes[2];
        EXPECT_GT(per_block, 20);
        for (int k = 3; k < units - 1; ++k) {
          EXPECT_EQ(nodes[k - 1] - nodes[k], per_block) << k;
        }
        EXPECT_EQ(nodes[units - 2] - nodes[units - 1], per_block + 1);
        return absl::OkStatus();
      });
  for (const absl::Status& s : st) EXPECT_TRUE(s.ok()) << s;
}

TEST(StepRunnerTest, ClassifierCannotBeFrozen) {
  std::vector<absl::Status> st =
      comm::RunOnFakeRanks(1, [&](comm::Communicator& comm) -> absl::Status {
        auto h = MakeHarness("mlp", comm, 1);
        if (!h.ok()) return h.status();
        std::vector<bool> frozen(h->model->num_units(), true);
        EXPECT_EQ(h->runner->SetFrozen(frozen).code(),
                  absl::StatusCode::kInvalidArgument);
        return absl::OkStatus();
      });
  EXPECT_TRUE(st[0].ok()) << st[0];
}

// The recorded interval norms equal norms computed directly from the saved
// gradients of every step; window norms equal the norms of sums over several
// base intervals; global norms are those of the averaged gradient.
void CheckStatisticsEqualNormsOfSavedGradients(const int kRanks) {
  at::set_num_threads(1);
  constexpr int kT = 2, kIntervals = 4, kWindow = 3;
  // saved[rank][step][param]
  std::vector<std::vector<std::vector<at::Tensor>>> saved(kRanks);
  std::vector<std::vector<freeze::BaseIntervalStats>> recorded(kRanks);
  std::vector<std::vector<int>> param_unit(kRanks);
  std::vector<absl::Status> st = comm::RunOnFakeRanks(
      kRanks, [&](comm::Communicator& comm) -> absl::Status {
        const int r = comm.rank();
        auto h = MakeHarness("mlp", comm, kWindow);
        if (!h.ok()) return h.status();
        const auto params = h->model->parameters();
        param_unit[r].assign(params.size(), 0);
        for (int u = 0; u < h->model->num_units(); ++u) {
          for (int p : h->model->unit(u).params) param_unit[r][p] = u;
        }
        std::vector<at::Tensor>* current = nullptr;
        GradientStatistics* stats = h->stats.get();
        h->reducer->SetLocalGradientObserver(
            [&current, stats](int p, const at::Tensor& g) {
              stats->AccumulateLocal(p, g);
              (*current)[p] = g.detach().clone();
            });
        for (int s = 0; s < kT * kIntervals; ++s) {
          saved[r].emplace_back(params.size());
          current = &saved[r].back();
          Data d = Batch(s, 4 * kRanks);
          auto rep = h->runner->Step(d.images.narrow(0, r * 4, 4), 0,
                                     d.labels.narrow(0, r * 4, 4), 0.05);
          if (!rep.ok()) return rep.status();
          std::vector<bool> trained(h->model->num_units(), true);
          stats->EndStep(4, rep->loss * 4, trained);
          if ((s + 1) % kT == 0) {
            auto bis = stats->FinishInterval(s / kT, s + 1 - kT, s, 0, 0.5);
            if (!bis.ok()) return bis.status();
            recorded[r].push_back(*bis);
          }
        }
        return absl::OkStatus();
      });
  for (const absl::Status& s : st) ASSERT_TRUE(s.ok()) << s;

  const int units = static_cast<int>(recorded[0][0].global.size());
  for (int i = 0; i < kIntervals; ++i) {
    // Every rank holds identical global statistics.
    for (int r = 1; r < kRanks; ++r) {
      for (int u = 0; u < units; ++u) {
        EXPECT_EQ(recorded[0][i].global[u].l2, recorded[r][i].global[u].l2);
      }
    }
    const int windows = std::min(kWindow, i + 1);
    for (int k = 1; k <= windows; ++k) {
      for (int u = 0; u < units; ++u) {
        double g2 = 0, g1 = 0;
        std::vector<double> l2(kRanks, 0), l1(kRanks, 0), dot(kRanks, 0);
        for (size_t p = 0; p < param_unit[0].size(); ++p) {
          if (param_unit[0][p] != u) continue;
          std::vector<at::Tensor> local(kRanks);
          for (int r = 0; r < kRanks; ++r) {
            local[r] = at::zeros_like(saved[r][0][p], at::kDouble);
            for (int s = (i - k + 1) * kT; s < (i + 1) * kT; ++s) {
              local[r] += saved[r][s][p].to(at::kDouble);
            }
          }
          at::Tensor global = at::zeros_like(local[0]);
          for (int r = 0; r < kRanks; ++r) global += local[r];
          global /= kRanks;
          g2 += global.pow(2).sum().item<double>();
          g1 += global.abs().sum().item<double>();
          for (int r = 0; r < kRanks; ++r) {
            l2[r] += local[r].pow(2).sum().item<double>();
            l1[r] += local[r].abs().sum().item<double>();
            dot[r] += (local[r] * global).sum().item<double>();
          }
        }
        const auto& rec = recorded[0][i];
        auto near = [](double got, double want) {
          return std::abs(got - want) <= 1e-5 * std::max(1.0, std::abs(want));
        };
        EXPECT_TRUE(near(rec.global[u].l2[k - 1], std::sqrt(g2)))
            << "interval " << i << " window " << k << " unit " << u << ": "
            << rec.global[u].l2[k - 1] << " vs " << std::sqrt(g2);
        EXPECT_TRUE(near(rec.global[u].l1[k - 1], g1));
        EXPECT_EQ(rec.global[u].trained_steps[k - 1], k * kT);
        for (int r = 0; r < kRanks; ++r) {
          const auto& rs = rec.ranks[r];
          EXPECT_EQ(rs.rank, r);
          EXPECT_TRUE(near(rs.units[u].l2[k - 1], std::sqrt(l2[r])));
          EXPECT_TRUE(near(rs.units[u].l1[k - 1], l1[r]));
          EXPECT_TRUE(near(rs.units[u].dot_global[k - 1], dot[r]));
          EXPECT_EQ(rs.samples[k - 1], 4 * k * kT);
        }
      }
    }
  }
}

TEST(StepRunnerTest, StatisticsEqualNormsOfSavedGradientsOnTwoRanks) {
  CheckStatisticsEqualNormsOfSavedGradients(2);
}

// One rank keeps no separate global sums (they are the local ones).
TEST(StepRunnerTest, StatisticsEqualNormsOfSavedGradientsOnOneRank) {
  CheckStatisticsEqualNormsOfSavedGradients(1);
}

}  // namespace
}  // namespace freezing::train
