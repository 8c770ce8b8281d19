#include "train/data/loader.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "train/data/seeded_random.h"

namespace freezing::train {
namespace {

constexpr uint64_t kEpochOrderTag = 0x45504f4348ULL;  // "EPOCH"

// Renders `batch.indices` of `set` with the given augmentations.
void Render(const ImageSet& set, const SampleRenderer& renderer,
            const std::vector<Augmentation>& augmentations, Batch& batch) {
  const int64_t b = batch.indices.size();
  batch.images = at::empty(
      {b, renderer.out_channels(), renderer.out_size(), renderer.out_size()},
      at::kFloat);
  batch.labels = at::empty({b}, at::kLong);
  float* images = batch.images.data_ptr<float>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  const int64_t stride = renderer.out_elements();
  for (int64_t k = 0; k < b; ++k) {
    const int64_t i = batch.indices[k];
    renderer.Render(set.image(i), augmentations[k], images + k * stride);
    labels[k] = set.labels[i];
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainLoader>> TrainLoader::Create(
    std::shared_ptr<const Dataset> data, const Partition& partition,
    const LoaderOptions& options) {
  if (data == nullptr) return absl::InvalidArgumentError("no data set");
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (options.rank < 0 || options.rank >= partition.num_ranks()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", options.rank, " outside the partition's ",
                     partition.num_ranks(), " ranks"));
  }
  if (options.augment_variants < 0 || options.prefetch < 0) {
    return absl::InvalidArgumentError(
        "augment_variants and prefetch must be >= 0");
  }
  for (int64_t i : partition.shards[options.rank]) {
    if (i < 0 || i >= data->train.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("partition names sample ", i,
                       " but the training set has ", data->train.size()));
    }
  }
  const int64_t steps = StepsPerEpoch(partition, options.batch_size);
  if (steps < 1) {
    const std::vector<int64_t> sizes = ShardSizes(partition);
    return absl::FailedPreconditionError(absl::StrCat(
        "partition '", partition.spec, "' over ", partition.num_ranks(),
        " ranks has a shard of ", *std::min_element(sizes.begin(), sizes.end()),
        " samples, fewer than one batch of ", options.batch_size,
        "; use fewer ranks, a smaller batch or a less skewed partition"));
  }
  ASSIGN_OR_RETURN(
      SampleRenderer renderer,
      SampleRenderer::Create(*data, options.out_channels, options.out_size));
  return std::unique_ptr<TrainLoader>(
      new TrainLoader(std::move(data), partition.shards[options.rank], options,
                      std::move(renderer), steps));
}

TrainLoader::TrainLoader(std::shared_ptr<const Dataset> data,
                         std::vector<int64_t> shard,
                         const LoaderOptions& options, SampleRenderer renderer,
                         int64_t steps_per_epoch)
    : data_(std::move(data)),
      shard_(std::move(shard)),
      options_(options),
      augment_{options.augment, options.augment_variants, options.seed, 4},
      renderer_(std::move(renderer)),
      // The same on every rank (the smallest shard's), or the ranks would
      // run different numbers of collectives and hang.
      steps_per_epoch_(steps_per_epoch) {}

TrainLoader::~TrainLoader() { StopPrefetch(); }

std::vector<int64_t> TrainLoader::EpochOrder(int epoch) const {
  std::vector<int64_t> order = shard_;
  SeededRandom rng(
      MixSeed({options_.seed, kEpochOrderTag, static_cast<uint64_t>(epoch),
               static_cast<uint64_t>(options_.rank)}));
  rng.Shuffle(order);
  return order;
}

Batch TrainLoader::PlanBatch(int epoch, int64_t step) const {
  std::shared_ptr<const std::vector<int64_t>> order;
  {
    std::lock_guard<std::mutex> lock(order_mu_);
    if (order_epoch_ != epoch || order_ == nullptr) {
      order_ = std::make_shared<const std::vector<int64_t>>(EpochOrder(epoch));
      order_epoch_ = epoch;
    }
    order = order_;
  }
  Batch batch;
  batch.epoch = epoch;
  batch.step = step;
  const int64_t b = options_.batch_size;
  batch.indices.assign(order->begin() + step * b,
                       order->begin() + (step + 1) * b);
  batch.variants.resize(b);
  for (int64_t k = 0; k < b; ++k) {
    ChooseAugmentation(augment_, epoch, batch.indices[k], &batch.variants[k]);
  }
  return batch;
}

Batch TrainLoader::MakeBatch(int epoch, int64_t step) const {
  Batch batch = PlanBatch(epoch, step);
  std::vector<Augmentation> augmentations(batch.indices.size());
  for (size_t k = 0; k < batch.indices.size(); ++k) {
    int variant;
    augmentations[k] =
        ChooseAugmentation(augment_, epoch, batch.indices[k], &variant);
  }
  Render(data_->train, renderer_, augmentations, batch);
  return batch;
}

void TrainLoader::Advance(int& epoch, int64_t& step) const {
  if (++step == steps_per_epoch_) {
    step = 0;
    ++epoch;
  }
}

void TrainLoader::StopPrefetch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  queue_.clear();
}

