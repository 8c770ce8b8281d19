#include "comm/fake_communicator.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace freezing::comm {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                              start)
      .count();
}

enum class Kind { kBarrier, kBroadcast, kAllReduceSum, kAllGather, kBytes };

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kBarrier:
      return "Barrier";
    case Kind::kBroadcast:
      return "Broadcast";
    case Kind::kAllReduceSum:
      return "AllReduceSum";
    case Kind::kAllGather:
      return "AllGather";
    case Kind::kBytes:
      return "AllGatherBytes";
  }
  return "?";
}

// One rank's side of one collective.
struct Deposit {
  Kind kind = Kind::kBarrier;
  int64_t count = 0;
  DType type = DType::kUInt8;
  int root = 0;
  void* data = nullptr;        // in/out for all-reduce and broadcast
  const void* send = nullptr;  // all-gather
  void* recv = nullptr;        // all-gather
  const std::string* bytes_in = nullptr;
  std::vector<std::string>* bytes_out = nullptr;

  std::string Describe() const {
    if (kind == Kind::kBarrier || kind == Kind::kBytes) return KindName(kind);
    std::string s =
        absl::StrCat(KindName(kind), "(count=", count, ", ", DTypeName(type));
    if (kind == Kind::kBroadcast) absl::StrAppend(&s, ", root=", root);
    return s + ")";
  }
  bool Matches(const Deposit& o) const {
    if (kind != o.kind) return false;
    if (kind == Kind::kBarrier || kind == Kind::kBytes) return true;
    return count == o.count && type == o.type &&
           (kind != Kind::kBroadcast || root == o.root);
  }
};

template <typename T>
void SumInto(const std::vector<Deposit>& deposits) {
  const int64_t n = deposits[0].count;
  std::vector<T> sum(n, T{});
  for (const Deposit& d : deposits) {
    const T* x = static_cast<const T*>(d.data);
    for (int64_t i = 0; i < n; ++i) sum[i] += x[i];
  }
  for (const Deposit& d : deposits) {
    if (n > 0) std::memcpy(d.data, sum.data(), n * sizeof(T));
  }
}

}  // namespace

// The shared state of one world: a table of collectives in flight, keyed by
// their sequence number (the k-th call of every rank).
class FakeWorld {
 public:
  FakeWorld(int size, FakeWorldOptions options)
      : size_(size), options_(options) {}

  int size() const { return size_; }

  // Arrive: rank's deposit for collective `seq`; performs it when last.
  void Arrive(int64_t seq, int rank, const Deposit& deposit) {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[seq];
    if (slot.deposits.empty()) {
      slot.deposits.resize(size_);
      slot.arrived.assign(size_, false);
    }
    slot.deposits[rank] = deposit;
    slot.arrived[rank] = true;
    if (++slot.arrived_count == size_) {
      Execute(seq, slot);
      slot.done = true;
      cv_.notify_all();
    }
  }

  // Done: non-blocking; a status once collective `seq` completed or failed.
  bool Done(int64_t seq, absl::Status* status) {
    std::lock_guard<std::mutex> lock(mu_);
    return DoneLocked(seq, status);
  }

