// ActivationCache: an exact cache of the frozen prefix's output, per training
// sample, so that a step whose inputs are cached skips the prefix's forward.
//
// Why it is exact. The frozen prefix (units [0, prefix)) runs under no-grad
// with its BatchNorm in eval mode and its parameters out of the optimizer: it
// is a fixed function of its input. Its input is a pure function of (sample,
// augmentation variant) (train/data/augment.h). So an entry keyed by
// (sample, variant) and tagged with the unit whose output it holds (the
// boundary unit, prefix - 1) stays valid as long as units [0, boundary] keep
// their parameters and buffers. The cache checks that: it fingerprints every
// frozen unit's parameters and buffers when the prefix changes and on
// Revalidate() (the trainer calls it after evaluation, which broadcasts rank
// 0's BatchNorm buffers), and drops the entries that went through a changed
// unit. Entries computed through a unit that is unfrozen are dropped.
// Freshly drawn augmentations (kFreshVariant) are never cached.
//
// Incremental. When more units freeze, an entry at an older boundary b is
// carried through units b+1..boundary on its next use (not recomputed from
// the image) and replaced by the result.
//
// Storage. Entries live in memory up to a budget; beyond it they are
// appended to a spill file (plain pwrite/pread, slots of freed entries are
// reused). Spilled entries carry a CRC32C that is checked on every read. A
// write or read that fails (disk full, I/O error, checksum mismatch) turns the
// cache off for the rest of the run with a warning: everything cached is
// dropped and every later step computes the prefix from the images. A step
// never uses data that was not read back intact.
//
// Rows are kept in the activation's memory format (a channels-last model's
// rows are [H, W, C] per sample) and read back in it.
//
// Results do not depend on the cache: a cached activation has the bytes the
// prefix computed for that sample, and the prefix's output for a sample does
// not depend on the other samples of its batch (activation_cache_test checks
// this for the models used, as it is what makes cache on == cache off).
#ifndef FREEZING_TRAIN_ACTIVATION_CACHE_H_
#define FREEZING_TRAIN_ACTIVATION_CACHE_H_

#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "train/cache_step_stats.h"
#include "train/models/unit_model.h"

namespace freezing::train {

// SpillWriteFn: writes `size` bytes at `offset` of file `fd`, like pwrite(2)
// (returns bytes written, or -1 with errno set). Tests inject failures.
using SpillWriteFn =
    std::function<ssize_t(int fd, const void* data, size_t size, off_t offset)>;

// ActivationStore: float vectors by 64-bit key, in memory up to a budget and
// in a spill file beyond it. Knows nothing of tensors or models. Not
// thread-safe.
class ActivationStore {
 public:
  struct Options {
    int64_t memory_budget_bytes = int64_t{1} << 30;
    // File for entries beyond the budget, created (truncated) on first use
    // and removed by the destructor; "": entries beyond the budget are not
    // kept.
    std::string spill_path;
    SpillWriteFn spill_write;  // default: pwrite
  };

  explicit ActivationStore(Options options);
  ~ActivationStore();
  ActivationStore(const ActivationStore&) = delete;
  ActivationStore& operator=(const ActivationStore&) = delete;

  // Find: the tag (boundary unit) of `key`'s entry, or -1 when there is none.
  int Find(uint64_t key) const;
  // Elements: the entry's float count (0 when there is none).
  int64_t Elements(uint64_t key) const;

  // Read: copies the entry's floats to `out`. NotFound without an entry;
  // DataLoss when the spill file returns fewer bytes or bytes whose checksum
  // differs; Internal on an I/O error.
  absl::Status Read(uint64_t key, float* out);

  // Put: stores `elements` floats under `key` with tag `tag` >= 0, replacing
  // any entry of `key`. Returns whether the entry was kept (false: over the
  // budget and no spill file). ResourceExhausted / Internal when the spill
  // write fails; the key then has no entry.
  absl::StatusOr<bool> Put(uint64_t key, int tag, const float* data,
                           int64_t elements);

  // EraseTagsFrom: drops every entry whose tag is >= `tag`.
  void EraseTagsFrom(int tag);
  // Clear: drops everything and removes the spill file.
  void Clear();
  // SpillFileMoved: the spill file (open or not yet created) is now at
  // `path`, its folder having been renamed.
  void SpillFileMoved(std::string path) {
    options_.spill_path = std::move(path);
  }

