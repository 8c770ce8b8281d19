#include "comm/launcher.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "comm/cluster_spec.h"
#include "comm/progress_mode.h"

namespace freezing::comm {
namespace {

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

bool IsExecutable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

absl::StatusOr<std::string> SelfExe() {
  // /proc/self/exe names mpiexec once we exec it: resolve it now.
  std::vector<char> buf(PATH_MAX + 1);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot read /proc/self/exe: ", std::strerror(errno)));
  }
  return std::string(buf.data(), n);
}

// The placement `--cluster` asks for, once the cluster is known to be up
// and usable by this process.
absl::StatusOr<MpiexecPlacement> PlaceOnCluster(int ranks) {
  if (Env("HYDRA_HOST_FILE") != nullptr) {
    return absl::InvalidArgumentError(
        "--cluster and HYDRA_HOST_FILE both say where the ranks go: unset "
        "HYDRA_HOST_FILE or drop --cluster");
  }
  const std::string name = ClusterNameFromEnv();
  absl::StatusOr<ClusterSpec> spec = ReadClusterSpec(kClusterStateRoot, name);
  if (!spec.ok()) return spec.status();
  const MpiexecPlacement placement =
      ClusterPlacement(*spec, kClusterStateRoot, ranks, Env("UCX_TLS"));
  for (const std::string& host : placement.hosts) {
    if (access(absl::StrCat("/run/netns/", host).c_str(), F_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the emulated cluster '", name, "' is not in place (no namespace ",
          host, "): see ", ClusterCommand(name, "status")));
    }
  }
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "--cluster runs the ranks in the cluster's network namespaces (ip "
        "netns exec), which needs root");
  }
  if (const char* tls = Env("UCX_TLS");
      tls != nullptr && UcxMayUseSharedMemory(tls)) {
    std::fprintf(stderr,
                 "warning: --cluster keeps your UCX_TLS=%s, which lets UCX "
                 "use shared memory between the emulated hosts; unset it "
                 "(--cluster then uses tcp,self) for a real network\n",
                 tls);
  }
  return placement;
}

}  // namespace

bool SpansSeveralHosts(const LaunchOptions& options) {
  if (options.cluster) return true;
  const char* file = Env("HYDRA_HOST_FILE");
  if (file == nullptr) return false;
  std::ifstream in(file);
  std::set<std::string> hosts;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    const std::string host(
        absl::StripAsciiWhitespace(line.substr(0, line.find(':'))));
    if (!host.empty()) hosts.insert(host);
  }
  return hosts.size() > 1;
}

bool UnderMpiexec() {
  return Env("PMI_RANK") != nullptr || Env("PMI_FD") != nullptr ||
         Env("PMIX_RANK") != nullptr || Env("OMPI_COMM_WORLD_SIZE") != nullptr;
}

