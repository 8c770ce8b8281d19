// Communicator: the collectives the project uses, over MPI (mpi_communicator.h)
// or, for unit tests, over threads in one process (fake_communicator.h).
//
// Buffers are raw memory with an element type, so this header needs no
// libtorch; comm/reducer.h adapts torch tensors. Every call is collective:
// all ranks make the same calls in the same order. Errors come back as a
// status (Internal for a failed MPI call, InvalidArgument for bad sizes).
#ifndef FREEZING_COMM_COMMUNICATOR_H_
#define FREEZING_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace freezing::comm {

enum class DType { kFloat32, kFloat64, kInt64, kUInt8 };

int DTypeBytes(DType type);

// Bytes and time spent in collectives, per kind. Times are wall-clock
// nanoseconds between start and observed completion.
struct CommStats {
  int64_t allreduce_calls = 0;
  int64_t allreduce_bytes = 0;
  int64_t allreduce_ns = 0;
  int64_t broadcast_bytes = 0;
  int64_t allgather_bytes = 0;
  int64_t other_ns = 0;
};

// A non-blocking collective in flight.
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  // Advances progress; true once complete. Never blocks.
  virtual absl::StatusOr<bool> Test() = 0;
  // Blocks until complete.
  virtual absl::Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  virtual absl::Status Barrier() = 0;
  virtual absl::Status Broadcast(void* data, int64_t count, DType type,
                                 int root) = 0;
  // In-place sum across ranks.
  virtual absl::Status AllReduceSum(void* data, int64_t count, DType type) = 0;
  // Starts an in-place sum; `data` must stay alive until the op completes.
  virtual absl::StatusOr<std::unique_ptr<PendingOp>> StartAllReduceSum(
      void* data, int64_t count, DType type) = 0;
  // recv holds size() * count elements, rank r's at r * count.
  virtual absl::Status AllGather(const void* send, int64_t count, DType type,
                                 void* recv) = 0;
  // Variable-length byte strings (serialised small messages: votes, stats).
  virtual absl::StatusOr<std::vector<std::string>> AllGatherBytes(
      const std::string& mine) = 0;

  virtual const CommStats& stats() const = 0;
  virtual void ResetStats() = 0;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_COMMUNICATOR_H_
