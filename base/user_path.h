// ResolveUserPath: turns a path a user typed on the command line into one the
// program can open, wherever Bazel started it.
//
// `bazel run` starts a binary in its runfiles folder, not in the folder the
// user typed the command in; Bazel passes that folder as
// BUILD_WORKING_DIRECTORY. Every binary resolves its path flags with this
// before opening or creating anything.
#ifndef FREEZING_BASE_USER_PATH_H_
#define FREEZING_BASE_USER_PATH_H_

#include <string>

namespace freezing::base {

// ResolveUserPath: `path` unchanged when it is empty or absolute; "~" and
// "~/..." under $HOME; otherwise relative to $BUILD_WORKING_DIRECTORY when
// that is set and not empty, else unchanged (relative to the current folder).
std::string ResolveUserPath(const std::string& path);

}  // namespace freezing::base

#endif  // FREEZING_BASE_USER_PATH_H_