  int64_t entries() const { return static_cast<int64_t>(index_.size()); }
  int64_t spilled_entries() const { return spilled_entries_; }
  int64_t memory_bytes() const { return memory_bytes_; }
  int64_t spilled_bytes() const { return spilled_bytes_; }
  // File size (live entries and reusable free slots).
  int64_t spill_file_bytes() const { return file_end_; }

 private:
  struct Entry {
    int tag = -1;
    int64_t elements = 0;
    std::unique_ptr<float[]> memory;  // null: in the spill file
    int64_t offset = 0;
    uint32_t crc = 0;
  };

  void Release(Entry& e);
  absl::Status OpenSpill();
  absl::Status WriteSpill(const void* data, int64_t bytes, int64_t offset);

  Options options_;
  absl::flat_hash_map<uint64_t, Entry> index_;
  int64_t memory_bytes_ = 0;
  int64_t spilled_bytes_ = 0;
  int64_t spilled_entries_ = 0;
  int fd_ = -1;
  int64_t file_end_ = 0;
  // Reusable file slots by size in bytes.
  absl::flat_hash_map<int64_t, std::vector<int64_t>> free_slots_;
};

// ActivationCacheOptions: how the trainer configures the cache.
struct ActivationCacheOptions {
  int64_t memory_budget_bytes = int64_t{1} << 30;  // per rank
  std::string spill_path;  // see ActivationStore::Options
  SpillWriteFn spill_write;
  // Called once with the reason when the cache turns itself off.
  std::function<void(const std::string&)> warn;
};

// PreparedInput: what a step starts from.
struct PreparedInput {
  // The images (start_unit 0) or the output of unit start_unit - 1.
  at::Tensor input;
  int start_unit = 0;
  // Every sample missed: the step runs from the images and the caller hands
  // its prefix_output to Store().
  bool store_prefix_output = false;
  // Forward time of prefix units run here for misses and extensions, per
  // unit (size num_units).
  std::vector<int64_t> unit_forward_ns;
  int64_t ns = 0;  // wall time of Prepare (reads, forward, writes)
  CacheStepStats stats;
};

class ActivationCache {
 public:
  // Create: `model` must outlive the cache. The cache starts with an empty
  // prefix (nothing frozen).
  static absl::StatusOr<std::unique_ptr<ActivationCache>> Create(
      UnitModel* model, ActivationCacheOptions options);
  ~ActivationCache();

  // SetPrefix: units [0, prefix) are frozen now (StepRunner::first_trainable
  // after every change of the frozen set); the boundary unit is prefix - 1.
  // Drops entries computed through units that are no longer frozen or whose
  // parameters or buffers changed.
  void SetPrefix(int prefix);
  int prefix() const { return prefix_; }
  // Revalidate: re-checks the frozen units' fingerprints (after anything
  // that may write into their parameters or buffers).
  void Revalidate() { SetPrefix(prefix_); }

  // SetForwardCost: no-grad forward time per sample of each unit (from the
  // start-up profile), for CacheStepStats::forward_saved_ns.
  void SetForwardCost(std::vector<double> ns_per_sample);

  // Prepare: the input of this step for a batch of `samples` with augmentation
  // `variants` and `images`. Hits are read, older boundaries carried through
  // the newly frozen units, misses run through the prefix; new entries are
  // stored. When nothing is cached the step runs from the images (see
  // PreparedInput::store_prefix_output). A failure of the store turns the
  // cache off and the step runs from the images: it never fails the step.
  PreparedInput Prepare(const std::vector<int64_t>& samples,
                        const std::vector<int>& variants,
                        const at::Tensor& images);

  // Store: keeps a batch's prefix output (the step's prefix_output, [B, ...]
  // for the current boundary) and adds the bytes to `stats`.
  void Store(const std::vector<int64_t>& samples,
             const std::vector<int>& variants, const at::Tensor& prefix_output,
             CacheStepStats* stats);

  bool disabled() const { return disabled_; }
  const std::string& disabled_reason() const { return disabled_reason_; }
  const ActivationStore& store() const { return store_; }
  // SpillFileMoved: see ActivationStore::SpillFileMoved.
  void SpillFileMoved(std::string path) {
    store_.SpillFileMoved(std::move(path));
  }

