// A 2-rank job in which rank 1 fails in a chosen way while rank 0 waits in a
// barrier that only rank 1 could complete: used by abort_test to check that
// one failing rank ends the whole job promptly with a non-zero exit.
//
//   abort_helper --ranks=2 [--cluster] --mode=ok|status|exception|exit|signal
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"

namespace {

using freezing::comm::MpiSession;

struct Args {
  freezing::comm::LaunchOptions launch;
  std::string mode = "ok";
};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (absl::StartsWith(a, "--ranks=")) {
      if (!absl::SimpleAtoi(a.substr(8), &args.launch.ranks)) {
        args.launch.ranks = -1;
      }
    } else if (a == "--cluster") {
      args.launch.cluster = true;
    } else if (absl::StartsWith(a, "--mode=")) {
      args.mode = a.substr(7);
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  if (absl::Status s =
          freezing::comm::RelaunchUnderMpiexec(args.launch, argc, argv);
      !s.ok()) {
    std::fprintf(stderr, "abort_helper: %s\n", s.ToString().c_str());
    return 2;
  }
  auto session = MpiSession::Init(freezing::comm::ThreadLevel::kFunneled);
  if (!session.ok()) MpiSession::AbortJob(session.status());
  if ((*session)->rank() == 1) {
    if (args.mode == "status") {
      MpiSession::AbortJob(absl::InternalError("injected failure on rank 1"));
    } else if (args.mode == "exception") {
      throw std::runtime_error("injected exception on rank 1");
    } else if (args.mode == "exit") {
      return 3;  // no Finalize: mpiexec sees a non-zero exit
    } else if (args.mode == "signal") {
      std::raise(SIGKILL);
    }
  }
  if (absl::Status s = (*session)->world().Barrier(); !s.ok()) {
    MpiSession::AbortJob(s);
  }
  std::printf("rank %d: barrier passed\n", (*session)->rank());
  return (*session)->Finalize().ok() ? 0 : 1;
}