void TrainLoader::Seek(int epoch, int64_t step) {
  StopPrefetch();
  std::lock_guard<std::mutex> lock(mu_);
  next_epoch_ = produce_epoch_ = epoch;
  next_step_ = produce_step_ = step;
}

void TrainLoader::PrefetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] {
      return stop_ || static_cast<int>(queue_.size()) < options_.prefetch;
    });
    if (stop_) return;
    const int epoch = produce_epoch_;
    const int64_t step = produce_step_;
    lock.unlock();
    Batch batch = MakeBatch(epoch, step);
    lock.lock();
    if (stop_) return;
    queue_.push_back(std::move(batch));
    Advance(produce_epoch_, produce_step_);
    cv_.notify_all();
  }
}

Batch TrainLoader::Next() {
  if (options_.prefetch == 0) {
    Batch batch = MakeBatch(next_epoch_, next_step_);
    Advance(next_epoch_, next_step_);
    return batch;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (!producer_.joinable()) {
    produce_epoch_ = next_epoch_;
    produce_step_ = next_step_;
    producer_ = std::thread([this] { PrefetchLoop(); });
  }
  cv_.wait(lock, [this] { return !queue_.empty(); });
  Batch batch = std::move(queue_.front());
  queue_.pop_front();
  Advance(next_epoch_, next_step_);
  cv_.notify_all();
  return batch;
}

absl::StatusOr<std::unique_ptr<EvalLoader>> EvalLoader::Create(
    std::shared_ptr<const Dataset> data, Split split, int rank, int num_ranks,
    int batch_size, int out_channels, int out_size) {
  if (data == nullptr) return absl::InvalidArgumentError("no data set");
  if (num_ranks < 1 || rank < 0 || rank >= num_ranks || batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation needs 0 <= rank < num_ranks and batch_size >= 1; got rank ",
        rank, ", num_ranks ", num_ranks, ", batch_size ", batch_size));
  }
  ASSIGN_OR_RETURN(SampleRenderer renderer,
                   SampleRenderer::Create(*data, out_channels, out_size));
  const int64_t n =
      split == Split::kTrain ? data->train.size() : data->test.size();
  const int64_t begin = n * rank / num_ranks, end = n * (rank + 1) / num_ranks;
  return std::unique_ptr<EvalLoader>(new EvalLoader(
      std::move(data), split, begin, end, batch_size, std::move(renderer)));
}

EvalLoader::EvalLoader(std::shared_ptr<const Dataset> data, Split split,
                       int64_t begin, int64_t end, int batch_size,
                       SampleRenderer renderer)
    : data_(std::move(data)),
      split_(split),
      begin_(begin),
      end_(end),
      batch_size_(batch_size),
      renderer_(std::move(renderer)) {}

int64_t EvalLoader::num_batches() const {
  return (num_samples() + batch_size_ - 1) / batch_size_;
}

Batch EvalLoader::MakeBatch(int64_t i) const {
  Batch batch;
  batch.epoch = -1;
  batch.step = i;
  const int64_t first = begin_ + i * batch_size_;
  const int64_t last = std::min<int64_t>(end_, first + batch_size_);
  for (int64_t s = first; s < last; ++s) batch.indices.push_back(s);
  batch.variants.assign(batch.indices.size(), 0);
  AugmentOptions off;
  off.enabled = false;
  const std::vector<Augmentation> identity(batch.indices.size(),
                                           IdentityAugmentation(off));
  Render(split_ == Split::kTrain ? data_->train : data_->test, renderer_,
         identity, batch);
  return batch;
}

}  // namespace freezing::train
