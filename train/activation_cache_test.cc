// The activation cache's guarantees: the frozen prefix's output for a sample
// does not depend on its batch (what makes a cached row equal to a recomputed
// one); hits, spilled hits and incremental extensions equal the prefix
// computed now, bitwise; stale entries are dropped; a failing write or a
// corrupted spill file turns the cache off without wrong data.
#include "train/activation_cache.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fcntl.h>
#include <torch/autograd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "train/data/augment.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"

namespace freezing::train {
namespace {

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

// A model with units [0, prefix) frozen; `channels_last_folded`: in
// channels-last memory format with the prefix in its inference form, as the
// trainer runs a ResNet by default.
std::shared_ptr<UnitModel> Model(const std::string& name, int prefix,
                                 const std::string& granularity = "child",
                                 bool channels_last_folded = false) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  at::manual_seed(11);
  ModelConfig mc;
  mc.name = name;
  mc.num_classes = 4;
  mc.granularity = granularity;
  auto m = MakeModel(mc);
  EXPECT_TRUE(m.ok()) << m.status();
  std::shared_ptr<UnitModel> model = *m;
  // Non-trivial BatchNorm statistics, as after some training.
  {
    at::NoGradGuard no_grad;
    model->SetTraining(true);
    model->forward(at::randn({8, 3, 32, 32}));
  }
  for (int u = 0; u < prefix; ++u) model->SetUnitFrozen(u, true);
  if (channels_last_folded) {
    model->SetMemoryFormat(at::MemoryFormat::ChannelsLast);
    for (int u = 0; u < prefix; ++u) model->SetUnitFolded(u, true);
  }
  return model;
}

at::Tensor Images(int64_t n, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n, 3, 32, 32}, gen);
}

// Units [0, end) as the training step runs them: no-grad, frozen units in
// eval mode, the model in training mode.
at::Tensor Prefix(UnitModel& model, const at::Tensor& x, int end) {
  at::NoGradGuard no_grad;
  at::Tensor h = x;
  for (int u = 0; u < end; ++u) h = model.ForwardUnit(u, h);
  return h;
}

std::vector<int64_t> Range(int64_t first, int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(first + i);
  return v;
}

uint64_t ActivationCacheKey(int64_t sample, int variant) {
  uint64_t key = 0;
  EXPECT_TRUE(ActivationCache::Key(sample, variant, &key));
  return key;
}

bool Equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && at::equal(a, b);
}

// --- The property the cache relies on --------------------------------------

struct CompositionCase {
  std::string model;
  std::string granularity;
  int prefix;
  int threads;
  bool channels_last_folded = false;
};

class BatchCompositionTest : public ::testing::TestWithParam<CompositionCase> {
};

