#include "comm/mpi_session.h"

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "comm/mpi_communicator.h"

namespace freezing::comm {
namespace {

int ToMpi(ThreadLevel level) {
  switch (level) {
    case ThreadLevel::kSingle:
      return MPI_THREAD_SINGLE;
    case ThreadLevel::kFunneled:
      return MPI_THREAD_FUNNELED;
    case ThreadLevel::kSerialized:
      return MPI_THREAD_SERIALIZED;
    case ThreadLevel::kMultiple:
      return MPI_THREAD_MULTIPLE;
  }
  return MPI_THREAD_SINGLE;
}

ThreadLevel FromMpi(int level) {
  if (level >= MPI_THREAD_MULTIPLE) return ThreadLevel::kMultiple;
  if (level >= MPI_THREAD_SERIALIZED) return ThreadLevel::kSerialized;
  if (level >= MPI_THREAD_FUNNELED) return ThreadLevel::kFunneled;
  return ThreadLevel::kSingle;
}

bool MpiRunning() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

// An uncaught exception in any thread (a c10::Error from libtorch, a
// std::bad_alloc) would otherwise abort this process only; mpiexec notices,
// but the message is lost. Print it and end the job.
[[noreturn]] void TerminateHandler() {
  std::string what = "std::terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = absl::StrCat("uncaught exception: ", ex.what());
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  MpiSession::AbortJob(absl::InternalError(what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Init(
    ThreadLevel requested, ThreadLevel minimum) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    return absl::FailedPreconditionError(
        "MpiSession::Init: MPI is already initialized (one session per "
        "process)");
  }
  std::unique_ptr<MpiSession> session(new MpiSession());
  session->requested_ = requested;
  int provided = MPI_THREAD_SINGLE;
  const int rc = MPI_Init_thread(nullptr, nullptr, ToMpi(requested), &provided);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Init_thread");
  session->provided_ = FromMpi(provided);
  absl::Status status = session->SetUp(minimum);
  if (!status.ok()) {
    // Leave MPI as it is for the caller's AbortJob; the destructor must not
    // abort with a less useful message.
    session->finalized_ = true;
    return status;
  }
  return session;
}

absl::Status MpiSession::SetUp(ThreadLevel minimum) {
  RETURN_IF_ERROR(
      MpiError(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN),
               "MPI_Comm_set_errhandler(MPI_COMM_WORLD)"));
  RETURN_IF_ERROR(
      MpiError(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank"));
  RETURN_IF_ERROR(
      MpiError(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size"));
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int length = 0;
  if (MPI_Get_processor_name(name, &length) == MPI_SUCCESS) {
    processor_name_.assign(name, length);
  }
  {
    // The first line of MPI_Get_library_version ("MPICH Version: 4.0.2").
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int version_length = 0;
    if (MPI_Get_library_version(version, &version_length) == MPI_SUCCESS) {
      std::string v(version, version_length);
      v = v.substr(0, v.find('\n'));
      for (char& ch : v) {
        if (ch == '\t') ch = ' ';
      }
      library_version_ = v;
    }
  }
  std::set_terminate(TerminateHandler);
  if (static_cast<int>(provided_) < static_cast<int>(minimum)) {
    return absl::FailedPreconditionError(
        absl::StrCat("MPI provides thread level ", ThreadLevelName(provided_),
                     " but this program needs ", ThreadLevelName(minimum),
                     " (requested ", ThreadLevelName(requested_), ")"));
  }
  ASSIGN_OR_RETURN(world_, MpiCommunicator::Create(MPI_COMM_WORLD, provided_));
  return absl::OkStatus();
}

MpiSession::~MpiSession() {
  if (!finalized_ && MpiRunning()) {
    AbortJob(absl::FailedPreconditionError(
        "MpiSession destroyed without Finalize(): this rank is leaving early "
        "(error return or exception in main?); ending the job so the other "
        "ranks do not wait for it"));
  }
}

namespace {

int FinalizeTimeoutSeconds() {
  const char* v = std::getenv("FREEZING_FINALIZE_TIMEOUT_S");
  int s = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &s) && s > 0) return s;
  return 20;
}

// Ends this process with status 0 unless Disarm() is called within
// `seconds` (see MpiSession::Finalize).
class FinalizeWatchdog {
 public:
  FinalizeWatchdog(int seconds, std::string who) {
    thread_ = std::thread([this, seconds, who = std::move(who)] {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::seconds(seconds),
                       [this] { return disarmed_; })) {
        return;
      }
      std::fprintf(stderr,
                   "%s warning: MPI_Finalize has not returned %d s after "
                   "every rank finished its work (MPICH 4.0.2's known hang "
                   "at exit over UCX TCP, see comm/mpi_session.h); "
                   "everything is written: leaving without it\n",
                   who.c_str(), seconds);
      std::fflush(stderr);
      std::fflush(stdout);
      std::_Exit(0);
    });
  }
  void Disarm() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace

absl::Status MpiSession::Finalize() {
  if (finalized_) return absl::OkStatus();
  finalized_ = true;
  if (MpiRunning() && world_ != nullptr) {
    RETURN_IF_ERROR(world_->Barrier());
  }
  world_.reset();
  if (!MpiRunning()) return absl::OkStatus();
  FinalizeWatchdog watchdog(
      FinalizeTimeoutSeconds(),
      absl::StrCat("[rank ", rank_, "/", size_, " on ", processor_name_, "]"));
  int hang_rank = -1;
  if (const char* v = std::getenv("FREEZING_TEST_FINALIZE_HANG");
      v != nullptr && absl::SimpleAtoi(v, &hang_rank) && hang_rank == rank_) {
    std::this_thread::sleep_for(std::chrono::hours(1));
  }
  const absl::Status status = MpiError(MPI_Finalize(), "MPI_Finalize");
  watchdog.Disarm();
  return status;
}

Communicator& MpiSession::world() { return *world_; }

void MpiSession::AbortJob(const absl::Status& status) {
  std::fflush(stdout);
  if (MpiRunning()) {
    int rank = -1;
    int size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char name[MPI_MAX_PROCESSOR_NAME] = {0};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    std::fprintf(stderr, "[rank %d/%d on %s] fatal: %s\n", rank, size, name,
                 status.ToString().c_str());
    std::fflush(stderr);
    // Hydra forwards a rank's stderr through its proxy, and MPI_Abort makes
    // it tear the job down, sometimes before the message above got through
    // (seen in abort_test): give the proxy a moment to forward it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    MPI_Abort(MPI_COMM_WORLD, 1);
  } else {
    std::fprintf(stderr, "fatal: %s\n", status.ToString().c_str());
    std::fflush(stderr);
  }
  std::_Exit(1);
}

}  // namespace freezing::comm
