// BucketPlan: how DDP-style gradient all-reduce groups parameter tensors into
// buckets. A pure function (tensor sizes, trainable flags, caps) -> buckets,
// with no MPI and no libtorch, shared by the reducer (comm/reducer.h) and the
// simulator (sim/), so both plan exactly the same buckets.
//
// As in PyTorch's DDP: tensors are taken in reverse registration order (the
// order their gradients become ready in backward); the first bucket is capped
// at `first_bucket_bytes` (1 MiB) so communication starts early, the others at
// `bucket_cap_bytes` (25 MiB). A tensor that would push a bucket over its cap
// starts the next bucket, so only a tensor larger than the cap by itself makes
// a bucket exceed it (such a tensor gets a bucket of its own). A bucket holds
// tensors of one element size only (its flat buffer has one element type).
// Tensors not marked trainable are never planned: their bytes never travel.
#ifndef FREEZING_COMM_BUCKET_PLAN_H_
#define FREEZING_COMM_BUCKET_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace freezing::comm {

// TensorSpec: what the planner needs to know about one parameter tensor.
struct TensorSpec {
  std::string name;
  int64_t numel = 0;
  int element_bytes = 4;
  bool trainable = true;
};

// BucketPlanOptions: the caps, in bytes (PyTorch DDP's defaults). A cap of 0
// puts every tensor in a bucket of its own.
struct BucketPlanOptions {
  int64_t first_bucket_bytes = int64_t{1} << 20;
  int64_t bucket_cap_bytes = int64_t{25} << 20;
};

// Bucket: one flat buffer that is all-reduced as a single message.
struct Bucket {
  // Indices into the TensorSpec list, in the order they enter the bucket
  // (reverse registration order).
  std::vector<int> tensors;
  // Element offset of each tensor in the bucket's flat buffer.
  std::vector<int64_t> offsets;
  int64_t numel = 0;
  int64_t bytes = 0;
  int element_bytes = 0;
};

// BucketPlan: the buckets for one set of trainable tensors. Rebuild it (on
// every rank) whenever the trainable set changes.
class BucketPlan {
 public:
  static BucketPlan Build(const std::vector<TensorSpec>& tensors,
                          const BucketPlanOptions& options);

  // Buckets in launch order: bucket 0 holds the last-registered tensors.
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Bytes of all planned (trainable) tensors: what one all-reduce step moves
  // per rank as payload.
  int64_t total_bytes() const { return total_bytes_; }
  // Number of tensors the plan was built from (planned or not).
  int num_tensors() const { return static_cast<int>(bucket_of_.size()); }
  // For tensor i: its bucket, or -1 when it is not planned (frozen).
  int bucket_of(int tensor) const { return bucket_of_[tensor]; }
  // Fingerprint: a checksum of the plan (tensor names and sizes, trainable
  // flags, bucket boundaries) that ranks compare to detect diverging plans
  // before they would hang. Stable across processes and machines (FNV-1a).
  uint64_t Fingerprint() const;

 private:
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;
  int64_t total_bytes_ = 0;
  uint64_t fingerprint_ = 0;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_BUCKET_PLAN_H_