  // Await: blocks until collective `seq` completes, fails, or times out.
  absl::Status Await(int64_t seq, int rank) {
    std::unique_lock<std::mutex> lock(mu_);
    absl::Status status;
    const auto deadline = Clock::now() + options_.timeout;
    while (!DoneLocked(seq, &status)) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
          !DoneLocked(seq, &status)) {
        std::vector<int> missing;
        const Slot& slot = slots_[seq];
        for (int r = 0; r < size_; ++r) {
          if (!slot.arrived[r]) missing.push_back(r);
        }
        return absl::DeadlineExceededError(absl::StrCat(
            "fake collective #", seq, " (", slot.deposits[rank].Describe(),
            ") on rank ", rank, " waited ", options_.timeout.count(),
            " ms for rank(s) ", absl::StrJoin(missing, ","),
            ": does every rank make the same calls in the same order?"));
      }
    }
    return status;
  }

  // Release: rank has seen collective `seq` complete; forget it once all
  // ranks have.
  void Release(int64_t seq) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(seq);
    if (it != slots_.end() && ++it->second.released == size_) {
      slots_.erase(it);
    }
  }

  void Abort(const absl::Status& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_.ok()) {
      aborted_ = absl::AbortedError(
          absl::StrCat("fake world aborted: ", why.ToString()));
    }
    cv_.notify_all();
  }

 private:
  struct Slot {
    std::vector<Deposit> deposits;
    std::vector<bool> arrived;
    int arrived_count = 0;
    int released = 0;
    bool done = false;
    absl::Status status;
  };

  bool DoneLocked(int64_t seq, absl::Status* status) {
    // A collective that completed keeps its own outcome even if the world
    // was aborted afterwards.
    auto it = slots_.find(seq);
    if (it != slots_.end() && it->second.done) {
      *status = it->second.status;
      return true;
    }
    if (!aborted_.ok()) {
      *status = aborted_;
      return true;
    }
    return false;
  }

  void Execute(int64_t seq, Slot& slot) {
    const std::vector<Deposit>& d = slot.deposits;
    for (int r = 1; r < size_; ++r) {
      if (!d[r].Matches(d[0])) {
        slot.status = absl::InvalidArgumentError(absl::StrCat(
            "collective #", seq, " does not match across ranks: rank 0 called ",
            d[0].Describe(), ", rank ", r, " called ", d[r].Describe()));
        return;
      }
    }
    const Deposit& first = d[0];
    switch (first.kind) {
      case Kind::kBarrier:
        return;
      case Kind::kBroadcast: {
        if (first.root < 0 || first.root >= size_) {
          slot.status = absl::InvalidArgumentError(absl::StrCat(
              "broadcast root ", first.root, " not in [0, ", size_, ")"));
          return;
        }
        const int64_t bytes = first.count * DTypeBytes(first.type);
        for (int r = 0; r < size_; ++r) {
          if (r != first.root && bytes > 0) {
            std::memcpy(d[r].data, d[first.root].data, bytes);
          }
        }
        return;
      }
      case Kind::kAllReduceSum:
        switch (first.type) {
          case DType::kFloat32:
            return SumInto<float>(d);
          case DType::kFloat64:
            return SumInto<double>(d);
          case DType::kInt64:
            return SumInto<int64_t>(d);
          case DType::kUInt8:
            return SumInto<uint8_t>(d);
        }
        return;
      case Kind::kAllGather: {
        const int64_t bytes = first.count * DTypeBytes(first.type);
        for (int dst = 0; dst < size_; ++dst) {
          for (int src = 0; src < size_; ++src) {
            if (bytes > 0) {
              std::memcpy(static_cast<char*>(d[dst].recv) + src * bytes,
                          d[src].send, bytes);
            }
          }
        }
        return;
      }
      case Kind::kBytes:
        for (int dst = 0; dst < size_; ++dst) {
          d[dst].bytes_out->clear();
          for (int src = 0; src < size_; ++src) {
            d[dst].bytes_out->push_back(*d[src].bytes_in);
          }
        }
        return;
    }
  }

  const int size_;
  const FakeWorldOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Slot> slots_;
  absl::Status aborted_;
};

namespace {

class FakePendingOp : public PendingOp {
 public:
  FakePendingOp(FakeWorld* world, int64_t seq, int rank, CommStats* stats,
                Clock::time_point start)
      : world_(world), seq_(seq), rank_(rank), stats_(stats), start_(start) {}

  ~FakePendingOp() override {
    // Like an MPI request, an op must complete before its buffer goes away;
    // waiting here keeps an early return from leaving the world inconsistent.
    if (!finished_) Wait().IgnoreError();
  }

  absl::StatusOr<bool> Test() override {
    if (finished_) return status_.ok() ? absl::StatusOr<bool>(true) : status_;
    absl::Status status;
    if (!world_->Done(seq_, &status)) return false;
    Finish(status);
    if (!status.ok()) return status;
    return true;
  }

  absl::Status Wait() override {
    if (!finished_) Finish(world_->Await(seq_, rank_));
    return status_;
  }

 private:
  void Finish(absl::Status status) {
    finished_ = true;
    status_ = std::move(status);
    stats_->allreduce_ns += NanosSince(start_);
    world_->Release(seq_);
  }

