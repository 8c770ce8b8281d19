#include "comm/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace freezing::comm {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                              start)
      .count();
}

MPI_Datatype MpiType(DType type) {
  switch (type) {
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kFloat64:
      return MPI_DOUBLE;
    case DType::kInt64:
      return MPI_INT64_T;
    case DType::kUInt8:
      return MPI_UINT8_T;
  }
  return MPI_DATATYPE_NULL;
}

// MPI counts are int: larger buffers go in chunks of this many elements.
constexpr int64_t kMaxChunk = INT_MAX;

absl::Status CheckCount(int64_t count, const char* call) {
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(call, ": negative element count ", count));
  }
  return absl::OkStatus();
}

std::string Args(int64_t count, DType type) {
  return absl::StrCat("count=", count, ", ", DTypeName(type));
}

class MpiPendingOp : public PendingOp {
 public:
  MpiPendingOp(MPI_Request request, std::string what, CommStats* stats,
               Clock::time_point start)
      : request_(request),
        what_(std::move(what)),
        stats_(stats),
        start_(start) {}

  ~MpiPendingOp() override {
    // The buffer must outlive the request: complete it rather than leave MPI
    // writing into freed memory.
    if (request_ != MPI_REQUEST_NULL) Wait().IgnoreError();
  }

  absl::StatusOr<bool> Test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    const int rc = MPI_Test(&request_, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      request_ = MPI_REQUEST_NULL;
      return MpiError(rc, "MPI_Test(" + what_ + ")");
    }
    if (done) Finish();
    return done != 0;
  }

  absl::Status Wait() override {
    if (request_ == MPI_REQUEST_NULL) return absl::OkStatus();
    const int rc = MPI_Wait(&request_, MPI_STATUS_IGNORE);
    request_ = MPI_REQUEST_NULL;
    if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Wait(" + what_ + ")");
    Finish();
    return absl::OkStatus();
  }

 private:
  void Finish() {
    request_ = MPI_REQUEST_NULL;
    stats_->allreduce_ns += NanosSince(start_);
  }

  MPI_Request request_;
  std::string what_;
  CommStats* stats_;
  Clock::time_point start_;
};

}  // namespace

absl::Status MpiError(int code, const std::string& call) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char message[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) {
    length = 0;
  }
  int rank = -1;
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return absl::InternalError(absl::StrCat(call, " failed on rank ", rank, ": ",
                                          std::string(message, length)));
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(
    MPI_Comm comm, ThreadLevel level) {
  MPI_Comm dup = MPI_COMM_NULL;
  RETURN_IF_ERROR(MpiError(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup"));
  RETURN_IF_ERROR(MpiError(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN),
                           "MPI_Comm_set_errhandler"));
  int rank = 0;
  int size = 0;
  RETURN_IF_ERROR(MpiError(MPI_Comm_rank(dup, &rank), "MPI_Comm_rank"));
  RETURN_IF_ERROR(MpiError(MPI_Comm_size(dup, &size), "MPI_Comm_size"));
  return std::unique_ptr<MpiCommunicator>(
      new MpiCommunicator(dup, level, rank, size));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, ThreadLevel level, int rank,
                                 int size)
    : comm_(comm), level_(level), rank_(rank), size_(size) {}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

absl::Status MpiCommunicator::Barrier() {
  const auto start = Clock::now();
  const int rc = MPI_Barrier(comm_);
  ++stats_.barrier_calls;
  stats_.other_ns += NanosSince(start);
  return MpiError(rc, "MPI_Barrier");
}

absl::Status MpiCommunicator::Broadcast(void* data, int64_t count, DType type,
                                        int root) {
  RETURN_IF_ERROR(CheckCount(count, "Broadcast"));
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: root ", root, " not in [0, ", size_, ")"));
  }
  const auto start = Clock::now();
  const int bytes = DTypeBytes(type);
  // Every rank passes the same count, so a zero count skips MPI on all.
  for (int64_t done = 0; done < count;) {
    const int64_t n = std::min(count - done, kMaxChunk);
    const int rc = MPI_Bcast(static_cast<char*>(data) + done * bytes,
                             static_cast<int>(n), MpiType(type), root, comm_);
    RETURN_IF_ERROR(MpiError(rc, absl::StrCat("MPI_Bcast(", Args(count, type),
                                              ", root=", root, ")")));
    done += n;
  }
  ++stats_.broadcast_calls;
  stats_.broadcast_bytes += count * bytes;
  stats_.broadcast_ns += NanosSince(start);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllReduceSum(void* data, int64_t count,
                                           DType type) {
  RETURN_IF_ERROR(CheckCount(count, "AllReduceSum"));
  const auto start = Clock::now();
  const int bytes = DTypeBytes(type);
  for (int64_t done = 0; done < count;) {
    const int64_t n = std::min(count - done, kMaxChunk);
    const int rc =
        MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + done * bytes,
                      static_cast<int>(n), MpiType(type), MPI_SUM, comm_);
    RETURN_IF_ERROR(
        MpiError(rc, absl::StrCat("MPI_Allreduce(", Args(count, type), ")")));
    done += n;
  }
  ++stats_.allreduce_calls;
  stats_.allreduce_bytes += count * bytes;
  stats_.allreduce_ns += NanosSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PendingOp>> MpiCommunicator::StartAllReduceSum(
    void* data, int64_t count, DType type) {
  RETURN_IF_ERROR(CheckCount(count, "StartAllReduceSum"));
  if (count > kMaxChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("StartAllReduceSum: ", count,
                     " elements exceed MPI's int count; "
                     "use smaller buckets"));
  }
  const auto start = Clock::now();
  MPI_Request request = MPI_REQUEST_NULL;
  const std::string what =
      absl::StrCat("MPI_Iallreduce(", Args(count, type), ")");
  const int rc = MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count),
                                MpiType(type), MPI_SUM, comm_, &request);
  RETURN_IF_ERROR(MpiError(rc, what));
  ++stats_.allreduce_calls;
  stats_.allreduce_bytes += count * DTypeBytes(type);
  return std::unique_ptr<PendingOp>(
      new MpiPendingOp(request, what, &stats_, start));
}