  // ComputeRows: how many rows the cache runs through the prefix to compute
  // `n` samples of a batch of `batch`: n padded to min(batch, 16) with
  // copies. libtorch picks oneDNN's convolution for every layer from 16 rows
  // on (and for fewer rows only for some layers); the two differ in the last
  // bits, while oneDNN's output for a sample does not depend on the other
  // rows. Padding makes a subset's rows bitwise equal to the full batch's.
  // `vector_rows`: a prefix unit's output is one vector per sample (the
  // MLP's linear layers: a [rows, features] product whose BLAS kernel
  // OpenBLAS picks by its size, small products accumulating in another
  // order): then n is padded to the whole batch, the only row count whose
  // products are bitwise those of the training step.
  static int64_t ComputeRows(int64_t n, int64_t batch,
                             bool vector_rows = false);

  // Key: the store's key of (sample, variant); false when the pair cannot be
  // cached (fresh augmentation, or out of range).
  static bool Key(int64_t sample, int variant, uint64_t* key);

 private:
  ActivationCache(UnitModel* model, ActivationCacheOptions options);

  void Disable(const std::string& reason);
  uint64_t Fingerprint(int unit) const;
  // Runs units [begin, end) under no-grad on the rows of `x` (padded to
  // ComputeRows(rows, batch, VectorRows(begin, end))), timing each into
  // `unit_ns`.
  at::Tensor RunUnits(at::Tensor x, int begin, int end, int64_t batch,
                      std::vector<int64_t>& unit_ns);
  // RowFormat: the memory format rows of `t` are kept in (channels-last for
  // a channels-last [B, C, H, W] activation, else contiguous).
  static at::MemoryFormat RowFormat(const at::Tensor& t);
  // EmptyRows: `rows` samples of unit `unit`'s output, in its format.
  at::Tensor EmptyRows(int unit, int64_t rows) const;
  // Stores rows of `out` (per-sample at boundary_) under `keys`.
  absl::Status PutRows(const std::vector<uint64_t>& keys, const at::Tensor& out,
                       CacheStepStats* stats);

  // Prepare's parts. BatchRows: a batch's keys, hits, entries of older
  // boundaries and misses (Classify: false when a sample cannot be cached).
  struct BatchRows;
  // Computed: rows of the batch and their activations at the boundary.
  using Computed = std::pair<std::vector<int64_t>, at::Tensor>;
  bool Classify(const std::vector<int64_t>& samples,
                const std::vector<int>& variants, BatchRows& rows) const;
  // ReadRow: the entry `key` of `per` floats into `dst` (`of_unit` names
  // the unit in the error).
  absl::Status ReadRow(uint64_t key, int64_t per, const std::string& of_unit,
                       float* dst, CacheStepStats* stats);
  // ReadRows: the entries of `rows` (at unit `tag`) as one tensor.
  absl::StatusOr<at::Tensor> ReadRows(const std::vector<uint64_t>& keys,
                                      const std::vector<int64_t>& rows, int tag,
                                      CacheStepStats* stats);
  // VectorRows: whether a unit of [begin, end) outputs one vector per sample
  // (or has not run yet: its shape is unknown, so the safe answer is yes).
  bool VectorRows(int begin, int end) const;
  // SavedNs: the profiled forward per sample of units [0, through].
  double SavedNs(int through) const;
  absl::StatusOr<std::vector<Computed>> ComputeRowsAtBoundary(
      const BatchRows& rows, const at::Tensor& images, int64_t batch,
      PreparedInput& p, double& saved);
  // Assemble: p's input at the boundary from the cache and computed rows,
  // which are stored. An error leaves `p` half done: the caller turns the
  // cache off.
  absl::Status Assemble(const BatchRows& rows, const at::Tensor& images,
                        PreparedInput& p);

  UnitModel* model_;
  ActivationCacheOptions options_;
  ActivationStore store_;
  int prefix_ = 0;
  bool disabled_ = false;
  std::string disabled_reason_;
  // Per unit: its parameters and buffers, and the fingerprint taken when it
  // last entered the prefix (fingerprinted_: it is in the prefix).
  std::vector<std::vector<at::Tensor>> unit_state_;
  std::vector<uint64_t> fingerprint_;
  std::vector<bool> fingerprinted_;
  // Per unit: the shape of one sample's output and the memory format of
  // its rows, once seen.
  std::vector<std::vector<int64_t>> sample_shape_;
  std::vector<at::MemoryFormat> sample_format_;
  std::vector<double> forward_cost_;  // ns per sample, per unit
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_ACTIVATION_CACHE_H_
