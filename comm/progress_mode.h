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
//   sync:   no overlap: every bucket is all-reduced after backward;
//   auto:   (the default) sync when every rank is on one host and UCX may
//           use shared memory, hooks otherwise.
//
// Why auto (comm/README.md has the numbers and the command): on one host the
// all-reduce moves bytes through shared memory, which is CPU work on the
// cores that run backward; overlapping cannot hide it and only adds
// interleaving overhead, so sync was fastest there (ResNet-18, 2 ranks, 2
// cores). Over TCP, and more so over a slow link, the all-reduce mostly
// waits on the network, and overlapping it with backward was 15-20% faster
// per step; hooks and thread were within noise of each other, and hooks
// needs no extra thread (MPI_THREAD_FUNNELED).
#ifndef FREEZING_COMM_PROGRESS_MODE_H_
#define FREEZING_COMM_PROGRESS_MODE_H_

#include <string>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace freezing::comm {

enum class ProgressMode { kHooks, kThread, kSync, kAuto };

// ParseProgressMode: "hooks", "thread", "sync" or "auto"; InvalidArgument
// naming the valid values otherwise.
absl::StatusOr<ProgressMode> ParseProgressMode(const std::string& text);

// ProgressModeName: the flag spelling of `mode`.
const char* ProgressModeName(ProgressMode mode);

// RequiredThreadLevel: the MPI thread level `mode` needs: funneled for hooks,
// sync and auto (MPI is called from the thread that runs backward),
// serialized for thread (two threads call MPI, never at once).
ThreadLevel RequiredThreadLevel(ProgressMode mode);

// UcxMayUseSharedMemory: whether UCX, given UCX_TLS=`ucx_tls` ("" when
// unset), may move intra-host messages through shared memory.
bool UcxMayUseSharedMemory(const std::string& ucx_tls);

// ResolveAutoProgressMode: what auto means for a job whose ranks are all on
// one host (`one_host`) with UCX_TLS=`ucx_tls`: sync or hooks.
ProgressMode ResolveAutoProgressMode(bool one_host, const std::string& ucx_tls);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_PROGRESS_MODE_H_
