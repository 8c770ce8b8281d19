// MpiCommunicator: the Communicator over MPI (MPICH). Every call maps to one
// MPI collective on a private duplicate of the given communicator, so the
// project's traffic never mixes with other libraries'; errors return (the
// communicator's error handler is MPI_ERRORS_RETURN) and become an Internal
// status naming the call, its arguments, and the rank. Bytes and time of every
// collective are accounted in stats().
//
// Non-blocking all-reduce (MPI_Iallreduce) advances only inside MPI calls
// (unless MPICH's async progress thread is on): call Test() often, or Wait().
#ifndef FREEZING_COMM_MPI_COMMUNICATOR_H_
#define FREEZING_COMM_MPI_COMMUNICATOR_H_

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace freezing::comm {

// MpiError: an Internal status for MPI error `code` returned by `call`, with
// MPI's own message and the rank; OK when code is MPI_SUCCESS.
absl::Status MpiError(int code, const std::string& call);

class MpiCommunicator : public Communicator {
 public:
  // Create: duplicates `comm` (collective over it) and sets the duplicate's
  // error handler to MPI_ERRORS_RETURN. `level` is the thread level MPI
  // provided (MpiSession records it). Destroy it before MPI_Finalize.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(
      MPI_Comm comm, ThreadLevel level);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  ThreadLevel thread_level() const override { return level_; }
  MPI_Comm comm() const { return comm_; }

  absl::Status Barrier() override;
  absl::Status Broadcast(void* data, int64_t count, DType type,
                         int root) override;
  absl::Status AllReduceSum(void* data, int64_t count, DType type) override;
  absl::StatusOr<std::unique_ptr<PendingOp>> StartAllReduceSum(
      void* data, int64_t count, DType type) override;
  absl::Status AllGather(const void* send, int64_t count, DType type,
                         void* recv) override;
  absl::StatusOr<std::vector<std::string>> AllGatherBytes(
      const std::string& mine) override;

  const CommStats& stats() const override { return stats_; }
  void ResetStats() override { stats_ = CommStats(); }

 private:
  MpiCommunicator(MPI_Comm comm, ThreadLevel level, int rank, int size);

  MPI_Comm comm_;
  ThreadLevel level_;
  int rank_;
  int size_;
  CommStats stats_;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_MPI_COMMUNICATOR_H_