TEST_P(BatchCompositionTest, PrefixOutputOfASampleDoesNotDependOnItsBatch) {
  // What the cache relies on: a sample's prefix output computed in a subset
  // of rows padded to ActivationCache::ComputeRows equals the one computed in
  // any full batch. (Unpadded, a single row or, with one thread, fewer than
  // 16 rows through a non-strided 1x1 convolution take libtorch's native
  // convolution instead of oneDNN's and differ by about 1e-6.)
  const CompositionCase& c = GetParam();
  // The MLP's units output one vector per sample: its products are bitwise
  // a batch's only at that batch's row count (OpenBLAS's small-product
  // kernels accumulate in another order), so the cache pads to the batch.
  const bool vector_rows = c.model == "mlp";
  const int saved_threads = at::get_num_threads();
  at::set_num_threads(c.threads);
  auto model = Model(c.model, c.prefix, c.granularity, c.channels_last_folded);
  const at::Tensor images = Images(64, 3);
  for (int64_t batch : {64, 8}) {
    const at::Tensor full = Prefix(*model, images.slice(0, 0, batch), c.prefix);
    std::string report;
    for (int64_t n : {1, 2, 3, 5, 8, 15, 16, 17, 33, 63}) {
      if (n > batch) continue;
      const int64_t rows = ActivationCache::ComputeRows(n, batch, vector_rows);
      EXPECT_GE(rows, n);
      EXPECT_LE(rows, std::max(n, batch));
      // The last n samples of the batch, padded with others.
      const at::Tensor index = at::cat({at::arange(batch - n, batch, at::kLong),
                                        at::arange(0, rows - n, at::kLong)});
      const at::Tensor part =
          Prefix(*model, images.index_select(0, index), c.prefix)
              .slice(0, 0, n);
      const at::Tensor ref = full.slice(0, batch - n, batch);
      if (!at::equal(part, ref)) {
        report += " n=" + std::to_string(n) + ": max diff " +
                  std::to_string((part - ref).abs().max().item<double>());
      }
    }
    EXPECT_TRUE(report.empty()) << "batch " << batch << report;
  }
  // The same batch inside a larger one (not for vector rows: another row
  // count, another BLAS kernel), and in another order.
  const at::Tensor full = Prefix(*model, images.slice(0, 0, 16), c.prefix);
  if (!vector_rows) {
    const at::Tensor larger = at::cat({Images(48, 4), images.slice(0, 0, 16)});
    EXPECT_TRUE(Equal(Prefix(*model, larger, c.prefix).slice(0, 48), full));
  }
  const at::Tensor order =
      at::tensor(std::vector<int64_t>{9, 2, 14, 5, 0, 1, 3, 4, 6, 7, 8, 10, 11,
                                      12, 13, 15},
                 at::kLong);
  EXPECT_TRUE(Equal(Prefix(*model, images.index_select(0, order), c.prefix),
                    full.index_select(0, order)));
  at::set_num_threads(saved_threads);
}

INSTANTIATE_TEST_SUITE_P(
    Models, BatchCompositionTest,
    ::testing::Values(CompositionCase{"resnet_tiny", "child", 4, 1},
                      CompositionCase{"resnet_tiny", "child", 5, 2},
                      CompositionCase{"resnet_tiny", "block", 3, 2},
                      CompositionCase{"resnet18", "child", 4, 1},
                      CompositionCase{"resnet18", "child", 4, 2},
                      CompositionCase{"mlp", "child", 2, 2},
                      CompositionCase{"mlp", "child", 2, 1},
                      CompositionCase{"resnet50", "block", 3, 1},
                      CompositionCase{"resnet50", "block", 3, 2},
                      // Tokens after the embedding and blocks (patchify
                      // convolution, LayerNorm, attention, MLP).
                      CompositionCase{"vit_mini", "child", 3, 1},
                      CompositionCase{"vit_mini", "block", 5, 2},
                      // Channels-last, the prefix folded and prepacked.
                      CompositionCase{"resnet_tiny", "child", 4, 1, true},
                      CompositionCase{"resnet_tiny", "block", 3, 2, true},
                      CompositionCase{"resnet18", "child", 4, 1, true},
                      CompositionCase{"resnet18", "child", 4, 2, true},
                      CompositionCase{"resnet50", "block", 3, 1, true},
                      CompositionCase{"resnet50", "block", 3, 2, true}));

// --- ActivationStore -------------------------------------------------------

std::vector<float> Values(int64_t n, float base) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = base + 0.25f * static_cast<float>(i);
  return v;
}

