// ProgressMode: how the gradient reducer (comm/reducer.h) drives its
// non-blocking all-reduces, in a header without libtorch so that a main can
// parse the flag and pick MPI's thread level before it initializes MPI.
//
// A non-blocking MPI collective advances only inside MPI calls (unless
// MPICH's async progress thread is on), so someone has to keep calling MPI
// while backward runs:
//   hooks:  the gradient hooks themselves test the in-flight all-reduces
//           each time a gradient becomes ready (no extra thread);
//   thread: a communication thread starts the all-reduces and tests them
//           every `poll` interval while backward runs;
//   sync:   no overlap: every bucket is all-reduced after backward, for
//           comparison.
#ifndef FREEZING_COMM_PROGRESS_MODE_H_
#define FREEZING_COMM_PROGRESS_MODE_H_

#include <string>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace freezing::comm {

enum class ProgressMode { kHooks, kThread, kSync };

// ParseProgressMode: "hooks", "thread" or "sync"; InvalidArgument naming the
// valid values otherwise.
absl::StatusOr<ProgressMode> ParseProgressMode(const std::string& text);

// ProgressModeName: the flag spelling of `mode`.
const char* ProgressModeName(ProgressMode mode);

// RequiredThreadLevel: the MPI thread level `mode` needs: funneled for hooks
// and sync (MPI is called from the thread that runs backward), serialized
// for thread (two threads call MPI, never at once).
ThreadLevel RequiredThreadLevel(ProgressMode mode);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_PROGRESS_MODE_H_
