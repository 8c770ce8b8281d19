#include "replay/testdata_files.h"

#include <dirent.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace freezing::replay {
namespace {

absl::StatusOr<std::vector<std::string>> WithSuffix(const std::string& folder,
                                                    const std::string& suffix) {
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot list ", folder));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix)) {
      names.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> TestdataTraces(
    const std::string& folder) {
  return WithSuffix(folder, ".pb");
}

absl::StatusOr<std::vector<std::string>> GoldenFiles(
    const std::string& folder) {
  return WithSuffix(folder, ".csv");
}

}  // namespace freezing::replay