TEST(ActivationStoreTest, SpillsBeyondTheBudgetAndReadsBackTheSameBytes) {
  ActivationStore::Options o;
  o.memory_budget_bytes = 3 * 100 * sizeof(float);  // three entries
  o.spill_path = TempPath("store.spill");
  ActivationStore store(o);
  for (int k = 0; k < 10; ++k) {
    auto kept = store.Put(k, 2, Values(100, k).data(), 100);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_TRUE(*kept);
  }
  EXPECT_EQ(store.entries(), 10);
  EXPECT_EQ(store.memory_bytes(), 3 * 400);
  EXPECT_EQ(store.spilled_entries(), 7);
  EXPECT_EQ(store.spill_file_bytes(), 7 * 400);
  for (int k = 0; k < 10; ++k) {
    std::vector<float> out(100, -1);
    ASSERT_TRUE(store.Read(k, out.data()).ok());
    EXPECT_EQ(out, Values(100, k)) << "key " << k;
    EXPECT_EQ(store.Find(k), 2);
  }
  // Replacing spilled entries reuses their slots; smaller ones go to memory
  // when it has room.
  store.EraseTagsFrom(2);
  EXPECT_EQ(store.entries(), 0);
  EXPECT_EQ(store.memory_bytes(), 0);
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(store.Put(k, 3, Values(100, -k).data(), 100).ok());
  }
  EXPECT_EQ(store.spill_file_bytes(), 7 * 400);  // no growth
  for (int k = 0; k < 10; ++k) {
    std::vector<float> out(100);
    ASSERT_TRUE(store.Read(k, out.data()).ok());
    EXPECT_EQ(out, Values(100, -k));
  }
  store.Clear();
  EXPECT_NE(::access(o.spill_path.c_str(), F_OK), 0) << "file removed";
}

TEST(ActivationStoreTest, WithoutASpillFileEntriesBeyondTheBudgetAreNotKept) {
  ActivationStore::Options o;
  o.memory_budget_bytes = 400;
  ActivationStore store(o);
  EXPECT_TRUE(*store.Put(1, 0, Values(100, 1).data(), 100));
  EXPECT_FALSE(*store.Put(2, 0, Values(100, 2).data(), 100));
  EXPECT_EQ(store.Find(2), -1);
  EXPECT_EQ(store.entries(), 1);
}

