// MpiSession: MPI's lifetime in one process (init with a requested thread
// level, finalize), the world communicator, and AbortJob, which ends the whole
// job when any rank hits a fatal error, so that one failing rank never leaves
// the others waiting in a collective.
//
// Typical main (after comm/launcher.h's RelaunchUnderMpiexec):
//
//   ASSIGN_OR_RETURN(auto session, MpiSession::Init(ThreadLevel::kFunneled));
//   absl::Status status = Run(session->world());
//   if (!status.ok()) MpiSession::AbortJob(status);   // never returns
//   return session->Finalize().ok() ? 0 : 1;   // required: see ~MpiSession
//
// Init also installs a std::terminate handler (an uncaught exception, e.g. a
// c10::Error, aborts the job with its message). A rank that dies from a signal
// or exits with a non-zero code is handled by mpiexec (Hydra), which then
// kills the other ranks.
#ifndef FREEZING_COMM_MPI_SESSION_H_
#define FREEZING_COMM_MPI_SESSION_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace freezing::comm {

class MpiCommunicator;

class MpiSession {
 public:
  // Init: MPI_Init_thread with `requested`, records what MPI provided, sets
  // MPI_ERRORS_RETURN on MPI_COMM_WORLD, creates world() and installs the
  // fatal-error handler. Fails with FailedPrecondition when MPI is already
  // initialized, and when MPI provides less than `minimum`.
  static absl::StatusOr<std::unique_ptr<MpiSession>> Init(
      ThreadLevel requested, ThreadLevel minimum = ThreadLevel::kSingle);

  // A session destroyed without Finalize() means this rank is leaving early
  // (an error returned from main, an exception unwinding): MPI_Finalize would
  // wait for ranks that may be waiting for this one, so the destructor calls
  // AbortJob instead. Call Finalize() on the way out of a successful run.
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Finalize: a barrier (every rank's work is done), frees world() and calls
  // MPI_Finalize (collective: every rank must reach it). Idempotent.
  //
  // Bounded: MPI_Finalize of MPICH 4.0.2 over UCX's TCP transport can hang
  // (4 of 40 2-rank jobs on one host under load, comm/finalize_hang_loop.sh;
  // see comm/README.md): its UCX finalize closes every endpoint with a flush,
  // then waits in a PMI barrier without progressing UCX, so a rank still
  // flushing waits for a peer that no longer answers (gdb: one rank in
  // ucp_worker_progress, the other in read() of the PMI socket). MPICH fixed
  // it upstream (commit d6c7cd5b64, 2023: the PMI barrier moved before the
  // disconnects); the barrier here narrows the window, the bound ends it: if
  // MPI_Finalize has not returned `FREEZING_FINALIZE_TIMEOUT_S` seconds
  // (default 20) after the barrier, the rank says so on stderr ("[rank r/p
  // on host] warning: MPI_Finalize has not returned ...") and exits with
  // status 0: its work is complete and written, only MPI's teardown is
  // missing. $FREEZING_TEST_FINALIZE_HANG=R makes rank R never call
  // MPI_Finalize, for the test of that bound (abort_test).
  absl::Status Finalize();

  int rank() const { return rank_; }
  int size() const { return size_; }
  ThreadLevel requested_thread_level() const { return requested_; }
  ThreadLevel provided_thread_level() const { return provided_; }
  // processor_name: MPI_Get_processor_name (the host name).
  const std::string& processor_name() const { return processor_name_; }
  // library_version: the first line of MPI_Get_library_version.
  const std::string& library_version() const { return library_version_; }

  // world: all ranks (a duplicate of MPI_COMM_WORLD). Valid until Finalize.
  Communicator& world();

  // AbortJob: prints "[rank r/p on host] fatal: <status>" on stderr and ends
  // the whole job with a non-zero exit code (MPI_Abort on MPI_COMM_WORLD;
  // plain exit when MPI is not running). Never returns.
  [[noreturn]] static void AbortJob(const absl::Status& status);

 private:
  MpiSession() = default;
  absl::Status SetUp(ThreadLevel minimum);

  ThreadLevel requested_ = ThreadLevel::kSingle;
  ThreadLevel provided_ = ThreadLevel::kSingle;
  int rank_ = 0;
  int size_ = 1;
  std::string processor_name_;
  std::string library_version_;
  std::unique_ptr<MpiCommunicator> world_;
  bool finalized_ = false;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_MPI_SESSION_H_
