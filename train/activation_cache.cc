#include "train/activation_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <torch/autograd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/crc32c.h"
#include "base/status_macros.h"

namespace freezing::train {
namespace {

using base::NowNs;

std::string ErrnoText(int err) { return std::strerror(err); }

// Module path of a parameter or buffer name: "layer1.0.bn1.weight" ->
// "layer1.0.bn1".
std::string ModulePath(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(0, dot);
}

}  // namespace

// ---------------------------------------------------------------------------
// ActivationStore

ActivationStore::ActivationStore(Options options)
    : options_(std::move(options)) {
  if (!options_.spill_write) options_.spill_write = ::pwrite;
}

ActivationStore::~ActivationStore() { Clear(); }

int ActivationStore::Find(uint64_t key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : it->second.tag;
}

int64_t ActivationStore::Elements(uint64_t key) const {
  auto it = index_.find(key);
  return it == index_.end() ? 0 : it->second.elements;
}

void ActivationStore::Release(Entry& e) {
  const int64_t bytes = e.elements * static_cast<int64_t>(sizeof(float));
  if (e.memory != nullptr) {
    e.memory.reset();
    memory_bytes_ -= bytes;
  } else {
    free_slots_[bytes].push_back(e.offset);
    spilled_bytes_ -= bytes;
    --spilled_entries_;
  }
}

absl::Status ActivationStore::OpenSpill() {
  if (fd_ >= 0) return absl::OkStatus();
  fd_ = ::open(options_.spill_path.c_str(),
               O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the activation spill file ",
                     options_.spill_path, ": ", ErrnoText(errno)));
  }
  file_end_ = 0;
  return absl::OkStatus();
}