TEST(ActivationStoreTest, ACorruptedSpillFileIsDataLoss) {
  ActivationStore::Options o;
  o.memory_budget_bytes = 0;
  o.spill_path = TempPath("corrupt.spill");
  ActivationStore store(o);
  ASSERT_TRUE(store.Put(5, 1, Values(64, 5).data(), 64).ok());
  ASSERT_TRUE(store.Put(6, 1, Values(64, 6).data(), 64).ok());
  {
    const int fd = ::open(o.spill_path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const char byte = 0x5A;
    ASSERT_EQ(::pwrite(fd, &byte, 1, 3), 1);   // inside the first entry
    ASSERT_EQ(::ftruncate(fd, 256 + 100), 0);  // and the second is cut
    ::close(fd);
  }
  std::vector<float> out(64);
  EXPECT_EQ(store.Read(5, out.data()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store.Read(6, out.data()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store.Read(7, out.data()).code(), absl::StatusCode::kNotFound);
}

TEST(ActivationStoreTest, AFailingWriteLeavesNoEntry) {
  int calls = 0;
  ActivationStore::Options o;
  o.memory_budget_bytes = 0;
  o.spill_path = TempPath("failing.spill");
  o.spill_write = [&calls](int fd, const void* data, size_t n, off_t off) {
    if (++calls >= 2) {
      errno = ENOSPC;
      return ssize_t{-1};
    }
    return ::pwrite(fd, data, n, off);
  };
  ActivationStore store(o);
  ASSERT_TRUE(store.Put(1, 0, Values(10, 1).data(), 10).ok());
  auto s = store.Put(2, 0, Values(10, 2).data(), 10);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("No space left"), std::string::npos)
      << s.status();
  EXPECT_EQ(store.Find(2), -1);
  EXPECT_EQ(store.Find(1), 0);
}

TEST(ActivationStoreTest, AShortWriteIsFinishedNotTruncated) {
  ActivationStore::Options o;
  o.memory_budget_bytes = 0;
  o.spill_path = TempPath("short.spill");
  o.spill_write = [](int fd, const void* data, size_t n, off_t off) {
    return ::pwrite(fd, data, std::min<size_t>(n, 7), off);  // 7 bytes a call
  };
  ActivationStore store(o);
  ASSERT_TRUE(store.Put(1, 0, Values(50, 1).data(), 50).ok());
  std::vector<float> out(50);
  ASSERT_TRUE(store.Read(1, out.data()).ok());
  EXPECT_EQ(out, Values(50, 1));
}

// --- ActivationCache -------------------------------------------------------

struct Harness {
  std::shared_ptr<UnitModel> model;
  std::unique_ptr<ActivationCache> cache;
  std::vector<std::string> warnings;
};

std::unique_ptr<Harness> MakeHarness(const std::string& model_name, int prefix,
                                     int64_t budget, const std::string& spill,
                                     SpillWriteFn write = nullptr) {
  auto h = std::make_unique<Harness>();
  h->model = Model(model_name, prefix);
  ActivationCacheOptions o;
  o.memory_budget_bytes = budget;
  o.spill_path = spill;
  o.spill_write = std::move(write);
  Harness* raw = h.get();
  o.warn = [raw](const std::string& w) { raw->warnings.push_back(w); };
  auto cache = ActivationCache::Create(h->model.get(), o);
  EXPECT_TRUE(cache.ok()) << cache.status();
  h->cache = std::move(*cache);
  h->cache->SetPrefix(prefix);
  return h;
}

// One step's worth of cache use, as the trainer does it: Prepare, run the
// step from what it returns (here: the prefix only) and Store on a full miss.
// Returns the boundary activation the step would continue from.
at::Tensor Use(Harness& h, const std::vector<int64_t>& samples,
               const std::vector<int>& variants, const at::Tensor& images,
               CacheStepStats* stats = nullptr) {
  PreparedInput p = h.cache->Prepare(samples, variants, images);
  const int prefix = h.cache->prefix();
  at::Tensor act;
  if (p.start_unit == 0) {
    act = Prefix(*h.model, p.input, prefix);
    if (p.store_prefix_output) h.cache->Store(samples, variants, act, &p.stats);
  } else {
    EXPECT_EQ(p.start_unit, prefix);
    act = p.input;
  }
  if (stats != nullptr) *stats = p.stats;
  return act;
}

TEST(ActivationCacheTest, WarmHitsEqualThePrefixComputedNow) {
  const int64_t per_sample =
      Prefix(*Model("resnet_tiny", 4), Images(2, 1), 4)[0].numel() * 4;
  for (int64_t budget : {int64_t{1} << 30, int64_t{0}, 3 * per_sample}) {
    SCOPED_TRACE(budget);
    auto h = MakeHarness("resnet_tiny", 4, budget, TempPath("warm.spill"));
    const at::Tensor images = Images(8, 21);
    const std::vector<int> variants(8, 0);
    CacheStepStats s;
    const at::Tensor first = Use(*h, Range(100, 8), variants, images, &s);
    EXPECT_EQ(s.misses, 8);
    EXPECT_EQ(s.hits, 0);
    EXPECT_GT(s.bytes_written, 0);
    EXPECT_EQ(s.boundary_unit, 3);
    // The same samples in another order: all hits, read from memory or from
    // the spill file, equal to the prefix computed now.
    const at::Tensor perm =
        at::tensor(std::vector<int64_t>{3, 1, 7, 0, 2, 6, 5, 4}, at::kLong);
    std::vector<int64_t> samples;
    for (int i = 0; i < 8; ++i)
      samples.push_back(100 + perm[i].item<int64_t>());
    const at::Tensor shuffled = images.index_select(0, perm);
    const at::Tensor hit = Use(*h, samples, variants, shuffled, &s);
    EXPECT_EQ(s.hits, 8);
    EXPECT_EQ(s.misses, 0);
    EXPECT_EQ(s.bytes_read, hit.numel() * 4);
    EXPECT_TRUE(Equal(hit, Prefix(*h->model, shuffled, 4)));
    EXPECT_TRUE(Equal(hit, first.index_select(0, perm)));
    if (budget == 0) {
      EXPECT_EQ(h->cache->store().spilled_entries(), 8);
    }
    if (budget == 3 * per_sample) {
      EXPECT_EQ(h->cache->store().spilled_entries(), 5);
    }
    EXPECT_TRUE(h->warnings.empty());
  }
}

TEST(ActivationCacheTest, ChannelsLastFoldedRowsComeBackInTheirFormat) {
  // Rows are kept per sample in the activation's memory format, hits and
  // carried entries equal the folded prefix computed now, bitwise.
  for (int64_t budget : {int64_t{1} << 30, int64_t{0}}) {
    auto model = Model("resnet_tiny", 2, "child", true);
    ActivationCacheOptions o;
    o.memory_budget_bytes = budget;
    o.spill_path = TempPath("cl.spill");
    auto cache = ActivationCache::Create(model.get(), o);
    ASSERT_TRUE(cache.ok()) << cache.status();
    (*cache)->SetPrefix(2);
    const at::Tensor images = Images(8, 31);
    const std::vector<int> variants(8, 0);
    PreparedInput p = (*cache)->Prepare(Range(0, 8), variants, images);
    ASSERT_TRUE(p.store_prefix_output);
    const at::Tensor act = Prefix(*model, images, 2);
    ASSERT_TRUE(act.is_contiguous(at::MemoryFormat::ChannelsLast));
    (*cache)->Store(Range(0, 8), variants, act, &p.stats);
    p = (*cache)->Prepare(Range(0, 8), variants, images);
    EXPECT_EQ(p.stats.hits, 8);
    EXPECT_TRUE(p.input.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(Equal(p.input, act));
    // Two more units freeze (and fold): entries are carried through them.
    for (int u = 2; u < 4; ++u) {
      model->SetUnitFrozen(u, true);
      model->SetUnitFolded(u, true);
    }
    (*cache)->SetPrefix(4);
    p = (*cache)->Prepare(Range(0, 8), variants, images);
    EXPECT_EQ(p.stats.extended, 8);
    EXPECT_TRUE(Equal(p.input, Prefix(*model, images, 4)));
  }
}

TEST(ActivationCacheTest, MixedBatchesComputeOnlyTheMisses) {
  auto h = MakeHarness("resnet_tiny", 3, 1 << 30, TempPath("mixed.spill"));
  const at::Tensor images = Images(8, 22);
  const std::vector<int> variants(8, 1);
  Use(*h, Range(0, 4), {1, 1, 1, 1}, images.slice(0, 0, 4));
  CacheStepStats s;
  const at::Tensor act = Use(*h, Range(0, 8), variants, images, &s);
  EXPECT_EQ(s.hits, 4);
  EXPECT_EQ(s.misses, 4);
  EXPECT_TRUE(Equal(act, Prefix(*h->model, images, 3)));
  // Now everything is cached.
  Use(*h, Range(0, 8), variants, images, &s);
  EXPECT_EQ(s.hits, 8);
  // Another variant of the same samples is another key.
  Use(*h, Range(0, 8), std::vector<int>(8, 2), images, &s);
  EXPECT_EQ(s.misses, 8);
}

TEST(ActivationCacheTest, FreshAugmentationsAreNeverCached) {
  auto h = MakeHarness("resnet_tiny", 3, 1 << 30, "");
  const at::Tensor images = Images(4, 23);
  std::vector<int> variants = {0, kFreshVariant, 0, 0};
  for (int round = 0; round < 2; ++round) {
    PreparedInput p = h->cache->Prepare(Range(0, 4), variants, images);
    EXPECT_EQ(p.start_unit, 0);
    EXPECT_FALSE(p.store_prefix_output);
    EXPECT_EQ(p.stats.boundary_unit, -1);
  }
  EXPECT_EQ(h->cache->store().entries(), 0);
}

TEST(ActivationCacheTest, IncrementalExtensionEqualsDirectComputation) {
  auto h = MakeHarness("resnet_tiny", 2, 1 << 30, TempPath("ext.spill"));
  const at::Tensor images = Images(8, 24);
  const std::vector<int> variants(8, 0);
  Use(*h, Range(0, 8), variants, images);  // boundary unit 1
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(0, 0)), 1);

  // Two more units freeze: the next use carries the cached unit-1 outputs
  // through units 2 and 3 (it never touches unit 0 or 1).
  for (int u = 2; u < 4; ++u) h->model->SetUnitFrozen(u, true);
  h->cache->SetPrefix(4);
  PreparedInput p = h->cache->Prepare(Range(0, 8), variants, images);
  EXPECT_EQ(p.start_unit, 4);
  EXPECT_EQ(p.stats.hits, 8);
  EXPECT_EQ(p.stats.extended, 8);
  EXPECT_EQ(p.stats.misses, 0);
  EXPECT_EQ(p.unit_forward_ns[0], 0);
  EXPECT_EQ(p.unit_forward_ns[1], 0);
  EXPECT_GT(p.unit_forward_ns[2], 0);
  EXPECT_GT(p.unit_forward_ns[3], 0);
  EXPECT_TRUE(Equal(p.input, Prefix(*h->model, images, 4)));
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(5, 0)), 3);
  // And now they are plain hits at the new boundary.
  CacheStepStats s;
  const at::Tensor again = Use(*h, Range(0, 8), variants, images, &s);
  EXPECT_EQ(s.hits, 8);
  EXPECT_EQ(s.extended, 0);
  EXPECT_TRUE(Equal(again, Prefix(*h->model, images, 4)));
}

