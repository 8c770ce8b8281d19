// FakeCommunicator: N ranks as threads of one process, with the semantics of
// the MPI communicator, for unit tests of code that uses a Communicator (the
// reducer, the trainer's votes) without mpiexec.
//
// Every call is a rendezvous: the k-th collective of each rank meets the k-th
// of every other rank; the last to arrive performs the operation on all ranks'
// buffers. Unlike MPI, the fake checks that the calls match (kind, count,
// type, root) and fails all of them with InvalidArgument when they do not,
// and a rank that never arrives makes the others fail with DeadlineExceeded
// after `timeout` instead of hanging a test. Abort() fails every pending and
// future call, as MPI_Abort ends a job; RunOnFakeRanks aborts the world when
// one rank's function fails, so the others return promptly.
#ifndef FREEZING_COMM_FAKE_COMMUNICATOR_H_
#define FREEZING_COMM_FAKE_COMMUNICATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace freezing::comm {

class FakeWorld;

struct FakeWorldOptions {
  // How long a rank waits for the others in one collective.
  std::chrono::milliseconds timeout{60000};
};

class FakeCommunicator : public Communicator {
 public:
  // CreateWorld: `size` communicators of one world; rank r is element r.
  // Give each to its own thread. They share the world and may be destroyed
  // in any order.
  static std::vector<std::unique_ptr<FakeCommunicator>> CreateWorld(
      int size, FakeWorldOptions options = {});

  ~FakeCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override;
  ThreadLevel thread_level() const override { return ThreadLevel::kMultiple; }

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

  // Abort: every pending and future call of every rank of this world fails
  // with Aborted carrying `why`.
  void Abort(const absl::Status& why);

 private:
  FakeCommunicator(std::shared_ptr<FakeWorld> world, int rank);

  std::shared_ptr<FakeWorld> world_;
  int rank_;
  int64_t next_seq_ = 0;
  CommStats stats_;
};

// RunOnFakeRanks: runs fn on `size` threads, thread r with rank r's
// communicator, and returns each rank's status (element r is rank r's). When
// a rank's fn fails, the world is aborted so the others cannot hang.
std::vector<absl::Status> RunOnFakeRanks(
    int size, const std::function<absl::Status(Communicator&)>& fn,
    FakeWorldOptions options = {});

}  // namespace freezing::comm

#endif  // FREEZING_COMM_FAKE_COMMUNICATOR_H_