absl::StatusOr<std::string> FindMpiexec(const std::string& path_env) {
  if (const char* forced = Env("FREEZING_MPIEXEC")) {
    if (IsExecutable(forced)) return std::string(forced);
    return absl::NotFoundError(absl::StrCat("FREEZING_MPIEXEC=", forced,
                                            " is not an executable file"));
  }
  for (absl::string_view dir : absl::StrSplit(path_env, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/mpiexec");
    if (IsExecutable(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "--ranks > 1 needs mpiexec, and there is none on PATH (", path_env,
      "); install MPICH: apt-get install mpich (or run tools/setup.sh)"));
}

MpiexecPlacement ClusterPlacement(const ClusterSpec& cluster,
                                  absl::string_view root, int ranks,
                                  const char* user_ucx_tls) {
  MpiexecPlacement p;
  p.iface = cluster.bridge;
  p.launcher_exec = ClusterLauncherScript(root, cluster.name);
  for (int i = 0; i < ranks && i < static_cast<int>(cluster.hosts.size());
       ++i) {
    p.hosts.push_back(cluster.hosts[i].name);
  }
  if (user_ucx_tls == nullptr || *user_ucx_tls == '\0') {
    p.env.emplace_back("UCX_TLS", "tcp,self");
  }
  p.env.emplace_back(kMachineRanksEnv, std::to_string(ranks));
  return p;
}

std::vector<std::string> MpiexecCommand(const std::string& mpiexec, int ranks,
                                        const std::string& exe,
                                        const std::vector<std::string>& args,
                                        const MpiexecPlacement& placement) {
  std::vector<std::string> cmd = {mpiexec};
  if (!placement.iface.empty()) {
    cmd.insert(cmd.end(), {"-iface", placement.iface});
  }
  if (!placement.launcher_exec.empty()) {
    cmd.insert(cmd.end(),
               {"-launcher", "ssh", "-launcher-exec", placement.launcher_exec});
  }
  if (!placement.hosts.empty()) {
    cmd.insert(cmd.end(), {"-hosts", absl::StrJoin(placement.hosts, ",")});
  }
  for (const auto& [name, value] : placement.env) {
    cmd.insert(cmd.end(), {"-genv", name, value});
  }
  cmd.insert(cmd.end(), {"-n", std::to_string(ranks), exe});
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

absl::Status RelaunchUnderMpiexec(int ranks, int argc, char** argv) {
  LaunchOptions options;
  options.ranks = ranks;
  return RelaunchUnderMpiexec(options, argc, argv);
}

absl::Status RelaunchUnderMpiexec(const LaunchOptions& options, int argc,
                                  char** argv) {
  const int ranks = options.ranks;
  if (ranks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ranks must be at least 1, got ", ranks));
  }
  if (UnderMpiexec()) {
    const char* size = Env("PMI_SIZE");
    if (size == nullptr) size = Env("OMPI_COMM_WORLD_SIZE");
    int started = 0;
    if (ranks > 1 && size != nullptr && absl::SimpleAtoi(size, &started) &&
        started != ranks) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ranks=", ranks, " but mpiexec started ", started,
                       " ranks; drop --ranks when starting mpiexec yourself"));
    }
    return absl::OkStatus();
  }
  if (ranks == 1 && !options.cluster) return absl::OkStatus();
  if (Env(kRelaunchedEnv) != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "relaunched under mpiexec, but this process is not an MPI rank (no "
        "PMI_RANK/PMI_FD in its environment; ",
        kRelaunchedEnv,
        " is set): is mpiexec MPICH's Hydra? Not relaunching again."));
  }
  const char* path = Env("PATH");
  MpiexecPlacement placement;
  if (options.cluster) {
    absl::StatusOr<MpiexecPlacement> p = PlaceOnCluster(ranks);
    if (!p.ok()) return p.status();
    placement = *std::move(p);
  }
  absl::StatusOr<std::string> mpiexec =
      FindMpiexec(path != nullptr ? path : "/usr/bin:/bin");
  if (!mpiexec.ok()) return mpiexec.status();
  absl::StatusOr<std::string> exe = SelfExe();
  if (!exe.ok()) return exe.status();
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  std::vector<std::string> cmd =
      MpiexecCommand(*mpiexec, ranks, *exe, args, placement);
  std::vector<char*> c_argv;
  for (std::string& s : cmd) c_argv.push_back(s.data());
  c_argv.push_back(nullptr);
  setenv(kRelaunchedEnv, "1", /*overwrite=*/1);
  std::fflush(stdout);
  std::fflush(stderr);
  execv(cmd[0].c_str(), c_argv.data());
  return absl::InternalError(
      absl::StrCat("execv(", cmd[0], ") failed: ", std::strerror(errno)));
}

int CoresAvailable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}

int RanksOnThisHost(int ranks) {
  int local = 0;
  if (const char* v = Env("MPI_LOCALNRANKS");
      v != nullptr && absl::SimpleAtoi(v, &local) && local > 0) {
    return local;
  }
  return std::max(1, ranks);
}

int DefaultThreadsPerRank(int ranks) {
  int sharing = RanksOnThisHost(ranks);
  if (int machine = 0; Env(kMachineRanksEnv) != nullptr &&
                       absl::SimpleAtoi(Env(kMachineRanksEnv), &machine)) {
    sharing = std::max(sharing, machine);
  }
  return std::max(1, CoresAvailable() / sharing);
}

}  // namespace freezing::comm
