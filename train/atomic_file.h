// Atomic file replacement: write to a temporary file in the same folder,
// fsync it, rename it over the target, fsync the folder. A reader (or a run
// that resumes) sees the old file or the new one, never a partial one.
#ifndef FREEZING_TRAIN_ATOMIC_FILE_H_
#define FREEZING_TRAIN_ATOMIC_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace freezing::train {

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// For writers that need a path (e.g. torch's archive writer): `write` gets
// the temporary path to create; on success the file is synced and renamed.
absl::Status ReplaceFileAtomically(
    const std::string& path,
    const std::function<absl::Status(const std::string& temp_path)>& write);

// Creates `path` and its parents (like mkdir -p).
absl::Status MakeDirs(const std::string& path);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_ATOMIC_FILE_H_
