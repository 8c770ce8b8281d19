#include "base/user_path.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace freezing::base {
namespace {

struct Case {
  const char* working_dir;  // nullptr: BUILD_WORKING_DIRECTORY unset
  const char* home;
  std::string path;
  std::string want;
};

class ResolveUserPathTest : public ::testing::TestWithParam<Case> {};

TEST_P(ResolveUserPathTest, Resolves) {
  const Case& c = GetParam();
  if (c.working_dir == nullptr) {
    unsetenv("BUILD_WORKING_DIRECTORY");
  } else {
    setenv("BUILD_WORKING_DIRECTORY", c.working_dir, 1);
  }
  setenv("HOME", c.home, 1);
  EXPECT_EQ(ResolveUserPath(c.path), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResolveUserPathTest,
    ::testing::Values(
        // Under `bazel run`: relative paths are the user's.
        Case{"/home/u/src", "/home/u", "out.json", "/home/u/src/out.json"},
        Case{"/home/u/src/", "/home/u", "a/b", "/home/u/src/a/b"},
        Case{"/home/u/src", "/home/u", "./a", "/home/u/src/a"},
        Case{"/home/u/src", "/home/u", ".", "/home/u/src"},
        Case{"/home/u/src", "/home/u", "../x", "/home/u/src/../x"},
        // Absolute and empty paths are left alone.
        Case{"/home/u/src", "/home/u", "/tmp/x", "/tmp/x"},
        Case{"/home/u/src", "/home/u", "", ""},
        // Home.
        Case{"/home/u/src", "/home/u", "~/runs", "/home/u/runs"},
        Case{nullptr, "/home/u", "~", "/home/u"},
        // Not under `bazel run`: relative to the current folder.
        Case{nullptr, "/home/u", "out.json", "out.json"},
        Case{"", "/home/u", "out.json", "out.json"}));

}  // namespace
}  // namespace freezing::base
