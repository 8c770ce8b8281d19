#include "train/profiler.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "train/grad_stats.h"
#include "train/sgd.h"

namespace freezing::train {
namespace {

using base::NowNs;

int64_t Median(std::vector<int64_t> t) {
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Median duration of `fn` over `repeats` runs, after one warm-up run.
int64_t MedianNs(int repeats, const std::function<void()>& fn) {
  fn();
  std::vector<int64_t> t;
  for (int i = 0; i < repeats; ++i) {
    const int64_t start = NowNs();
    fn();
    t.push_back(NowNs() - start);
  }
  return Median(std::move(t));
}

void ClearGrads(UnitModel& model) {
  for (at::Tensor& p : model.parameters()) p.mutable_grad().reset();
}

// Unit u on its input `in`: forward, backward with and without the input
// gradient, and the no-grad forward of the unit frozen.
void ProfileUnit(UnitModel& model, int u, const at::Tensor& in, int repeats,
                 trace::UnitProfile* p) {
  p->set_unit(u);
  p->set_forward_ns(MedianNs(repeats, [&] { model.ForwardUnit(u, in); }));
  auto backward = [&](bool input_grad) {
    at::Tensor x = in.detach().requires_grad_(input_grad);
    at::Tensor y = model.ForwardUnit(u, x);
    at::Tensor g = at::ones_like(y);
    const int64_t start = NowNs();
    y.backward(g);
    const int64_t ns = NowNs() - start;
    ClearGrads(model);
    return ns;
  };
  std::vector<int64_t> with, without;
  backward(true);
  for (int r = 0; r < repeats; ++r) {
    with.push_back(backward(true));
    without.push_back(backward(false));
  }
  p->set_backward_ns(Median(std::move(with)));
  p->set_backward_no_input_grad_ns(Median(std::move(without)));
  model.SetUnitFrozen(u, true);
  auto nograd = [&] {
    at::NoGradGuard no_grad;
    model.ForwardUnit(u, in);
  };
  p->set_forward_nograd_ns(MedianNs(repeats, nograd));
  if (model.has_inference_form(u)) {
    model.SetUnitFolded(u, true);
    p->set_forward_folded_ns(MedianNs(repeats, nograd));
  } else {
    p->set_forward_folded_ns(p->forward_nograd_ns());
  }
  model.SetUnitFrozen(u, false);  // drops the folded form
}

// Optimizer: all parameters, then the classifier alone; a line through both
// gives the cost per parameter and the fixed cost.
void ProfileOptimizer(UnitModel& model, int repeats,
                      trace::StartupProfile& profile) {
  const int units = model.num_units();
  const std::vector<at::Tensor> model_params = model.parameters();
  auto time_sgd = [&](int first_unit) {
    std::vector<at::Tensor> params;
    int64_t numel = 0;
    for (int u = first_unit; u < units; ++u) {
      for (int i : model.unit(u).params) {
        at::Tensor p = model_params[i].detach().clone();
        p.mutable_grad() = at::randn_like(p);
        numel += p.numel();
        params.push_back(p);
      }
    }
    Sgd sgd(params, {});
    const int64_t ns = MedianNs(repeats, [&] { sgd.Step(1e-3); });
    return std::make_pair(numel, ns);
  };
  const auto all = time_sgd(0);
  const auto last = time_sgd(units - 1);
  double per_param = 0;
  if (all.first > last.first) {
    per_param = static_cast<double>(all.second - last.second) /
                static_cast<double>(all.first - last.first);
  }
  per_param = std::max(0.0, per_param);
  profile.set_optimizer_ns_per_param(per_param);
  profile.set_optimizer_fixed_ns(std::max<int64_t>(
      0, last.second - static_cast<int64_t>(per_param * last.first)));
}

// A training step's forward and backward of the whole model, nothing frozen,
// with the statistics' accumulation of every gradient (AccumulateGradient,
// as GradientStatistics does it: its cost depends on the gradients' memory
// format), in each memory format (models with 4-d activations),
// alternating, medians of `repeats` after one warm-up each; the model is
// left in its format.
void ProfileMemoryFormats(UnitModel& model, const at::Tensor& images,
                          const at::Tensor& labels, int repeats,
                          trace::StartupProfile& profile) {
  if (!model.spatial_activations()) return;
  const at::MemoryFormat own = model.memory_format();
  int64_t numel = 0;
  for (const at::Tensor& p : model.parameters()) numel += p.numel();
  std::vector<float> accumulator(static_cast<size_t>(numel));
  auto step = [&] {
    at::cross_entropy_loss(model.forward(images), labels).backward();
    float* acc = accumulator.data();
    for (const at::Tensor& p : model.parameters()) {
      if (p.grad().defined()) AccumulateGradient(acc, p.grad(), false);
      acc += p.numel();
    }
    ClearGrads(model);
  };
  std::vector<int64_t> contiguous, channels_last;
  for (int r = -1; r < repeats; ++r) {
    for (at::MemoryFormat f :
         {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
      model.SetMemoryFormat(f);
      const int64_t start = NowNs();
      step();
      const int64_t ns = NowNs() - start;
      if (r < 0) continue;  // warm-up
      (f == at::MemoryFormat::Contiguous ? contiguous : channels_last)
          .push_back(ns);
    }
  }
  model.SetMemoryFormat(own);
  profile.set_step_contiguous_ns(Median(std::move(contiguous)));
  profile.set_step_channels_last_ns(Median(std::move(channels_last)));
}

// Everything measured on this rank alone: the units, the loss, the
// optimizer, a cache read, the memory formats. Throws c10::Error.
void ProfileCompute(UnitModel& model, const at::Tensor& images,
                    const at::Tensor& labels, int repeats,
                    trace::StartupProfile& profile) {
  const int units = model.num_units();
  for (int u = 0; u < units; ++u) model.SetUnitFrozen(u, false);
  model.SetTraining(true);
  // Inputs of every unit, from one forward pass.
  std::vector<at::Tensor> inputs;
  {
    at::NoGradGuard no_grad;
    at::Tensor x = images;
    for (int u = 0; u < units; ++u) {
      inputs.push_back(x);
      x = model.ForwardUnit(u, x);
    }
    inputs.push_back(x);  // logits
  }
  for (int u = 0; u < units; ++u) {
    ProfileUnit(model, u, inputs[u], repeats, profile.add_units());
  }
  // Loss forward and backward on the logits.
  profile.set_loss_ns(MedianNs(repeats, [&] {
    at::Tensor logits = inputs[units].detach().requires_grad_(true);
    at::cross_entropy_loss(logits, labels).backward();
  }));
  ProfileOptimizer(model, repeats, profile);
  // Copying a cached activation: the cost per element of a cache read.
  const at::Tensor& act = inputs[std::min(units - 1, 3)];
  at::Tensor dst = at::empty_like(act);
  const int64_t ns = MedianNs(repeats, [&] { dst.copy_(act); });
  profile.set_cache_read_ns_per_element(static_cast<double>(ns) /
                                        static_cast<double>(act.numel()));
  ProfileMemoryFormats(model, images, labels, repeats, profile);
}

// All-reduce times for this run's bucket sizes (collective).
absl::Status ProfileAllReduce(comm::Communicator& comm,
                              std::vector<int64_t> sizes, int repeats,
                              trace::StartupProfile& profile) {
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  for (int64_t bytes : sizes) {
    std::vector<float> buf(static_cast<size_t>(std::max<int64_t>(1, bytes / 4)),
                           1.0f);
    absl::Status status;
    const int64_t ns = MedianNs(repeats, [&] {
      absl::Status s =
          comm.AllReduceSum(buf.data(), buf.size(), comm::DType::kFloat32);
      if (status.ok()) status = s;
    });
    RETURN_IF_ERROR(status);
    trace::AllReducePoint* point = profile.add_allreduce();
    point->set_bytes(bytes);
    point->set_ns(ns);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<trace::StartupProfile> ProfileStartup(
    UnitModel& model, const at::Tensor& images, const at::Tensor& labels,
    comm::Communicator& comm, const std::vector<int64_t>& bucket_bytes,
    int repeats) {
  trace::StartupProfile profile;
  profile.set_batch_size(static_cast<int>(images.size(0)));
  profile.set_repeats(repeats);
  const int units = model.num_units();
  std::vector<bool> was_frozen(units);
  for (int u = 0; u < units; ++u) was_frozen[u] = model.unit_frozen(u);
  // Profiling runs BatchNorm in training mode, which moves the running
  // statistics: keep a copy to restore.
  std::vector<at::Tensor> buffers = model.buffers();
  std::vector<at::Tensor> saved;
  for (const at::Tensor& b : buffers) saved.push_back(b.detach().clone());
  try {
    ProfileCompute(model, images, labels, repeats, profile);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("start-up profile failed: ", e.what_without_backtrace()));
  }
  {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved[i]);
  }
  ClearGrads(model);
  for (int u = 0; u < units; ++u) model.SetUnitFrozen(u, was_frozen[u]);
  model.SetTraining(true);
  if (comm.size() > 1) {
    RETURN_IF_ERROR(ProfileAllReduce(comm, bucket_bytes, repeats, profile));
  }
  return profile;
}

std::vector<double> PrefixForwardNsPerSample(
    const trace::StartupProfile& profile, bool folded) {
  std::vector<double> out;
  const double batch = static_cast<double>(profile.batch_size());
  for (const trace::UnitProfile& u : profile.units()) {
    const int64_t ns = folded && u.forward_folded_ns() > 0
                           ? u.forward_folded_ns()
                           : u.forward_nograd_ns();
    out.push_back(batch > 0 ? static_cast<double>(ns) / batch : 0.0);
  }
  return out;
}

std::vector<double> ForwardNoGradNsPerSample(UnitModel& model,
                                             const at::Tensor& images,
                                             int repeats) {
  const int units = model.num_units();
  std::vector<double> out(units, 0.0);
  const double batch = static_cast<double>(images.size(0));
  model.SetTraining(false);
  {
    at::NoGradGuard no_grad;
    at::Tensor x = images;
    for (int u = 0; u < units; ++u) {
      at::Tensor y;
      const int64_t ns =
          MedianNs(repeats, [&] { y = model.ForwardUnit(u, x); });
      out[u] = static_cast<double>(ns) / batch;
      x = y;
    }
  }
  model.SetTraining(true);
  return out;
}

}  // namespace freezing::train
