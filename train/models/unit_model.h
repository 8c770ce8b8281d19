// A network as a sequence of freezable units, the contract between the
// models and the trainer (freezing, per-unit timing, the activation cache).
//
// A unit is a contiguous piece of the forward pass: unit 0 takes the image
// batch, unit i takes unit i-1's output, the last unit is the classifier.
// Every parameter belongs to exactly one unit. Parameters and buffers are
// registered (and named) as in torchvision, so named_parameters() and
// named_buffers() list torchvision's state_dict keys in its order.
#ifndef FREEZING_TRAIN_MODELS_UNIT_MODEL_H_
#define FREEZING_TRAIN_MODELS_UNIT_MODEL_H_

#include <c10/core/MemoryFormat.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace freezing::train {

// UnitSpec: what the trainer, the trace and the simulator know of a unit.
struct UnitSpec {
  std::string name;         // e.g. "conv1", "layer2", "layer2.1", "stem", "fc"
  std::vector<int> params;  // indices into parameters(), registration order
  int64_t num_params = 0;   // elements of those parameters
  // Estimate at the model's image size: 2 x multiply-adds of convolutions and
  // linear layers, plus per output element 2 for BatchNorm, 1 for ReLU and
  // residual additions, k*k-1 for max-pooling; average pooling 1 per input.
  double forward_flops_per_sample = 0;
  int64_t output_elements_per_sample = 0;  // of the unit's output activation
  bool is_classifier = false;
};

// UnitModel: a torch::nn::Module made of freezable units.
class UnitModel : public torch::nn::Module {
 public:
  // model_name: e.g. "resnet18".
  const std::string& model_name() const { return model_name_; }
  // input_shape: {channels, height, width} of one input image.
  const std::vector<int64_t>& input_shape() const { return input_shape_; }

  int num_units() const { return static_cast<int>(units_.size()); }
  const UnitSpec& unit(int i) const { return units_.at(i); }
  const std::vector<UnitSpec>& units() const { return units_; }

  // ForwardUnit: unit i applied to unit i-1's output (unit 0: the images,
  // [B, C, H, W]). Never modifies `x` in place, so a cached activation can be
  // fed again. A 4-d input not in the model's memory format is converted
  // first. A folded unit (SetUnitFolded) runs its inference form whenever
  // grad mode is off.
  torch::Tensor ForwardUnit(int i, const torch::Tensor& x);
  // forward: all units in order (ForwardUnit); logits [B, num_classes].
  torch::Tensor forward(const torch::Tensor& x);

  // SetUnitFrozen: frozen = requires_grad off for the unit's parameters and
  // its modules (BatchNorm: running statistics used, not updated) in eval
  // mode; unfrozen = requires_grad on and the modules back in the model's
  // mode. Running the frozen prefix under torch::NoGradGuard is the caller's
  // choice (ForwardUnit does not decide it).
  void SetUnitFrozen(int i, bool frozen);
  bool unit_frozen(int i) const { return frozen_.at(i); }

  // SetUnitFolded: a frozen unit's inference form (UnitDef::fold: BatchNorm
  // folded into the convolutions, ReLU fused, weights prepacked; see
  // folded_conv.h), built now from the current parameters and buffers and
  // built again before a use after any of them was written (tensor version
  // counters: e.g. evaluation broadcasting rank 0's BatchNorm statistics,
  // or weights loaded). ForwardUnit runs it whenever grad mode is off, which
  // is when the unit is part of the frozen prefix; behind a trainable unit
  // (policies that unfreeze) a frozen unit runs with autograd and its own
  // forward. Folded only while frozen: SetUnitFrozen(i, false) drops it. A
  // unit without an inference form (has_inference_form false) is folded in
  // name only and runs its own forward.
  void SetUnitFolded(int i, bool folded);
  bool unit_folded(int i) const { return folded_.at(i); }
  bool has_inference_form(int i) const {
    return static_cast<bool>(folds_.at(i));
  }

  // SetMemoryFormat: every 4-d parameter and buffer in `format`
  // (ChannelsLast or Contiguous); unit inputs are converted on entry, so
  // activations stay in it; folded units are built again. Call before an
  // optimizer or a gradient reducer captures the parameters' layout.
  void SetMemoryFormat(at::MemoryFormat format);
  at::MemoryFormat memory_format() const { return format_; }
  // spatial_activations: a unit before the classifier outputs [B, C, H, W],
  // so the memory format reaches the activations (ResNets, not ViTs or the
  // MLP).
  bool spatial_activations() const { return spatial_; }

  // train: Module::train, except that frozen units stay in eval mode, so
  // model->train() after an evaluation does not revive frozen BatchNorm
  // statistics. eval() (= train(false)) puts everything in eval mode.
  void train(bool on = true) override;
  // SetTraining: the same as train(on), by the name the trainer uses.
  void SetTraining(bool on) { train(on); }

  // parameter_names / buffer_names: registration order (torchvision's).
  std::vector<std::string> parameter_names() const;
  std::vector<std::string> buffer_names() const;
  // num_params: elements of all parameters.
  int64_t num_params() const;

 protected:
  UnitModel(std::string model_name, std::vector<int64_t> input_shape);

  // UnitFn: a unit's function of its input.
  using UnitFn = std::function<torch::Tensor(const torch::Tensor&)>;

  // UnitDef: how a subclass describes one unit.
  struct UnitDef {
    std::string name;
    // The registered modules (with their descendants) the unit consists of;
    // their parameters are the unit's.
    std::vector<std::shared_ptr<torch::nn::Module>> modules;
    std::function<torch::Tensor(const torch::Tensor&)> forward;
    double forward_flops_per_sample = 0;
    bool is_classifier = false;
    // Parameters of the unit registered directly on a module that other
    // units share (a ViT's class token on the model, its position embedding
    // on the encoder), so `modules` cannot name them.
    std::vector<torch::Tensor> params;
    // The unit's inference form for inputs in a memory format, built from
    // its current parameters and buffers (eval mode, no autograd); unset
    // when it has none better than `forward`.
    std::function<UnitFn(at::MemoryFormat)> fold;
  };

  // SetUnits: called once at the end of a subclass's constructor, after all
  // modules are registered. Maps parameters to units (each must belong to
  // exactly one) and measures output sizes with one eval-mode forward pass of
  // a single zero image. Throws c10::Error on a malformed definition.
  void SetUnits(std::vector<UnitDef> units);

 private:
  std::string model_name_;
  std::vector<int64_t> input_shape_;
  std::vector<UnitSpec> units_;
  std::vector<std::vector<std::shared_ptr<torch::nn::Module>>> unit_modules_;
  std::vector<UnitFn> unit_fns_;
  std::vector<bool> frozen_;
  // InFormat: `x` in the model's memory format (a copy when it is not).
  torch::Tensor InFormat(const torch::Tensor& x) const;
  // Folded: unit i's inference form, built again if a tensor it was built
  // from has been written since.
  const UnitFn& Folded(int i);
  int64_t Versions(int i) const;
  std::vector<std::function<UnitFn(at::MemoryFormat)>> folds_;
  std::vector<bool> folded_;
  std::vector<UnitFn> folded_fns_;  // empty unless folded and foldable
  std::vector<int64_t> folded_versions_;
  // Per unit: its parameters and its modules' buffers (what a fold reads).
  std::vector<std::vector<torch::Tensor>> unit_tensors_;
  at::MemoryFormat format_ = at::MemoryFormat::Contiguous;
  bool spatial_ = false;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_UNIT_MODEL_H_