absl::Status ActivationStore::WriteSpill(const void* data, int64_t bytes,
                                         int64_t offset) {
  const char* p = static_cast<const char*>(data);
  int64_t done = 0;
  while (done < bytes) {
    const ssize_t n =
        options_.spill_write(fd_, p + done, static_cast<size_t>(bytes - done),
                             static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      const std::string what =
          n < 0 ? ErrnoText(err) : std::string("the write made no progress");
      const std::string msg =
          absl::StrCat("writing ", bytes, " bytes at offset ", offset,
                       " of the activation spill file ", options_.spill_path,
                       " failed: ", what);
      return err == ENOSPC || err == EFBIG || err == EDQUOT
                 ? absl::ResourceExhaustedError(msg)
                 : absl::InternalError(msg);
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status ActivationStore::Read(uint64_t key, float* out) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no cached activation for key ", key));
  }
  const Entry& e = it->second;
  const int64_t bytes = e.elements * static_cast<int64_t>(sizeof(float));
  if (e.memory != nullptr) {
    std::memcpy(out, e.memory.get(), static_cast<size_t>(bytes));
    return absl::OkStatus();
  }
  char* p = reinterpret_cast<char*>(out);
  int64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd_, p + done, static_cast<size_t>(bytes - done),
                              static_cast<off_t>(e.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("reading the activation spill file ",
                       options_.spill_path, " failed: ", ErrnoText(errno)));
    }
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("the activation spill file ", options_.spill_path,
                       " ends at ", e.offset + done, ", inside an entry of ",
                       bytes, " bytes at ", e.offset));
    }
    done += n;
  }
  if (base::ExtendCrc32c(0, out, static_cast<size_t>(bytes)) != e.crc) {
    return absl::DataLossError(absl::StrCat(
        "checksum mismatch in the activation spill file ", options_.spill_path,
        " (entry of ", bytes, " bytes at ", e.offset, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ActivationStore::Put(uint64_t key, int tag,
                                          const float* data, int64_t elements) {
  const int64_t bytes = elements * static_cast<int64_t>(sizeof(float));
  Entry& e = index_[key];
  // Reuse the memory of an entry of the same size in place.
  if (e.memory != nullptr && e.elements == elements) {
    std::memcpy(e.memory.get(), data, static_cast<size_t>(bytes));
    e.tag = tag;
    return true;
  }
  if (e.tag >= 0) Release(e);
  e.tag = tag;
  e.elements = elements;
  if (memory_bytes_ + bytes <= options_.memory_budget_bytes) {
    e.memory.reset(new float[static_cast<size_t>(elements)]);
    std::memcpy(e.memory.get(), data, static_cast<size_t>(bytes));
    memory_bytes_ += bytes;
    return true;
  }
  if (options_.spill_path.empty()) {
    index_.erase(key);
    return false;
  }
  absl::Status s = OpenSpill();
  int64_t offset = file_end_;
  std::vector<int64_t>* slots = nullptr;
  if (s.ok()) {
    auto fs = free_slots_.find(bytes);
    if (fs != free_slots_.end() && !fs->second.empty()) {
      slots = &fs->second;
      offset = slots->back();
    }
    s = WriteSpill(data, bytes, offset);
  }
  if (!s.ok()) {
    index_.erase(key);
    return s;
  }
  if (slots != nullptr) {
    slots->pop_back();
  } else {
    file_end_ += bytes;
  }
  e.offset = offset;
  e.crc = base::ExtendCrc32c(0, data, static_cast<size_t>(bytes));
  spilled_bytes_ += bytes;
  ++spilled_entries_;
  return true;
}

void ActivationStore::EraseTagsFrom(int tag) {
  for (auto it = index_.begin(); it != index_.end();) {
    if (it->second.tag >= tag) {
      Release(it->second);
      index_.erase(it++);
    } else {
      ++it;
    }
  }
}

void ActivationStore::Clear() {
  index_.clear();
  free_slots_.clear();
  memory_bytes_ = 0;
  spilled_bytes_ = 0;
  spilled_entries_ = 0;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(options_.spill_path.c_str());
  }
  file_end_ = 0;
}

// ---------------------------------------------------------------------------
// ActivationCache

namespace {

ActivationStore::Options StoreOptions(const ActivationCacheOptions& o) {
  ActivationStore::Options s;
  s.memory_budget_bytes = o.memory_budget_bytes;
  s.spill_path = o.spill_path;
  s.spill_write = o.spill_write;
  return s;
}

}  // namespace

ActivationCache::ActivationCache(UnitModel* model,
                                 ActivationCacheOptions options)
    : model_(model),
      options_(std::move(options)),
      store_(StoreOptions(options_)) {}

ActivationCache::~ActivationCache() = default;

absl::StatusOr<std::unique_ptr<ActivationCache>> ActivationCache::Create(
    UnitModel* model, ActivationCacheOptions options) {
  if (options.memory_budget_bytes < 0) {
    return absl::InvalidArgumentError("the cache's memory budget is negative");
  }
  std::unique_ptr<ActivationCache> cache(
      new ActivationCache(model, std::move(options)));
  const int units = model->num_units();
  cache->unit_state_.resize(units);
  cache->fingerprint_.assign(units, 0);
  cache->fingerprinted_.assign(units, false);
  cache->sample_shape_.resize(units);
  cache->sample_format_.assign(units, at::MemoryFormat::Contiguous);
  cache->forward_cost_.assign(units, 0.0);
  // Parameters by index; buffers by the module they belong to (a buffer
  // belongs to the unit that owns a parameter of the same module). A buffer
  // no unit claims is charged to unit 0, so a change of it drops everything.
  const std::vector<at::Tensor> params = model->parameters();
  const std::vector<std::string> param_names = model->parameter_names();
  std::map<std::string, int> module_unit;
  for (int u = 0; u < units; ++u) {
    for (int p : model->unit(u).params) {
      cache->unit_state_[u].push_back(params[p]);
      module_unit[ModulePath(param_names[p])] = u;
    }
  }
  const std::vector<at::Tensor> buffers = model->buffers();
  const std::vector<std::string> buffer_names = model->buffer_names();
  for (size_t b = 0; b < buffers.size() && b < buffer_names.size(); ++b) {
    auto it = module_unit.find(ModulePath(buffer_names[b]));
    cache->unit_state_[it == module_unit.end() ? 0 : it->second].push_back(
        buffers[b]);
  }
  return cache;
}

bool ActivationCache::Key(int64_t sample, int variant, uint64_t* key) {
  if (sample < 0 || sample >= (int64_t{1} << 47) || variant < 0 ||
      variant > 0xFFFF) {
    return false;
  }
  *key = (static_cast<uint64_t>(sample) << 16) | static_cast<uint64_t>(variant);
  return true;
}

void ActivationCache::Disable(const std::string& reason) {
  if (disabled_) return;
  disabled_ = true;
  disabled_reason_ = reason;
  store_.Clear();
  if (options_.warn) {
    options_.warn(absl::StrCat(
        "activation cache turned off, training goes on without it: ", reason));
  }
}

uint64_t ActivationCache::Fingerprint(int unit) const {
  // 64-bit multiply-xorshift over the raw bytes of every tensor (with its
  // size), so any change of a value changes the fingerprint (barring a 2^-64
  // collision).
  uint64_t h = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(unit);
  auto mix = [&h](uint64_t w) {
    h ^= w;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  };
  for (const at::Tensor& t : unit_state_[unit]) {
    const at::Tensor c = t.detach().contiguous();
    const int64_t bytes = c.numel() * static_cast<int64_t>(c.element_size());
    mix(static_cast<uint64_t>(bytes));
    const char* p = static_cast<const char*>(c.data_ptr());
    int64_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      mix(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, static_cast<size_t>(bytes - i));
    mix(tail);
  }
  return h;
}

void ActivationCache::SetPrefix(int prefix) {
  const int units = model_->num_units();
  prefix = std::max(0, std::min(prefix, units));
  if (disabled_) {
    prefix_ = prefix;
    return;
  }
  // First unit whose content changed since it entered the prefix.
  int changed = units;
  std::vector<uint64_t> now(prefix);
  for (int u = 0; u < prefix; ++u) {
    now[u] = Fingerprint(u);
    if (fingerprinted_[u] && now[u] != fingerprint_[u]) {
      changed = std::min(changed, u);
    }
  }
  // Entries computed through a unit outside the new prefix, or through a
  // changed one, are stale.
  store_.EraseTagsFrom(std::min(changed, prefix));
  for (int u = 0; u < units; ++u) {
    fingerprinted_[u] = u < prefix;
    fingerprint_[u] = u < prefix ? now[u] : 0;
  }
  prefix_ = prefix;
}

void ActivationCache::SetForwardCost(std::vector<double> ns_per_sample) {
  ns_per_sample.resize(model_->num_units(), 0.0);
  forward_cost_ = std::move(ns_per_sample);
}

int64_t ActivationCache::ComputeRows(int64_t n, int64_t batch,
                                     bool vector_rows) {
  if (vector_rows) return std::max(n, batch);
  // Mirrors ConvParams::use_mkldnn in libtorch 1.13
  // (aten/src/ATen/native/Convolution.cpp): oneDNN for every float
  // convolution once the batch has at least 16 rows; below, 1x1 stride-1
  // convolutions on one thread and 3x3 ones on a single row go native.
  constexpr int64_t kAllOneDnnRows = 16;
  return std::max(n, std::min(batch, kAllOneDnnRows));
}

bool ActivationCache::VectorRows(int begin, int end) const {
  for (int u = begin; u < end; ++u) {
    if (sample_shape_[u].size() <= 1) return true;
  }
  return false;
}

at::Tensor ActivationCache::RunUnits(at::Tensor x, int begin, int end,
                                     int64_t batch,
                                     std::vector<int64_t>& unit_ns) {
  at::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const int64_t rows = ComputeRows(n, batch, VectorRows(begin, end));
  if (rows > n) {
    x = at::cat(
        {x, x.index_select(0, at::arange(rows - n, at::kLong).remainder(n))});
  }
  for (int u = begin; u < end; ++u) {
    const int64_t t0 = NowNs();
    x = model_->ForwardUnit(u, x);
    unit_ns[u] += NowNs() - t0;
    if (sample_shape_[u].empty()) {
      sample_shape_[u] = x.sizes().slice(1).vec();
      sample_format_[u] = RowFormat(x);
    }
  }
  return rows > n ? x.slice(0, 0, n) : x;
}

absl::Status ActivationCache::PutRows(const std::vector<uint64_t>& keys,
                                      const at::Tensor& rows,
                                      CacheStepStats* stats) {
  // Rows in the activation's own memory format (channels-last: each sample's
  // [H, W, C] block), so that reading them back needs no conversion.
  const at::Tensor c = rows.contiguous(sample_format_[prefix_ - 1]);
  if (c.scalar_type() != at::kFloat) {
    return absl::InternalError("the prefix output is not float32");
  }
  const int64_t n = c.size(0);
  const int64_t per = n > 0 ? c.numel() / n : 0;
  const float* data = c.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(bool kept, store_.Put(keys[static_cast<size_t>(i)],
                                           prefix_ - 1, data + i * per, per));
    if (kept) stats->bytes_written += per * static_cast<int64_t>(sizeof(float));
  }
  return absl::OkStatus();
}

// A batch's rows by what the cache holds for them.
struct ActivationCache::BatchRows {
  std::vector<uint64_t> keys;                 // per row
  std::vector<int64_t> hits;                  // entries at the boundary
  std::map<int, std::vector<int64_t>> older;  // by older boundary
  std::vector<int64_t> misses;
};

bool ActivationCache::Classify(const std::vector<int64_t>& samples,
                               const std::vector<int>& variants,
                               BatchRows& rows) const {
  const int boundary = prefix_ - 1;
  rows.keys.resize(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!Key(samples[i], variants[i], &rows.keys[i])) return false;
    const int tag = store_.Find(rows.keys[i]);
    const int64_t row = static_cast<int64_t>(i);
    if (tag == boundary) {
      rows.hits.push_back(row);
    } else if (tag >= 0 && tag < boundary) {
      rows.older[tag].push_back(row);
    } else {
      rows.misses.push_back(row);
    }
  }
  return true;
}