  FakeWorld* world_;
  int64_t seq_;
  int rank_;
  CommStats* stats_;
  Clock::time_point start_;
  bool finished_ = false;
  absl::Status status_;
};

absl::Status CheckCount(int64_t count) {
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative element count ", count));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::unique_ptr<FakeCommunicator>> FakeCommunicator::CreateWorld(
    int size, FakeWorldOptions options) {
  auto world = std::make_shared<FakeWorld>(size, options);
  std::vector<std::unique_ptr<FakeCommunicator>> comms;
  for (int r = 0; r < size; ++r) {
    comms.push_back(
        std::unique_ptr<FakeCommunicator>(new FakeCommunicator(world, r)));
  }
  return comms;
}

FakeCommunicator::FakeCommunicator(std::shared_ptr<FakeWorld> world, int rank)
    : world_(std::move(world)), rank_(rank) {}

FakeCommunicator::~FakeCommunicator() = default;

int FakeCommunicator::size() const { return world_->size(); }

void FakeCommunicator::Abort(const absl::Status& why) { world_->Abort(why); }

absl::Status FakeCommunicator::Barrier() {
  const auto start = Clock::now();
  const int64_t seq = next_seq_++;
  world_->Arrive(seq, rank_, Deposit{Kind::kBarrier});
  absl::Status status = world_->Await(seq, rank_);
  world_->Release(seq);
  ++stats_.barrier_calls;
  stats_.other_ns += NanosSince(start);
  return status;
}

absl::Status FakeCommunicator::Broadcast(void* data, int64_t count, DType type,
                                         int root) {
  if (absl::Status s = CheckCount(count); !s.ok()) return s;
  const auto start = Clock::now();
  const int64_t seq = next_seq_++;
  Deposit d{Kind::kBroadcast, count, type, root};
  d.data = data;
  world_->Arrive(seq, rank_, d);
  absl::Status status = world_->Await(seq, rank_);
  world_->Release(seq);
  ++stats_.broadcast_calls;
  stats_.broadcast_bytes += count * DTypeBytes(type);
  stats_.broadcast_ns += NanosSince(start);
  return status;
}

absl::Status FakeCommunicator::AllReduceSum(void* data, int64_t count,
                                            DType type) {
  absl::StatusOr<std::unique_ptr<PendingOp>> op =
      StartAllReduceSum(data, count, type);
  if (!op.ok()) return op.status();
  return (*op)->Wait();
}

absl::StatusOr<std::unique_ptr<PendingOp>> FakeCommunicator::StartAllReduceSum(
    void* data, int64_t count, DType type) {
  if (absl::Status s = CheckCount(count); !s.ok()) return s;
  const auto start = Clock::now();
  const int64_t seq = next_seq_++;
  Deposit d{Kind::kAllReduceSum, count, type};
  d.data = data;
  world_->Arrive(seq, rank_, d);
  ++stats_.allreduce_calls;
  stats_.allreduce_bytes += count * DTypeBytes(type);
  return std::unique_ptr<PendingOp>(
      new FakePendingOp(world_.get(), seq, rank_, &stats_, start));
}

absl::Status FakeCommunicator::AllGather(const void* send, int64_t count,
                                         DType type, void* recv) {
  if (absl::Status s = CheckCount(count); !s.ok()) return s;
  const auto start = Clock::now();
  const int64_t seq = next_seq_++;
  Deposit d{Kind::kAllGather, count, type};
  d.send = send;
  d.recv = recv;
  world_->Arrive(seq, rank_, d);
  absl::Status status = world_->Await(seq, rank_);
  world_->Release(seq);
  ++stats_.allgather_calls;
  stats_.allgather_bytes += count * DTypeBytes(type);
  stats_.allgather_ns += NanosSince(start);
  return status;
}

absl::StatusOr<std::vector<std::string>> FakeCommunicator::AllGatherBytes(
    const std::string& mine) {
  const auto start = Clock::now();
  const int64_t seq = next_seq_++;
  std::vector<std::string> out;
  Deposit d{Kind::kBytes};
  d.bytes_in = &mine;
  d.bytes_out = &out;
  world_->Arrive(seq, rank_, d);
  absl::Status status = world_->Await(seq, rank_);
  world_->Release(seq);
  ++stats_.allgather_calls;
  stats_.allgather_bytes += static_cast<int64_t>(mine.size());
  stats_.allgather_ns += NanosSince(start);
  if (!status.ok()) return status;
  return out;
}

std::vector<absl::Status> RunOnFakeRanks(
    int size, const std::function<absl::Status(Communicator&)>& fn,
    FakeWorldOptions options) {
  std::vector<std::unique_ptr<FakeCommunicator>> comms =
      FakeCommunicator::CreateWorld(size, options);
  std::vector<absl::Status> statuses(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r]() {
      absl::Status status = fn(*comms[r]);
      if (!status.ok()) {
        comms[r]->Abort(absl::Status(
            status.code(), absl::StrCat("rank ", r, ": ", status.message())));
      }
      statuses[r] = std::move(status);
    });
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

}  // namespace freezing::comm
