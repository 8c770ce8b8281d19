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
  // fed again.
  torch::Tensor ForwardUnit(int i, const torch::Tensor& x);
  // forward: all units in order; logits [B, num_classes].
  torch::Tensor forward(const torch::Tensor& x);

  // SetUnitFrozen: frozen = requires_grad off for the unit's parameters and
  // its modules (BatchNorm: running statistics used, not updated) in eval
  // mode; unfrozen = requires_grad on and the modules back in the model's
  // mode. Running the frozen prefix under torch::NoGradGuard is the caller's
  // choice (ForwardUnit does not decide it).
  void SetUnitFrozen(int i, bool frozen);
  bool unit_frozen(int i) const { return frozen_.at(i); }

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
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> unit_fns_;
  std::vector<bool> frozen_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_UNIT_MODEL_H_