TEST(ActivationCacheTest, AChangedFrozenUnitDropsItsEntries) {
  auto h = MakeHarness("resnet_tiny", 4, 1 << 30, "");
  const at::Tensor images = Images(4, 25);
  const std::vector<int> variants(4, 0);
  Use(*h, Range(0, 4), variants, images);
  CacheStepStats s;
  Use(*h, Range(0, 4), variants, images, &s);
  ASSERT_EQ(s.hits, 4);
  h->cache->Revalidate();  // nothing changed: entries stay
  Use(*h, Range(0, 4), variants, images, &s);
  EXPECT_EQ(s.hits, 4);

  // Another rank's BatchNorm statistics arrive in a frozen unit (what
  // evaluation's buffer broadcast does): the entries are stale.
  {
    at::NoGradGuard no_grad;
    for (const auto& item : h->model->named_buffers()) {
      if (item.key().find("running_mean") != std::string::npos) {
        item.value().add_(0.5);
        break;
      }
    }
  }
  h->cache->Revalidate();
  EXPECT_EQ(h->cache->store().entries(), 0);
  const at::Tensor act = Use(*h, Range(0, 4), variants, images, &s);
  EXPECT_EQ(s.misses, 4);
  EXPECT_TRUE(Equal(act, Prefix(*h->model, images, 4)));
}

