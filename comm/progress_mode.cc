#include "comm/progress_mode.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace freezing::comm {

absl::StatusOr<ProgressMode> ParseProgressMode(const std::string& text) {
  if (text == "hooks") return ProgressMode::kHooks;
  if (text == "thread") return ProgressMode::kThread;
  if (text == "sync") return ProgressMode::kSync;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown progress mode '", text, "'; valid: hooks, thread, sync"));
}

const char* ProgressModeName(ProgressMode mode) {
  switch (mode) {
    case ProgressMode::kHooks:
      return "hooks";
    case ProgressMode::kThread:
      return "thread";
    case ProgressMode::kSync:
      return "sync";
  }
  return "unknown";
}

ThreadLevel RequiredThreadLevel(ProgressMode mode) {
  return mode == ProgressMode::kThread ? ThreadLevel::kSerialized
                                       : ThreadLevel::kFunneled;
}

}  // namespace freezing::comm
