// The `--data` spec and the data set a run trains on.
//
// Specs: `fashion_mnist` (Debian's files), `fashion_mnist:DIR`,
// `cifar10:DIR`, `synthetic[:n=N,test_n=N,classes=K,channels=C,size=S,
// noise=X,seed=S]`. Class selection and limits apply after loading, in that
// order: limits take the first N samples of the selected classes.
#ifndef FREEZING_TRAIN_DATA_DATA_SOURCE_H_
#define FREEZING_TRAIN_DATA_DATA_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "train/data/dataset.h"

namespace freezing::train {

// DataConfig: what `--data`, `--classes`, `--train_limit`, `--test_limit` say.
struct DataConfig {
  std::string spec = "fashion_mnist";
  // Source classes to keep, relabelled 0..k-1 in this order; empty = all.
  std::vector<int> classes;
  int64_t train_limit = 0;  // first N training samples after selection; 0 = all
  int64_t test_limit = 0;   // first N test samples after selection; 0 = all
};

// ValidDataSpecs: the accepted forms, for error messages and --help.
const char* ValidDataSpecs();

// ValidateDataSpec: InvalidArgument (listing the valid forms) unless `spec`
// parses; reads no file.
absl::Status ValidateDataSpec(const std::string& spec);

// LoadDataset: reads or generates the data, then selects classes and applies
// limits. InvalidArgument for a bad spec or class list; NotFound / DataLoss
// (naming the file and what was expected) for missing or malformed files.
absl::StatusOr<Dataset> LoadDataset(const DataConfig& config);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_DATA_SOURCE_H_