TEST(ActivationCacheTest, UnfreezingDropsEntriesBeyondTheNewPrefix) {
  auto h = MakeHarness("resnet_tiny", 2, 1 << 30, "");
  const at::Tensor images = Images(4, 26);
  const std::vector<int> variants(4, 0);
  Use(*h, Range(0, 2), {0, 0}, images.slice(0, 0, 2));  // unit 1
  for (int u = 2; u < 4; ++u) h->model->SetUnitFrozen(u, true);
  h->cache->SetPrefix(4);
  Use(*h, Range(2, 2), {0, 0}, images.slice(0, 2, 4));  // unit 3
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(0, 0)), 1);
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(2, 0)), 3);

  h->model->SetUnitFrozen(3, false);
  h->model->SetUnitFrozen(2, false);
  h->cache->SetPrefix(2);
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(0, 0)), 1);
  EXPECT_EQ(h->cache->store().Find(ActivationCacheKey(2, 0)), -1);
  CacheStepStats s;
  const at::Tensor act = Use(*h, Range(0, 4), variants, images, &s);
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.misses, 2);
  EXPECT_TRUE(Equal(act, Prefix(*h->model, images, 2)));
}

TEST(ActivationCacheTest, AFailingWriteTurnsTheCacheOffWithoutWrongData) {
  int writes = 0;
  auto h =
      MakeHarness("resnet_tiny", 4, 0, TempPath("fail.spill"),
                  [&writes](int fd, const void* data, size_t n, off_t off) {
                    if (++writes > 6) {
                      errno = EIO;
                      return ssize_t{-1};
                    }
                    return ::pwrite(fd, data, n, off);
                  });
  const at::Tensor images = Images(8, 27);
  const std::vector<int> variants(8, 0);
  CacheStepStats s;
  Use(*h, Range(0, 8), variants, images, &s);  // the 7th write fails
  EXPECT_TRUE(s.disabled);
  EXPECT_TRUE(h->cache->disabled());
  ASSERT_EQ(h->warnings.size(), 1u);
  EXPECT_NE(h->warnings[0].find("Input/output error"), std::string::npos)
      << h->warnings[0];
  EXPECT_EQ(h->cache->store().entries(), 0);
  EXPECT_NE(::access(TempPath("fail.spill").c_str(), F_OK), 0);
  // From now on every step runs from the images.
  for (int round = 0; round < 2; ++round) {
    PreparedInput p = h->cache->Prepare(Range(0, 8), variants, images);
    EXPECT_EQ(p.start_unit, 0);
    EXPECT_TRUE(p.input.is_same(images));
    EXPECT_FALSE(p.store_prefix_output);
    EXPECT_TRUE(p.stats.disabled);
  }
  EXPECT_EQ(h->warnings.size(), 1u);
}

