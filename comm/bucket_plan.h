// BucketPlan: how DDP-style gradient all-reduce groups parameter tensors into
// buckets. A pure function (tensor sizes, trainable flags, caps) -> buckets,
// with no MPI and no libtorch, shared by the reducer (comm/reducer.h) and the
// simulator (sim/), so both plan exactly the same buckets.
//
// As in PyTorch's DDP: tensors are taken in reverse registration order (the
// order their gradients become ready in backward); the first bucket is capped
// at `first_bucket_bytes` (1 MiB) so communication starts early, the others at
// `bucket_cap_bytes` (25 MiB); a tensor larger than the cap gets a bucket of
// its own. Tensors not marked trainable are never planned.
#ifndef FREEZING_COMM_BUCKET_PLAN_H_
#define FREEZING_COMM_BUCKET_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace freezing::comm {

struct TensorSpec {
  std::string name;
  int64_t numel = 0;
  int element_bytes = 4;
  bool trainable = true;
};

struct BucketPlanOptions {
  int64_t first_bucket_bytes = int64_t{1} << 20;
  int64_t bucket_cap_bytes = int64_t{25} << 20;
};

struct Bucket {
  // Indices into the TensorSpec list, in the order they enter the bucket
  // (reverse registration order).
  std::vector<int> tensors;
  // Element offset of each tensor in the bucket's flat buffer.
  std::vector<int64_t> offsets;
  int64_t numel = 0;
  int64_t bytes = 0;
};

class BucketPlan {
 public:
  static BucketPlan Build(const std::vector<TensorSpec>& tensors,
                          const BucketPlanOptions& options);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  int64_t total_bytes() const { return total_bytes_; }
  // For tensor i: its bucket, or -1 when it is not planned (frozen).
  int bucket_of(int tensor) const { return bucket_of_[tensor]; }
  // A checksum of the plan (tensor indices, sizes, bucket boundaries) that
  // ranks compare to detect diverging plans before they would hang.
  uint64_t Fingerprint() const;

 private:
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;
  int64_t total_bytes_ = 0;
};

}  // namespace freezing::comm

#endif  // FREEZING_COMM_BUCKET_PLAN_H_
