#include "comm/progress_mode.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace freezing::comm {

absl::StatusOr<ProgressMode> ParseProgressMode(const std::string& text) {
  if (text == "hooks") return ProgressMode::kHooks;
  if (text == "thread") return ProgressMode::kThread;
  if (text == "sync") return ProgressMode::kSync;
  if (text == "auto") return ProgressMode::kAuto;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown progress mode '", text, "'; valid: hooks, thread, sync, auto"));
}

const char* ProgressModeName(ProgressMode mode) {
  switch (mode) {
    case ProgressMode::kHooks:
      return "hooks";
    case ProgressMode::kThread:
      return "thread";
    case ProgressMode::kSync:
      return "sync";
    case ProgressMode::kAuto:
      return "auto";
  }
  return "unknown";
}

ThreadLevel RequiredThreadLevel(ProgressMode mode) {
  return mode == ProgressMode::kThread ? ThreadLevel::kSerialized
                                       : ThreadLevel::kFunneled;
}

bool UcxMayUseSharedMemory(const std::string& ucx_tls) {
  if (ucx_tls.empty()) return true;  // UCX's default includes shared memory
  // UCX's shared-memory transports and their aliases.
  auto is_shm = [](absl::string_view t) {
    return t == "sm" || t == "shm" || t == "posix" || t == "sysv" ||
           t == "cma" || t == "knem" || t == "xpmem" || t == "all";
  };
  absl::string_view list = ucx_tls;
  // "^a,b" means every transport except a and b.
  const bool exclude = absl::ConsumePrefix(&list, "^");
  bool listed = false;
  bool all_shm_excluded = false;
  for (absl::string_view t : absl::StrSplit(list, ',')) {
    t = absl::StripAsciiWhitespace(t);
    listed |= is_shm(t);
    all_shm_excluded |= t == "sm" || t == "shm" || t == "all";
  }
  return exclude ? !all_shm_excluded : listed;
}

ProgressMode ResolveAutoProgressMode(bool one_host,
                                     const std::string& ucx_tls) {
  return one_host && UcxMayUseSharedMemory(ucx_tls) ? ProgressMode::kSync
                                                    : ProgressMode::kHooks;
}

}  // namespace freezing::comm
