// Launcher: `--ranks=N` for every binary of the project. A binary's main
// calls RelaunchUnderMpiexec first, before MPI is initialized and before any
// thread starts: when the process is not already an MPI rank and N > 1, it
// replaces itself with `mpiexec -n N <this binary> <same arguments>`, so
// `bazel run //comm:smoke -- --ranks=2` behaves like `mpiexec -n 2 ...`.
//
// Under an mpiexec the user started (several hosts: `mpiexec -f hosts -n 8
// bazel-bin/...`, or HYDRA_HOST_FILE=hosts with --ranks) nothing is
// relaunched. Also here: how many libtorch threads each rank should use.
#ifndef FREEZING_COMM_LAUNCHER_H_
#define FREEZING_COMM_LAUNCHER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace freezing::comm {

// The environment variable set on relaunch; seeing it without an MPI
// environment means mpiexec did not make us a rank, and relaunching again
// would loop.
inline constexpr char kRelaunchedEnv[] = "FREEZING_MPIEXEC_RELAUNCHED";

// UnderMpiexec: true when this process is a rank started by an MPI process
// manager (MPICH Hydra's PMI_RANK/PMI_FD, Open MPI's OMPI_COMM_WORLD_SIZE).
bool UnderMpiexec();

// FindMpiexec: the mpiexec to use: $FREEZING_MPIEXEC when set, else
// `mpiexec` on `path_env` (a PATH-like list). NotFound names the Debian
// package to install (mpich) when there is none.
absl::StatusOr<std::string> FindMpiexec(const std::string& path_env);

// MpiexecCommand: the argv that relaunches `exe` with `args` (argv[1..])
// on `ranks` ranks.
std::vector<std::string> MpiexecCommand(const std::string& mpiexec, int ranks,
                                        const std::string& exe,
                                        const std::vector<std::string>& args);

// RelaunchUnderMpiexec: returns OK when this process should go on as is
// (ranks <= 1, or already a rank); otherwise execs mpiexec and does not
// return. Errors: InvalidArgument for ranks < 1 or when mpiexec started a
// different number of ranks than asked for; NotFound when mpiexec is missing
// (names the package); FailedPrecondition when a relaunch would loop.
absl::Status RelaunchUnderMpiexec(int ranks, int argc, char** argv);

// CoresAvailable: CPUs this process may run on (its affinity mask), >= 1.
int CoresAvailable();

// RanksOnThisHost: ranks sharing this host: MPI_LOCALNRANKS (Hydra) when set,
// else `ranks`.
int RanksOnThisHost(int ranks);

// DefaultThreadsPerRank: max(1, CoresAvailable() / RanksOnThisHost(ranks)),
// the default for the trainer's --threads.
int DefaultThreadsPerRank(int ranks);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_LAUNCHER_H_
