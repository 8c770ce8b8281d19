// Batches as tensors: the training loader of one rank and the evaluation
// loader, on top of the torch-free data set, partition and augmentation.
//
// Training batches are a pure function of (data, partition, options, epoch,
// step): rank r's shard is shuffled each epoch by (seed, epoch, r) and step s
// takes the next batch_size samples (drop-last; steps_per_epoch is the same
// on every rank, see partition.h). Random access (MakeBatch) and sequential
// iteration with a background prefetch thread (Seek/Next) give the same
// batches. Sample indices index Dataset::train (or ::test), after class
// selection and limits.
#ifndef FREEZING_TRAIN_DATA_LOADER_H_
#define FREEZING_TRAIN_DATA_LOADER_H_

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "train/data/augment.h"
#include "train/data/dataset.h"
#include "train/data/partition.h"

namespace freezing::train {

// Batch: samples, their augmentation variants, and the tensors.
struct Batch {
  int epoch = 0;     // -1 for evaluation batches
  int64_t step = 0;  // step in the epoch, or evaluation batch number
  std::vector<int64_t> indices;  // sample index in its split
  std::vector<int> variants;     // per sample: 0 (augmentation off), 0..K-1,
                                 // or kFreshVariant
  at::Tensor images;             // float32 [B, C, S, S], contiguous
  at::Tensor labels;             // int64 [B]
};

// LoaderOptions: how one rank draws its training batches.
struct LoaderOptions {
  int batch_size = 64;
  int rank = 0;
  uint64_t seed = 0;         // shuffles and augmentations
  bool augment = true;       // random crop 32 (padding 4) + horizontal flip
  int augment_variants = 0;  // K; see augment.h
  int out_channels = 3;      // the model's in_channels
  int out_size = 32;
  int prefetch = 2;  // batches rendered ahead by Next(); 0 = none
};

// TrainLoader: one rank's training batches.
class TrainLoader {
 public:
  // Create: InvalidArgument for bad options or images that do not fit the
  // model; FailedPrecondition when some shard is smaller than one batch.
  static absl::StatusOr<std::unique_ptr<TrainLoader>> Create(
      std::shared_ptr<const Dataset> data, const Partition& partition,
      const LoaderOptions& options);
  ~TrainLoader();
  TrainLoader(const TrainLoader&) = delete;
  TrainLoader& operator=(const TrainLoader&) = delete;

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  const LoaderOptions& options() const { return options_; }
  const AugmentOptions& augment_options() const { return augment_; }
  // shard: this rank's sample indices (ascending).
  const std::vector<int64_t>& shard() const { return shard_; }

  // EpochOrder: the shard in the order epoch `epoch` visits it.
  std::vector<int64_t> EpochOrder(int epoch) const;

  // PlanBatch: indices and variants of (epoch, step), without pixels.
  Batch PlanBatch(int epoch, int64_t step) const;

  // MakeBatch: the full batch (epoch, step), 0 <= step < steps_per_epoch.
  // Thread-safe; independent of Seek/Next.
  Batch MakeBatch(int epoch, int64_t step) const;

  // Seek: the next Next() returns (epoch, step); prefetching restarts there.
  void Seek(int epoch, int64_t step);
  // Next: the batch after the previous one (after the last step of an epoch
  // comes step 0 of the next epoch). Starts at (0, 0) without Seek.
  Batch Next();

 private:
  TrainLoader(std::shared_ptr<const Dataset> data, std::vector<int64_t> shard,
              const LoaderOptions& options, SampleRenderer renderer,
              int64_t steps_per_epoch);
  void StopPrefetch();
  void PrefetchLoop();
  void Advance(int& epoch, int64_t& step) const;

  const std::shared_ptr<const Dataset> data_;
  const std::vector<int64_t> shard_;
  const LoaderOptions options_;
  const AugmentOptions augment_;
  const SampleRenderer renderer_;
  const int64_t steps_per_epoch_;

  // The last epoch's visiting order, reused by MakeBatch.
  mutable std::mutex order_mu_;
  mutable int order_epoch_ = -1;
  mutable std::shared_ptr<const std::vector<int64_t>> order_;

  // Sequential iteration. `next_*` is what Next() returns next; the producer
  // renders from `produce_*`.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  int next_epoch_ = 0;
  int64_t next_step_ = 0;
  int produce_epoch_ = 0;
  int64_t produce_step_ = 0;
  bool stop_ = false;
  std::thread producer_;
};

// Which split an EvalLoader reads.
enum class Split { kTrain, kTest };

// EvalLoader: un-augmented batches over one rank's contiguous slice of a
// split (slices differ in size by at most one and cover the split), for
// evaluation combined across ranks. The last batch may be smaller.
class EvalLoader {
 public:
  static absl::StatusOr<std::unique_ptr<EvalLoader>> Create(
      std::shared_ptr<const Dataset> data, Split split, int rank, int num_ranks,
      int batch_size, int out_channels, int out_size = 32);

  int64_t num_batches() const;
  int64_t num_samples() const { return end_ - begin_; }
  int64_t first_sample() const { return begin_; }

  // MakeBatch: batch i (0 <= i < num_batches), epoch -1, variants 0.
  // Thread-safe.
  Batch MakeBatch(int64_t i) const;

 private:
  EvalLoader(std::shared_ptr<const Dataset> data, Split split, int64_t begin,
             int64_t end, int batch_size, SampleRenderer renderer);

  const std::shared_ptr<const Dataset> data_;
  const Split split_;
  const int64_t begin_, end_;
  const int batch_size_;
  const SampleRenderer renderer_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_LOADER_H_
