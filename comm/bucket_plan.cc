#include "comm/bucket_plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace freezing::comm {
namespace {

// FNV-1a, 64 bit: stable across compilers and runs, unlike std::hash.
class Fnv1a {
 public:
  void Add(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
      hash_ ^= bytes[i];
      hash_ *= 0x100000001b3ULL;
    }
  }
  void Add(int64_t value) { Add(&value, sizeof(value)); }
  void Add(const std::string& s) {
    Add(static_cast<int64_t>(s.size()));
    Add(s.data(), s.size());
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

}  // namespace

BucketPlan BucketPlan::Build(const std::vector<TensorSpec>& tensors,
                             const BucketPlanOptions& options) {
  BucketPlan plan;
  plan.bucket_of_.assign(tensors.size(), -1);
  Bucket current;
  auto cap = [&]() {
    return plan.buckets_.empty() ? options.first_bucket_bytes
                                 : options.bucket_cap_bytes;
  };
  auto close = [&]() {
    if (current.tensors.empty()) return;
    plan.total_bytes_ += current.bytes;
    plan.buckets_.push_back(std::move(current));
    current = Bucket();
  };
  // Reverse registration order: the order gradients become ready.
  for (int i = static_cast<int>(tensors.size()) - 1; i >= 0; --i) {
    const TensorSpec& t = tensors[i];
    if (!t.trainable) continue;
    const int64_t bytes = t.numel * t.element_bytes;
    // A flat buffer holds one element type; and a tensor that would push the
    // bucket over its cap starts the next one (so only a tensor larger than
    // the cap on its own makes a bucket exceed it).
    if (!current.tensors.empty() && (t.element_bytes != current.element_bytes ||
                                     current.bytes + bytes > cap())) {
      close();
    }
    plan.bucket_of_[i] = static_cast<int>(plan.buckets_.size());
    current.tensors.push_back(i);
    current.offsets.push_back(current.numel);
    current.numel += t.numel;
    current.bytes += bytes;
    current.element_bytes = t.element_bytes;
    if (current.bytes >= cap()) close();
  }
  close();
  // The fingerprint covers what ranks must agree on to exchange the same
  // buffers: the tensor list (names, sizes) and every bucket boundary.
  Fnv1a h;
  h.Add(static_cast<int64_t>(tensors.size()));
  for (const TensorSpec& t : tensors) {
    h.Add(t.name);
    h.Add(t.numel);
    h.Add(static_cast<int64_t>(t.element_bytes));
    h.Add(static_cast<int64_t>(t.trainable));
  }
  h.Add(static_cast<int64_t>(plan.buckets_.size()));
  for (const Bucket& b : plan.buckets_) {
    h.Add(static_cast<int64_t>(b.tensors.size()));
    for (size_t k = 0; k < b.tensors.size(); ++k) {
      h.Add(static_cast<int64_t>(b.tensors[k]));
      h.Add(b.offsets[k]);
    }
    h.Add(b.numel);
    h.Add(b.bytes);
    h.Add(static_cast<int64_t>(b.element_bytes));
  }
  plan.fingerprint_ = h.value();
  return plan;
}

uint64_t BucketPlan::Fingerprint() const { return fingerprint_; }

}  // namespace freezing::comm
