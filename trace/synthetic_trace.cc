#include "trace/synthetic_trace.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "trace/trace_format.h"
#include "trace/trace_writer.h"

namespace freezing::trace {
namespace {

// splitmix64: a tiny generator whose output is the same on every platform
// (std:: distributions are not), so traces are byte-identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // `mean` scaled by a factor in [1 - spread, 1 + spread].
  int64_t Jitter(int64_t mean, double spread = 0.1) {
    return static_cast<int64_t>(
        std::llround(mean * (1.0 + spread * (2.0 * Uniform() - 1.0))));
  }

 private:
  uint64_t state_;
};

void AddParam(Header& header, const std::string& name, int64_t numel,
              int unit) {
  Param* p = header.add_params();
  p->set_name(name);
  p->set_numel(numel);
  p->set_element_bytes(4);
  p->set_unit(unit);
  Unit* u = header.mutable_units(unit);
  u->set_params(u->params() + numel);
  u->set_bytes(u->bytes() + 4 * numel);
}

void AddConv(Header& header, const std::string& name, int64_t out, int64_t in,
             int64_t k, int unit) {
  AddParam(header, name + ".weight", out * in * k * k, unit);
}

void AddBatchNorm(Header& header, const std::string& name, int64_t channels,
                  int unit) {
  AddParam(header, name + ".weight", channels, unit);
  AddParam(header, name + ".bias", channels, unit);
}

// torchvision's resnet18 for `num_classes`, one unit per child.
void AddResNet18(Header& header, int num_classes) {
  const char* kChildren[] = {"conv1",  "bn1",    "relu",   "maxpool", "layer1",
                             "layer2", "layer3", "layer4", "avgpool", "fc"};
  const int64_t kOutputElements[] = {
      64 * 16 * 16, 64 * 16 * 16, 64 * 16 * 16, 64 * 8 * 8, 64 * 8 * 8,
      128 * 4 * 4,  256 * 2 * 2,  512,          512,        num_classes};
  for (int i = 0; i < 10; ++i) {
    Unit* u = header.add_units();
    u->set_name(kChildren[i]);
    u->set_output_elements_per_sample(kOutputElements[i]);
    u->set_is_classifier(i == 9);
  }
  AddConv(header, "conv1", 64, 3, 7, 0);
  AddBatchNorm(header, "bn1", 64, 1);
  int64_t in = 64;
  for (int layer = 1; layer <= 4; ++layer) {
    const int64_t out = 64 << (layer - 1);
    const int unit = 3 + layer;
    for (int block = 0; block < 2; ++block) {
      const std::string b = absl::StrCat("layer", layer, ".", block);
      AddConv(header, b + ".conv1", out, block == 0 ? in : out, 3, unit);
      AddBatchNorm(header, b + ".bn1", out, unit);
      AddConv(header, b + ".conv2", out, out, 3, unit);
      AddBatchNorm(header, b + ".bn2", out, unit);
      if (block == 0 && in != out) {
        AddConv(header, b + ".downsample.0", out, in, 1, unit);
        AddBatchNorm(header, b + ".downsample.1", out, unit);
      }
    }
    in = out;
  }
  AddParam(header, "fc.weight", 512 * num_classes, 9);
  AddParam(header, "fc.bias", num_classes, 9);
}

void AddGenericUnits(Header& header, int units) {
  for (int i = 0; i < units; ++i) {
    Unit* u = header.add_units();
    u->set_name(absl::StrCat("unit", i));
    u->set_is_classifier(i == units - 1);
    u->set_output_elements_per_sample(1024 >> std::min(i, 8));
    AddParam(header, absl::StrCat("unit", i, ".weight"), 1000 * (i + 1), i);
    AddParam(header, absl::StrCat("unit", i, ".bias"), 10 * (i + 1), i);
  }
}

TraceRecord MakeHeader(const SyntheticTraceOptions& o) {
  TraceRecord record;
  Header& h = *record.mutable_header();
  h.set_schema_version(kSchemaVersion);
  RunConfig& c = *h.mutable_config();
  c.set_model(o.units == 10 ? "resnet18" : "synthetic");
  c.set_stem("cifar");
  c.set_num_classes(10);
  c.set_in_channels(3);
  c.set_freeze_unit("child");
  c.set_data("synthetic");
  for (int i = 0; i < 10; ++i) c.add_classes(i);
  c.set_train_samples(o.steps_per_epoch * 64 * o.ranks);
  c.set_test_samples(1000);
  c.set_partition("iid");
  for (int r = 0; r < o.ranks; ++r) c.add_shard_sizes(o.steps_per_epoch * 64);
  c.set_augment(true);
  c.set_batch_size(64);
  c.set_epochs(o.epochs);
  c.set_steps_per_epoch(o.steps_per_epoch);
  c.set_lr(0.1);
  c.set_momentum(0.9);
  c.set_weight_decay(1e-4);
  c.set_lr_schedule("constant");
  c.set_policy(absl::StrCat("gradnorm:interval=", o.stats_interval));
  c.set_vote_rule("global");
  c.set_stats_interval(o.stats_interval);
  c.set_stats_window(o.stats_window);
  c.set_seed(o.seed);
  c.set_threads(1);
  c.set_ranks(o.ranks);
  c.set_comm_mode("progress_thread");
  c.set_first_bucket_bytes(1 << 20);
  c.set_bucket_cap_bytes(25 << 20);
  c.set_out("/tmp/synthetic");
  if (o.units == 10) {
    AddResNet18(h, 10);
  } else {
    AddGenericUnits(h, o.units);
  }
  for (int i = 0; i < h.units_size(); ++i) {
    h.mutable_units(i)->set_forward_flops_per_sample(2.0 * h.units(i).params() *
                                                     64.0);
  }
  Machine& m = *h.mutable_machine();
  m.set_cores(2);
  m.set_threads_per_rank(1);
  m.set_cpu_model("Synthetic CPU @ 3.0GHz");
  m.set_hostname("localhost");
  LibraryVersion* lib = h.add_libraries();
  lib->set_name("protobuf");
  lib->set_version("3.21.12");
  h.set_revision("synthetic");
  h.set_start_unix_ns(1700000000000000000);
  return record;
}

// Mean per-unit forward and backward times (ns), proportional to a unit's
// parameters with a floor for parameterless units.
int64_t UnitForwardNs(const Header& h, int unit) {
  return 200000 + h.units(unit).params() / 4;
}

TraceRecord MakeProfile(const Header& h, Rng& rng) {
  TraceRecord record;
  StartupProfile& p = *record.mutable_profile();
  p.set_batch_size(64);
  p.set_repeats(5);
  for (int i = 0; i < h.units_size(); ++i) {
    UnitProfile* u = p.add_units();
    u->set_unit(i);
    const int64_t f = UnitForwardNs(h, i);
    u->set_forward_ns(rng.Jitter(f));
    u->set_forward_nograd_ns(rng.Jitter(f * 8 / 10));
    u->set_backward_ns(rng.Jitter(2 * f));
    u->set_backward_no_input_grad_ns(rng.Jitter(f));
  }
  p.set_optimizer_ns_per_param(0.5);
  p.set_optimizer_fixed_ns(20000);
  for (int64_t bytes = 1024; bytes <= (64 << 20); bytes *= 4) {
    AllReducePoint* point = p.add_allreduce();
    point->set_bytes(bytes);
    point->set_ns(30000 + bytes / 2);
  }
  p.set_cache_read_ns_per_element(0.3);
  p.set_loss_ns(50000);
  return record;
}

struct RunState {
  int frozen = 0;  // frozen units form a prefix
};

TraceRecord MakeStep(const Header& h, const SyntheticTraceOptions& o,
                     int64_t step, const RunState& state, Rng& rng) {
  TraceRecord record;
  Step& s = *record.mutable_step();
  const int units = h.units_size();
  s.set_step(step);
  s.set_epoch(static_cast<int32_t>(step / o.steps_per_epoch));
  int64_t forward = 0, backward = 0, trainable_bytes = 0;
  for (int i = 0; i < units; ++i) {
    const bool trainable = i >= state.frozen;
    const int64_t f = rng.Jitter(UnitForwardNs(h, i));
    const int64_t b = trainable ? rng.Jitter(2 * UnitForwardNs(h, i)) : 0;
    s.add_unit_forward_ns(f);
    s.add_unit_backward_ns(b);
    s.add_trainable(trainable);
    forward += f;
    backward += b;
    if (trainable) trainable_bytes += h.units(i).bytes();
  }
  // Buckets fill in reverse order of the units, as DDP's do; each starts
  // when ready unless the previous one is still on the wire.
  BucketTiming* bucket = nullptr;
  int64_t elapsed = 0, wire_free = 0, comm_total = 0;
  const int64_t cap = o.units == 10 ? (25 << 20) : 8000;
  for (int i = units - 1; i >= state.frozen; --i) {
    elapsed += s.unit_backward_ns(i);
    if (h.units(i).bytes() == 0) continue;
    if (bucket == nullptr || bucket->bytes() + h.units(i).bytes() > cap) {
      bucket = s.add_bucket_timings();
    }
    bucket->set_bytes(bucket->bytes() + h.units(i).bytes());
    bucket->set_ready_ns(elapsed);
  }
  for (BucketTiming& b : *s.mutable_bucket_timings()) {
    b.set_start_ns(std::max(b.ready_ns(), wire_free) + 5000);
    const int64_t ns = rng.Jitter(30000 + b.bytes() / 2);
    b.set_done_ns(b.start_ns() + ns);
    wire_free = b.done_ns();
    comm_total += ns;
  }
  s.set_buckets(s.bucket_timings_size());
  s.set_bytes_allreduced(trainable_bytes);
  PhaseTimes& p = *s.mutable_phases();
  p.set_data_ns(rng.Jitter(300000));
  p.set_forward_ns(forward);
  p.set_backward_ns(backward);
  p.set_comm_total_ns(comm_total);
  p.set_comm_exposed_ns(std::max<int64_t>(0, wire_free - backward));
  p.set_optimizer_ns(rng.Jitter(20000 + trainable_bytes / 8));
  p.set_stats_ns(rng.Jitter(trainable_bytes / 400));
  p.set_other_ns(rng.Jitter(50000));
  p.set_total_ns(p.data_ns() + p.forward_ns() + p.backward_ns() +
                 p.comm_exposed_ns() + p.optimizer_ns() + p.stats_ns() +
                 p.other_ns());
  s.set_max_rank_total_ns(p.total_ns() + rng.Jitter(20000));
  s.set_loss(2.3 * std::exp(-0.01 * step) + 0.1 * rng.Uniform());
  s.set_lr(0.1);
  CacheStep& c = *s.mutable_cache();
  c.set_boundary_unit(state.frozen > 0 ? state.frozen - 1 : -1);
  if (state.frozen > 0) {
    c.set_hits(64);
    c.set_bytes_read(64 * 4 *
                     h.units(state.frozen - 1).output_elements_per_sample());
  }
  return record;
}

void FillNorms(UnitWindowNorms& n, int unit, int windows, int64_t steps,
               bool per_rank, Rng& rng) {
  n.set_unit(unit);
  double l2 = 1.0 / (unit + 1) * (0.5 + rng.Uniform());
  for (int k = 1; k <= windows; ++k) {
    n.add_l2(l2 * std::sqrt(static_cast<double>(k)));
    n.add_l1(l2 * 30.0 * k);
    if (per_rank) n.add_dot_global(l2 * l2 * k * 0.9);
    n.add_trained_steps(steps * k);
  }
}

TraceRecord MakeInterval(const Header& h, const SyntheticTraceOptions& o,
                         int64_t index, int64_t total_steps,
                         const RunState& state, Rng& rng) {
  TraceRecord record;
  Interval& iv = *record.mutable_interval();
  iv.set_index(index);
  iv.set_first_step(index * o.stats_interval);
  iv.set_last_step((index + 1) * o.stats_interval - 1);
  iv.set_epoch(static_cast<int32_t>(iv.first_step() / o.steps_per_epoch));
  iv.set_progress(static_cast<double>(iv.last_step() + 1) / total_steps);
  const int windows =
      static_cast<int>(std::min<int64_t>(o.stats_window, index + 1));
  for (int u = 0; u < h.units_size(); ++u) {
    const int64_t steps = u >= state.frozen ? o.stats_interval : 0;
    FillNorms(*iv.add_global(), u, windows, steps, false, rng);
  }
  for (int r = 0; r < o.ranks; ++r) {
    RankStats& rs = *iv.add_ranks();
    rs.set_rank(r);
    for (int k = 1; k <= windows; ++k) {
      rs.add_samples(64LL * o.stats_interval * k);
      rs.add_mean_loss(2.0 * std::exp(-0.01 * iv.last_step()) +
                       0.05 * rng.Uniform());
    }
    for (int u = 0; u < h.units_size(); ++u) {
      const int64_t steps = u >= state.frozen ? o.stats_interval : 0;
      FillNorms(*rs.add_units(), u, windows, steps, true, rng);
    }
  }
  return record;
}

TraceRecord MakeFreezeEvent(const SyntheticTraceOptions& o, int64_t step,
                            int64_t interval, int unit) {
  TraceRecord record;
  FreezeEvent& e = *record.mutable_freeze_event();
  e.set_step(step);
  e.set_epoch(static_cast<int32_t>(step / o.steps_per_epoch));
  e.set_interval(interval);
  e.set_policy(absl::StrCat("gradnorm:interval=", o.stats_interval));
  e.set_rule("global");
  e.add_freeze(unit);
  for (int r = 0; r < o.ranks; ++r) {
    Vote* v = e.add_votes();
    v->set_rank(r);
    v->add_freeze(unit);
    v->set_weight(1.0 / o.ranks);
  }
  e.set_reason(absl::StrCat("unit ", unit, " has the smallest eta"));
  return record;
}

}  // namespace

