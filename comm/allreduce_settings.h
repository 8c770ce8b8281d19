// The MPI library's all-reduce algorithm: keep its own choice, or pin a ring.
//
// MPICH 4.0 picks its all-reduce algorithm by message size and world size
// (comm/calibration.h, AllReduceAlgorithm::kMpich): between hosts a
// reduce-scatter + all-gather over the largest power of two of ranks, with
// whole-vector steps for the others, so at 3 ranks it moves 2.25x the bytes
// of a ring. MPICH reads its choice from MPIR_CVAR_* environment variables at
// MPI_Init; PinAllReduceAlgorithm sets them in this process before MPI starts
// (every rank runs it with the same flag, so every rank agrees), and
// AllReduceSettings reports what is in effect, for calibration files and
// traces.
#ifndef FREEZING_COMM_ALLREDUCE_SETTINGS_H_
#define FREEZING_COMM_ALLREDUCE_SETTINGS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace freezing::comm {

// The environment variables that select MPICH's all-reduce algorithms.
inline constexpr const char* kAllReduceCvars[] = {
    "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM",
    "MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM",
};

// PinAllReduceAlgorithm: sets the environment for `choice`, before MPI_Init:
//   "mpich": leave MPICH's own selection as the environment has it;
//   "ring":  blocking all-reduces through the non-blocking path
//            (MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=nb) and that path as a ring
//            (MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM=tsp_ring);
//   "auto":  "ring" when the job spans several hosts (`several_hosts`: the
//            launcher places it on an emulated cluster or a host file) and the
//            environment selects nothing itself, else "mpich". Measured on
//            emulated hosts at 1 Gbit/s (comm/README.md): for gradient-sized
//            messages (1-32 MB) the ring is as fast at 2 ranks and up to 2.26x
//            faster at 3 (MPICH's own choice moves 2.25x the bytes there).
// InvalidArgument for another word, or when "ring" meets an environment
// that already sets one of the variables to something else (say which).
absl::Status PinAllReduceAlgorithm(const std::string& choice,
                                   bool several_hosts = false);

// AllReduceSettings: each of kAllReduceCvars with its value, "auto" when
// unset.
std::vector<std::pair<std::string, std::string>> AllReduceSettings();

// AllReduceAlgorithmInEffect: "ring" when the settings pin a ring, else
// "mpich" (the library's own selection): the cost model that applies.
std::string AllReduceAlgorithmInEffect();

}  // namespace freezing::comm

#endif  // FREEZING_COMM_ALLREDUCE_SETTINGS_H_