absl::Status ActivationCache::ReadRow(uint64_t key, int64_t per,
                                      const std::string& of_unit, float* dst,
                                      CacheStepStats* stats) {
  if (store_.Elements(key) != per) {
    return absl::InternalError(absl::StrCat("a cached activation", of_unit,
                                            " has ", store_.Elements(key),
                                            " elements, expected ", per));
  }
  RETURN_IF_ERROR(store_.Read(key, dst));
  stats->bytes_read += per * static_cast<int64_t>(sizeof(float));
  return absl::OkStatus();
}

absl::StatusOr<at::Tensor> ActivationCache::ReadRows(
    const std::vector<uint64_t>& keys, const std::vector<int64_t>& rows,
    int tag, CacheStepStats* stats) {
  at::Tensor t = EmptyRows(tag, static_cast<int64_t>(rows.size()));
  const int64_t per = t.numel() / static_cast<int64_t>(rows.size());
  float* dst = t.data_ptr<float>();
  const std::string of_unit = absl::StrCat(" of unit ", tag);
  for (size_t j = 0; j < rows.size(); ++j) {
    RETURN_IF_ERROR(ReadRow(keys[static_cast<size_t>(rows[j])], per, of_unit,
                            dst + j * per, stats));
  }
  return t;
}

at::MemoryFormat ActivationCache::RowFormat(const at::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() &&
                 t.is_contiguous(at::MemoryFormat::ChannelsLast)
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

at::Tensor ActivationCache::EmptyRows(int unit, int64_t rows) const {
  std::vector<int64_t> shape = {rows};
  shape.insert(shape.end(), sample_shape_[unit].begin(),
               sample_shape_[unit].end());
  return at::empty(shape, at::TensorOptions()
                              .dtype(at::kFloat)
                              .memory_format(sample_format_[unit]));
}

double ActivationCache::SavedNs(int through) const {
  double ns = 0;
  for (int u = 0; u <= through; ++u) ns += forward_cost_[u];
  return ns;
}

// Rows computed here (entries of older boundaries carried on, misses run
// from the images), as (rows, activations at the boundary); adds the
// forward time the carried entries saved to `saved`.
absl::StatusOr<std::vector<ActivationCache::Computed>>
ActivationCache::ComputeRowsAtBoundary(const BatchRows& rows,
                                       const at::Tensor& images, int64_t batch,
                                       PreparedInput& p, double& saved) {
  std::vector<Computed> computed;
  for (const auto& [tag, older] : rows.older) {
    ASSIGN_OR_RETURN(at::Tensor old, ReadRows(rows.keys, older, tag, &p.stats));
    computed.emplace_back(
        older, RunUnits(old, tag + 1, prefix_, batch, p.unit_forward_ns));
    p.stats.hits += static_cast<int64_t>(older.size());
    p.stats.extended += static_cast<int64_t>(older.size());
    saved += SavedNs(tag) * static_cast<double>(older.size());
  }
  if (!rows.misses.empty()) {
    at::Tensor index = at::tensor(rows.misses, at::kLong);
    computed.emplace_back(
        rows.misses, RunUnits(images.index_select(0, index), 0, prefix_, batch,
                              p.unit_forward_ns));
    p.stats.misses += static_cast<int64_t>(rows.misses.size());
  }
  return computed;
}

absl::Status ActivationCache::Assemble(const BatchRows& rows,
                                       const at::Tensor& images,
                                       PreparedInput& p) {
  const int boundary = prefix_ - 1;
  const int64_t batch = static_cast<int64_t>(rows.keys.size());
  double saved = 0;
  ASSIGN_OR_RETURN(std::vector<Computed> computed,
                   ComputeRowsAtBoundary(rows, images, batch, p, saved));
  // The batch at the boundary: hits read in place, computed rows copied.
  at::Tensor out = EmptyRows(boundary, batch);
  const int64_t per = out.numel() / batch;
  float* dst = out.data_ptr<float>();
  for (int64_t i : rows.hits) {
    RETURN_IF_ERROR(ReadRow(rows.keys[static_cast<size_t>(i)], per, "",
                            dst + i * per, &p.stats));
  }
  p.stats.hits += static_cast<int64_t>(rows.hits.size());
  saved += SavedNs(boundary) * static_cast<double>(rows.hits.size());
  for (const auto& [computed_rows, act] : computed) {
    out.index_copy_(0, at::tensor(computed_rows, at::kLong), act);
  }
  p.stats.forward_saved_ns = static_cast<int64_t>(saved);
  p.input = out;
  p.start_unit = prefix_;
  // Keep what was computed. A failing write turns the cache off; this step's
  // input is already complete and correct.
  for (const auto& [computed_rows, act] : computed) {
    std::vector<uint64_t> keys;
    for (int64_t i : computed_rows) {
      keys.push_back(rows.keys[static_cast<size_t>(i)]);
    }
    absl::Status s = PutRows(keys, act, &p.stats);
    if (!s.ok()) {
      Disable(std::string(s.message()));
      p.stats.disabled = true;
      break;
    }
  }
  return absl::OkStatus();
}

PreparedInput ActivationCache::Prepare(const std::vector<int64_t>& samples,
                                       const std::vector<int>& variants,
                                       const at::Tensor& images) {
  const int64_t t0 = NowNs();
  const int units = model_->num_units();
  PreparedInput p;
  p.input = images;
  p.unit_forward_ns.assign(units, 0);
  p.stats.disabled = disabled_;
  const int64_t batch = static_cast<int64_t>(samples.size());
  if (disabled_ || prefix_ == 0 || batch == 0 ||
      variants.size() != samples.size()) {
    p.ns = NowNs() - t0;
    return p;
  }
  p.stats.boundary_unit = prefix_ - 1;
  BatchRows rows;
  if (!Classify(samples, variants, rows)) {
    // An uncacheable sample (fresh augmentation): run the whole batch from
    // the images and keep nothing.
    p.stats.boundary_unit = -1;
    p.ns = NowNs() - t0;
    return p;
  }
  if (static_cast<int64_t>(rows.misses.size()) == batch) {
    p.store_prefix_output = true;
    p.stats.misses = batch;
    p.ns = NowNs() - t0;
    return p;
  }
  absl::Status s;
  try {
    s = Assemble(rows, images, p);
  } catch (const c10::Error& e) {
    s = absl::InternalError(
        absl::StrCat("libtorch error in the activation cache: ",
                     e.what_without_backtrace()));
  }
  if (!s.ok()) {
    // The step runs from the images.
    Disable(std::string(s.message()));
    PreparedInput q;
    q.input = images;
    q.unit_forward_ns.assign(units, 0);
    q.stats.disabled = true;
    q.ns = NowNs() - t0;
    return q;
  }
  p.ns = NowNs() - t0;
  return p;
}

void ActivationCache::Store(const std::vector<int64_t>& samples,
                            const std::vector<int>& variants,
                            const at::Tensor& prefix_output,
                            CacheStepStats* stats) {
  if (disabled_ || prefix_ == 0 || !prefix_output.defined() ||
      prefix_output.size(0) != static_cast<int64_t>(samples.size()) ||
      variants.size() != samples.size()) {
    return;
  }
  std::vector<uint64_t> keys(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!Key(samples[i], variants[i], &keys[i])) return;
  }
  const int boundary = prefix_ - 1;
  if (sample_shape_[boundary].empty()) {
    sample_shape_[boundary] = prefix_output.sizes().slice(1).vec();
    sample_format_[boundary] = RowFormat(prefix_output);
  }
  absl::Status s;
  try {
    s = PutRows(keys, prefix_output, stats);
  } catch (const c10::Error& e) {
    s =
        absl::InternalError(absl::StrCat("libtorch error in the activation "
                                         "cache: ",
                                         e.what_without_backtrace()));
  }
  if (!s.ok()) {
    Disable(std::string(s.message()));
    stats->disabled = true;
  }
}

}  // namespace freezing::train
