// Communicator: the collectives the project uses, over MPI (mpi_communicator.h)
// or, for unit tests, over threads in one process (fake_communicator.h).
//
// Buffers are raw memory with an element type, so this header needs no
// libtorch; comm/reducer.h adapts torch tensors. Every call is collective:
// all ranks make the same calls in the same order. Errors come back as a
// status (Internal for a failed MPI call, InvalidArgument for bad sizes or
// for ranks whose calls do not match, where that can be detected).
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

// DTypeBytes: the size of one element.
int DTypeBytes(DType type);
// DTypeName: "float32", "float64", "int64", "uint8".
const char* DTypeName(DType type);

// ThreadLevel: which threads may call into a communicator, as MPI's thread
// levels: kSingle/kFunneled: only the thread that created it; kSerialized:
// any thread, one at a time (calls ordered by the caller, e.g. a mutex);
// kMultiple: any thread, concurrently.
enum class ThreadLevel { kSingle, kFunneled, kSerialized, kMultiple };

// ThreadLevelName: "single", "funneled", "serialized", "multiple".
const char* ThreadLevelName(ThreadLevel level);

// CommStats: bytes and time spent in collectives, per kind, as seen by this
// rank. Bytes are payload: the buffer passed to all-reduce and broadcast,
// this rank's own contribution to all-gather (what goes on the wire depends
// on the algorithm: a ring all-reduce sends 2(p-1)/p of it). Times are
// wall-clock nanoseconds from the start of a call to its observed completion
// (for a non-blocking all-reduce: until Test() or Wait() saw it complete).
struct CommStats {
  int64_t allreduce_calls = 0;
  int64_t allreduce_bytes = 0;
  int64_t allreduce_ns = 0;
  int64_t broadcast_calls = 0;
  int64_t broadcast_bytes = 0;
  int64_t broadcast_ns = 0;
  int64_t allgather_calls = 0;
  int64_t allgather_bytes = 0;
  int64_t allgather_ns = 0;
  int64_t barrier_calls = 0;
  // Barriers.
  int64_t other_ns = 0;
};

// A non-blocking collective in flight.
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  // Test: advances progress; true once complete. Never blocks.
  virtual absl::StatusOr<bool> Test() = 0;
  // Wait: blocks until complete.
  virtual absl::Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // thread_level: which threads may call this communicator (see ThreadLevel).
  virtual ThreadLevel thread_level() const { return ThreadLevel::kSingle; }

  virtual absl::Status Barrier() = 0;
  virtual absl::Status Broadcast(void* data, int64_t count, DType type,
                                 int root) = 0;
  // AllReduceSum: in-place sum across ranks.
  virtual absl::Status AllReduceSum(void* data, int64_t count, DType type) = 0;
  // StartAllReduceSum: starts an in-place sum; `data` must stay alive and
  // untouched until the op completes. Ops complete in the order started on
  // every rank only if every rank starts them in the same order.
  virtual absl::StatusOr<std::unique_ptr<PendingOp>> StartAllReduceSum(
      void* data, int64_t count, DType type) = 0;
  // AllGather: recv holds size() * count elements, rank r's at r * count.
  virtual absl::Status AllGather(const void* send, int64_t count, DType type,
                                 void* recv) = 0;
  // AllGatherBytes: variable-length byte strings (serialised small messages:
  // votes, stats); element r of the result is rank r's.
  virtual absl::StatusOr<std::vector<std::string>> AllGatherBytes(
      const std::string& mine) = 0;

  // stats: this rank's accounting since creation or the last ResetStats().
  // Read it from the thread that makes the calls.
  virtual const CommStats& stats() const = 0;
  virtual void ResetStats() = 0;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_COMMUNICATOR_H_
