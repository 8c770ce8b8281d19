// TestdataTraces: the recorded traces in a testdata/ folder (its *.pb files,
// sorted by name), for the regression test and the golden updater.
#ifndef FREEZING_REPLAY_TESTDATA_FILES_H_
#define FREEZING_REPLAY_TESTDATA_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace freezing::replay {

// Names (e.g. "tiny_none_2rank") of the `*.pb` files in `folder`.
absl::StatusOr<std::vector<std::string>> TestdataTraces(
    const std::string& folder);

// Names of the `*.csv` files in `folder`.
absl::StatusOr<std::vector<std::string>> GoldenFiles(const std::string& folder);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_TESTDATA_FILES_H_
