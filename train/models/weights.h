// Model weights in and out: torchvision exports and the project's own format.
//
// Two file formats load, both by tensor name (torchvision's state_dict keys):
//   - a TorchScript archive of a torchvision model, as written by
//     tools/export_torchvision.py (torch.jit.script + save);
//   - the project's own: a torch::serialize archive holding every named
//     parameter and buffer of the model at top level, under its dotted
//     torchvision name (SaveWeights / WriteWeights).
// Parameters and buffers (BatchNorm running_mean, running_var,
// num_batches_tracked) are copied. A file that does not fit is refused as a
// whole, leaving the model unchanged, with the first tensor that differs:
// a model tensor missing from the file, a shape that differs, or a file
// tensor the model does not have.
//
// Free of libtorch: the archive types are declared, not included.
#ifndef FREEZING_TRAIN_MODELS_WEIGHTS_H_
#define FREEZING_TRAIN_MODELS_WEIGHTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace freezing::train {

class UnitModel;

// LoadWeightsOptions: which tensors of the file to use.
struct LoadWeightsOptions {
  // Tensors whose name starts with one of these are neither required nor
  // loaded (on either side) and keep the model's initialisation, e.g. {"fc."}
  // to transfer to a different number of classes.
  std::vector<std::string> exclude_prefixes;
  // Only file tensors under this prefix are considered, with it removed, e.g.
  // "model." for weights nested in a trainer checkpoint. Empty: all.
  std::string source_prefix;
};

// LoadWeights: copies the tensors of the file at `path` into `model`.
// NotFound when the file does not exist; InvalidArgument when it is not a
// readable archive or does not fit the model (message names the first
// differing tensor and both shapes).
absl::Status LoadWeights(const std::string& path, UnitModel& model,
                         const LoadWeightsOptions& options = {});

// SaveWeights: writes the model's parameters and buffers in the project's
// format, atomically (temporary file + rename). Internal on I/O failure.
absl::Status SaveWeights(const std::string& path, const UnitModel& model);

// WriteWeights: the same tensors into an archive the caller owns (e.g. a
// nested "model" archive of a checkpoint).
void WriteWeights(const UnitModel& model,
                  torch::serialize::OutputArchive& archive);

// ReadWeights: LoadWeights from an archive the caller has opened.
absl::Status ReadWeights(torch::serialize::InputArchive& archive,
                         UnitModel& model,
                         const LoadWeightsOptions& options = {});

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_MODELS_WEIGHTS_H_