std::vector<TraceRecord> MakeSyntheticTrace(const SyntheticTraceOptions& o) {
  Rng rng(o.seed);
  std::vector<TraceRecord> records;
  records.push_back(MakeHeader(o));
  const Header& h = records[0].header();
  if (o.with_profile) records.push_back(MakeProfile(h, rng));
  const int64_t total_steps = o.steps_per_epoch * o.epochs;
  RunState state;
  int64_t epoch_train_ns = 0, total_ns = 0, bytes = 0;
  double accuracy = 0.0;
  for (int64_t step = 0; step < total_steps; ++step) {
    TraceRecord s = MakeStep(h, o, step, state, rng);
    epoch_train_ns += s.step().phases().total_ns();
    total_ns += s.step().phases().total_ns();
    bytes += s.step().bytes_allreduced();
    records.push_back(std::move(s));
    if (o.stats_interval > 0 && (step + 1) % o.stats_interval == 0) {
      const int64_t index = step / o.stats_interval;
      records.push_back(MakeInterval(h, o, index, total_steps, state, rng));
      if (o.freeze_every_intervals > 0 &&
          (index + 1) % o.freeze_every_intervals == 0 &&
          state.frozen < h.units_size() / 2 && step + 1 < total_steps) {
        records.push_back(MakeFreezeEvent(o, step + 1, index, state.frozen));
        ++state.frozen;
      }
    }
    if ((step + 1) % o.steps_per_epoch == 0) {
      TraceRecord record;
      Epoch& e = *record.mutable_epoch();
      e.set_epoch(static_cast<int32_t>(step / o.steps_per_epoch));
      e.set_last_step(step);
      accuracy = 0.9 - 0.5 * std::exp(-0.5 * (e.epoch() + 1));
      e.set_test_accuracy(accuracy);
      e.set_test_loss(1.0 - accuracy);
      e.set_train_loss(1.1 - accuracy);
      e.set_train_ns(epoch_train_ns);
      e.set_eval_ns(rng.Jitter(20000000));
      e.set_wall_ns(epoch_train_ns + e.eval_ns());
      epoch_train_ns = 0;
      records.push_back(std::move(record));
    }
  }
  if (o.with_footer) {
    TraceRecord record;
    Footer& f = *record.mutable_footer();
    f.set_steps(total_steps);
    f.set_total_time_ns(total_ns);
    f.set_final_test_accuracy(accuracy);
    f.set_startup_ns(500000000);
    f.set_eval_ns(20000000LL * o.epochs);
    f.set_bytes_allreduced(bytes);
    records.push_back(std::move(record));
  }
  return records;
}

std::string EncodeTrace(const std::vector<TraceRecord>& records) {
  std::string bytes = EncodeFileHeader();
  for (const TraceRecord& r : records) {
    AppendFramedRecord(r.SerializeAsString(), &bytes);
  }
  return bytes;
}

absl::Status WriteSyntheticTrace(const std::string& path,
                                 const SyntheticTraceOptions& options) {
  ASSIGN_OR_RETURN(TraceWriter writer, TraceWriter::Open(path));
  for (const TraceRecord& r : MakeSyntheticTrace(options)) {
    RETURN_IF_ERROR(writer.Write(r));
  }
  return writer.Close();
}

}  // namespace freezing::trace
