// Launcher: `--ranks=N` for every binary of the project. A binary's main
// calls RelaunchUnderMpiexec first, before MPI is initialized and before any
// thread starts: when the process is not already an MPI rank and N > 1, it
// replaces itself with `mpiexec -n N <this binary> <same arguments>`, so
// `bazel run //comm:smoke -- --ranks=2` behaves like `mpiexec -n 2 ...`.
//
// Under an mpiexec the user started (several hosts: `mpiexec -f hosts -n 8
// bazel-bin/...`, or HYDRA_HOST_FILE=hosts with --ranks) nothing is
// relaunched. With `--cluster` the ranks go to the hosts of the emulated
// cluster (comm/cluster_spec.h) instead, one per host in turn. Also here:
// how many libtorch threads each rank should use.
#ifndef FREEZING_COMM_LAUNCHER_H_
#define FREEZING_COMM_LAUNCHER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "comm/cluster_spec.h"

namespace freezing::comm {

// The environment variable set on relaunch; seeing it without an MPI
// environment means mpiexec did not make us a rank, and relaunching again
// would loop.
inline constexpr char kRelaunchedEnv[] = "FREEZING_MPIEXEC_RELAUNCHED";

// kMachineRanksEnv: set by a `--cluster` relaunch in every rank: how many
// ranks share this machine's cores. The emulated hosts are namespaces of one
// machine, so the ranks of all hosts share its cores (DefaultThreadsPerRank).
inline constexpr char kMachineRanksEnv[] = "FREEZING_MACHINE_RANKS";

// kClusterFlagHelp: the help of every main's `--cluster` flag.
inline constexpr char kClusterFlagHelp[] =
    "run the ranks on the hosts of the emulated cluster (bazel run "
    "//comm:cluster -- up; $FREEZING_CLUSTER names another), one per host "
    "in turn";

// LaunchOptions: what `--ranks` and `--cluster` ask for.
struct LaunchOptions {
  int ranks = 1;
  // Run the ranks on the emulated cluster named $FREEZING_CLUSTER (default
  // h), one per host in turn (round-robin when there are more ranks than
  // hosts), even a single rank.
  bool cluster = false;
};

// SpansSeveralHosts: the relaunch puts the ranks on several hosts (the
// emulated cluster, or HYDRA_HOST_FILE with more than one host).
bool SpansSeveralHosts(const LaunchOptions& options);

// MpiexecPlacement: mpiexec's options that put the ranks somewhere other
// than this host; empty: this host (or HYDRA_HOST_FILE's hosts).
struct MpiexecPlacement {
  std::string iface;          // -iface: where mpiexec's control port listens
  std::string launcher_exec;  // -launcher ssh -launcher-exec
  std::vector<std::string> hosts;                        // -hosts
  std::vector<std::pair<std::string, std::string>> env;  // -genv
};

// ClusterPlacement: the placement of `ranks` ranks on `cluster` (state under
// `root`): the hosts in order, as many as there are ranks at most, so that
// Hydra gives rank r host r mod hosts; -iface the bridge; the cluster's
// launcher script; UCX_TLS=tcp,self (else UCX would see one machine and use
// shared memory between hosts) unless `user_ucx_tls` is set (a UCX_TLS in
// the environment is kept: it reaches the ranks as it is), and
// kMachineRanksEnv.
MpiexecPlacement ClusterPlacement(const ClusterSpec& cluster,
                                  absl::string_view root, int ranks,
                                  const char* user_ucx_tls);

// UnderMpiexec: true when this process is a rank started by an MPI process
// manager (MPICH Hydra's PMI_RANK/PMI_FD, Open MPI's OMPI_COMM_WORLD_SIZE).
bool UnderMpiexec();

// FindMpiexec: the mpiexec to use: $FREEZING_MPIEXEC when set, else
// `mpiexec` on `path_env` (a PATH-like list). NotFound names the Debian
// package to install (mpich) when there is none.
absl::StatusOr<std::string> FindMpiexec(const std::string& path_env);

// MpiexecCommand: the argv that relaunches `exe` with `args` (argv[1..])
// on `ranks` ranks, placed by `placement`.
std::vector<std::string> MpiexecCommand(
    const std::string& mpiexec, int ranks, const std::string& exe,
    const std::vector<std::string>& args,
    const MpiexecPlacement& placement = MpiexecPlacement());

// RelaunchUnderMpiexec: returns OK when this process should go on as is
// (already a rank, or one rank and no cluster); otherwise execs mpiexec and
// does not return. Errors: InvalidArgument for ranks < 1, when mpiexec
// started a different number of ranks than asked for, or for --cluster with
// HYDRA_HOST_FILE; NotFound when mpiexec is missing (names the package);
// FailedPrecondition when a relaunch would loop, or for --cluster when no
// cluster is up (names the `up` command), it is not in place, or this
// process is not root.
absl::Status RelaunchUnderMpiexec(const LaunchOptions& options, int argc,
                                  char** argv);
// RelaunchUnderMpiexec: the same for `ranks` ranks on this host.
absl::Status RelaunchUnderMpiexec(int ranks, int argc, char** argv);

// CoresAvailable: CPUs this process may run on (its affinity mask), >= 1.
int CoresAvailable();

// RanksOnThisHost: ranks sharing this host: MPI_LOCALNRANKS (Hydra) when set,
// else `ranks`.
int RanksOnThisHost(int ranks);

// DefaultThreadsPerRank: max(1, CoresAvailable() / RanksOnThisHost(ranks)),
// the default for the trainer's --threads; on an emulated cluster the cores
// are divided by all the machine's ranks (kMachineRanksEnv) instead.
int DefaultThreadsPerRank(int ranks);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_LAUNCHER_H_