absl::Status MpiCommunicator::AllGather(const void* send, int64_t count,
                                        DType type, void* recv) {
  RETURN_IF_ERROR(CheckCount(count, "AllGather"));
  if (count > kMaxChunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AllGather: ", count, " elements per rank exceed MPI's int count"));
  }
  const auto start = Clock::now();
  const int rc =
      MPI_Allgather(send, static_cast<int>(count), MpiType(type), recv,
                    static_cast<int>(count), MpiType(type), comm_);
  RETURN_IF_ERROR(
      MpiError(rc, absl::StrCat("MPI_Allgather(", Args(count, type), ")")));
  ++stats_.allgather_calls;
  stats_.allgather_bytes += count * DTypeBytes(type);
  stats_.allgather_ns += NanosSince(start);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> MpiCommunicator::AllGatherBytes(
    const std::string& mine) {
  const auto start = Clock::now();
  int64_t my_length = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths(size_);
  RETURN_IF_ERROR(MpiError(MPI_Allgather(&my_length, 1, MPI_INT64_T,
                                         lengths.data(), 1, MPI_INT64_T, comm_),
                           "MPI_Allgather(lengths of AllGatherBytes)"));
  std::vector<int> counts(size_);
  std::vector<int> displs(size_);
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    counts[r] = static_cast<int>(lengths[r]);
    displs[r] = static_cast<int>(total);
    total += lengths[r];
  }
  if (total > kMaxChunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AllGatherBytes: ", total, " bytes in all exceed MPI's int count"));
  }
  std::string all(total, '\0');
  RETURN_IF_ERROR(
      MpiError(MPI_Allgatherv(mine.data(), counts[rank_], MPI_CHAR, all.data(),
                              counts.data(), displs.data(), MPI_CHAR, comm_),
               absl::StrCat("MPI_Allgatherv(", total, " bytes)")));
  std::vector<std::string> out(size_);
  for (int r = 0; r < size_; ++r) out[r] = all.substr(displs[r], counts[r]);
  ++stats_.allgather_calls;
  stats_.allgather_bytes += my_length;
  stats_.allgather_ns += NanosSince(start);
  return out;
}

}  // namespace freezing::comm
