#include "comm/launcher.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

}  // namespace

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

std::vector<std::string> MpiexecCommand(const std::string& mpiexec, int ranks,
                                        const std::string& exe,
                                        const std::vector<std::string>& args) {
  std::vector<std::string> cmd = {mpiexec, "-n", std::to_string(ranks), exe};
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

absl::Status RelaunchUnderMpiexec(int ranks, int argc, char** argv) {
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
  if (ranks == 1) return absl::OkStatus();
  if (Env(kRelaunchedEnv) != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "relaunched under mpiexec, but this process is not an MPI rank (no "
        "PMI_RANK/PMI_FD in its environment; ",
        kRelaunchedEnv,
        " is set): is mpiexec MPICH's Hydra? Not relaunching again."));
  }
  const char* path = Env("PATH");
  absl::StatusOr<std::string> mpiexec =
      FindMpiexec(path != nullptr ? path : "/usr/bin:/bin");
  if (!mpiexec.ok()) return mpiexec.status();
  absl::StatusOr<std::string> exe = SelfExe();
  if (!exe.ok()) return exe.status();
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  std::vector<std::string> cmd = MpiexecCommand(*mpiexec, ranks, *exe, args);
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
  return std::max(1, CoresAvailable() / RanksOnThisHost(ranks));
}

}  // namespace freezing::comm
