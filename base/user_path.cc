#include "base/user_path.h"

#include <cstdlib>
#include <string>

namespace freezing::base {
namespace {

std::string Join(const std::string& dir, const std::string& rest) {
  if (rest.empty()) return dir;
  if (!dir.empty() && dir.back() == '/') return dir + rest;
  return dir + "/" + rest;
}

}  // namespace

std::string ResolveUserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home != nullptr && *home != '\0') {
      return Join(home, path.size() > 2 ? path.substr(2) : "");
    }
    return path;
  }
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (cwd == nullptr || *cwd == '\0') return path;
  std::string rest = path;
  while (rest.rfind("./", 0) == 0) rest = rest.substr(2);
  if (rest == ".") rest.clear();
  return Join(cwd, rest);
}

}  // namespace freezing::base