TEST(ActivationCacheTest, AFullDiskTurnsTheCacheOffMidBatch) {
  // /dev/full accepts the open and fails every write with ENOSPC. Memory
  // holds four samples.
  const int64_t per_sample =
      Prefix(*Model("resnet_tiny", 3), Images(2, 1), 3)[0].numel() * 4;
  auto h = MakeHarness("resnet_tiny", 3, 4 * per_sample, "/dev/full");
  const at::Tensor images = Images(8, 28);
  const std::vector<int> variants(8, 0);
  Use(*h, Range(0, 4), {0, 0, 0, 0}, images.slice(0, 0, 4));
  ASSERT_FALSE(h->cache->disabled());  // in memory so far
  // A mixed batch: its input is complete and exact although storing its
  // misses fails.
  PreparedInput p = h->cache->Prepare(Range(0, 8), variants, images);
  EXPECT_TRUE(h->cache->disabled());
  EXPECT_TRUE(p.stats.disabled);
  ASSERT_EQ(p.start_unit, 3);
  EXPECT_TRUE(Equal(p.input, Prefix(*h->model, images, 3)));
  ASSERT_EQ(h->warnings.size(), 1u);
  EXPECT_NE(h->warnings[0].find("No space left on device"), std::string::npos)
      << h->warnings[0];
}

TEST(ActivationCacheTest, ACorruptedSpillFileTurnsTheCacheOff) {
  const std::string path = TempPath("corrupt_cache.spill");
  auto h = MakeHarness("resnet_tiny", 3, 0, path);
  const at::Tensor images = Images(4, 29);
  const std::vector<int> variants(4, 0);
  Use(*h, Range(0, 4), variants, images);
  {
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const float bad = 1e9f;
    ASSERT_EQ(::pwrite(fd, &bad, sizeof(bad), 16), 4);
    ::close(fd);
  }
  PreparedInput p = h->cache->Prepare(Range(0, 4), variants, images);
  EXPECT_EQ(p.start_unit, 0);  // the step runs from the images
  EXPECT_TRUE(p.input.is_same(images));
  EXPECT_TRUE(h->cache->disabled());
  ASSERT_EQ(h->warnings.size(), 1u);
  EXPECT_NE(h->warnings[0].find("checksum"), std::string::npos);
}

TEST(ActivationCacheTest, ForwardSavedCountsTheSkippedUnits) {
  auto h = MakeHarness("resnet_tiny", 3, 1 << 30, "");
  h->cache->SetForwardCost({100, 20, 3, 1000, 1000, 1000});
  const at::Tensor images = Images(4, 30);
  const std::vector<int> variants(4, 0);
  CacheStepStats s;
  Use(*h, Range(0, 4), variants, images, &s);
  EXPECT_EQ(s.forward_saved_ns, 0);
  Use(*h, Range(0, 4), variants, images, &s);
  EXPECT_EQ(s.forward_saved_ns, 4 * 123);
}

}  // namespace
}  // namespace freezing::train
