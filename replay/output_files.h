// Small file helpers for replay's outputs: make a folder, write a text file
// atomically (a temporary file renamed over the target), read one back.
#ifndef FREEZING_REPLAY_OUTPUT_FILES_H_
#define FREEZING_REPLAY_OUTPUT_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace freezing::replay {

// MakeDirectories: `path` and its missing parents.
absl::Status MakeDirectories(const std::string& path);
absl::Status WriteTextFile(const std::string& path, const std::string& text);
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace freezing::replay

#endif  // FREEZING_REPLAY_OUTPUT_FILES_H_
