#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <google/protobuf/stubs/common.h>
#include <limits.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "comm/calibration.h"
#include "comm/launcher.h"
#include "comm/progress_mode.h"
#include "comm/reducer.h"
#include "freeze/freezer.h"
#include "freeze/policy.h"
#include "freeze_trace/convert.h"
#include "train/activation_cache.h"
#include "train/checkpoint.h"
#include "train/data/data_source.h"
#include "train/data/loader.h"
#include "train/data/partition.h"
#include "train/grad_stats.h"
#include "train/lr_schedule.h"
#include "train/models/model_factory.h"
#include "train/models/unit_model.h"
#include "train/models/weights.h"
#include "train/output_folder.h"
#include "train/policy_reach.h"
#include "train/profiler.h"
#include "train/sgd.h"
#include "train/step_runner.h"
#include "train/trace_recorder.h"

namespace freezing::train {
namespace {

using base::NowNs;
using base::UnixNowNs;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// The BLAS library that serves libtorch's matrix products in this process
// (the file behind sgemm_, links resolved: Debian's alternatives choose it
// at install time, and the reference BLAS is ~35x slower than OpenBLAS on a
// ViT's matrices, docs/PERFORMANCE.md); "unknown" when it cannot be found.
std::string BlasLibrary() {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 ||
      info.dli_fname == nullptr) {
    return "unknown";
  }
  char resolved[PATH_MAX];
  return realpath(info.dli_fname, resolved) != nullptr ? resolved
                                                       : info.dli_fname;
}

// The libraries this binary was built with (name, version) and the BLAS it
// runs on, for the trace.
std::vector<std::pair<std::string, std::string>> BuiltWith() {
  return {{"libtorch", TORCH_VERSION},
          {"protobuf",
           google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION)},
          {"abseil", absl::StrCat(ABSL_LTS_RELEASE_VERSION)},
          {"blas", BlasLibrary()}};
}

std::string UnitList(const std::vector<int>& units, const UnitModel& model) {
  std::vector<std::string> names;
  for (int u : units) names.push_back(model.unit(u).name);
  return names.empty() ? "none" : absl::StrJoin(names, "+");
}

// ParamUnits: the unit of every parameter, in registration order.
std::vector<int> ParamUnits(const UnitModel& model) {
  std::vector<int> param_unit(model.parameters().size(), -1);
  for (int u = 0; u < model.num_units(); ++u) {
    for (int p : model.unit(u).params) param_unit[p] = u;
  }
  return param_unit;
}

// The bucket plan of all parameters (nothing frozen), whose bucket sizes the
// start-up profile measures all-reduces of.
std::vector<int64_t> FullPlanBucketBytes(
    const UnitModel& model, const comm::BucketPlanOptions& options) {
  std::vector<comm::TensorSpec> specs;
  const std::vector<std::string> names = model.parameter_names();
  const std::vector<at::Tensor> params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    specs.push_back({names[i], params[i].numel(),
                     static_cast<int>(params[i].element_size()), true});
  }
  std::vector<int64_t> bucket_bytes;
  for (const comm::Bucket& b :
       comm::BucketPlan::Build(specs, options).buckets())
    bucket_bytes.push_back(b.bytes);
  return bucket_bytes;
}

// Every rank's votes, exchanged as trace.proto bytes (one all-gather).
freeze::VoteExchange VoteExchangeOver(comm::Communicator* comm) {
  return [comm](const std::vector<freeze::Vote>& mine)
             -> absl::StatusOr<std::vector<freeze::Vote>> {
    ASSIGN_OR_RETURN(std::vector<std::string> all,
                     comm->AllGatherBytes(freeze_trace::EncodeVotes(mine)));
    std::vector<freeze::Vote> votes;
    for (const std::string& bytes : all) {
      RETURN_IF_ERROR(freeze_trace::DecodeVotes(bytes, votes));
    }
    return votes;
  };
}

// The step runner's measurements as step facts (data and total time are the
// trainer's); statistics time includes the end of a base interval.
void FillFromReport(const StepReport& r, int64_t interval_ns, StepFacts& f) {
  f.phases.forward_ns = r.forward_ns;
  f.phases.backward_ns = r.backward_ns;
  f.phases.comm_exposed_ns = r.comm_exposed_ns;
  f.phases.comm_total_ns = r.comm_total_ns;
  f.phases.optimizer_ns = r.optimizer_ns;
  f.phases.stats_ns = r.stats_ns + interval_ns;
  f.unit_forward_ns = r.unit_forward_ns;
  f.unit_backward_ns = r.unit_backward_ns;
  f.prefix_folded = r.prefix_folded;
  f.bytes_allreduced = r.comm.bytes;
  f.buckets = r.comm.buckets;
  for (const comm::BucketStepTiming& b : r.comm.timings) {
    f.bucket_times.push_back({b.bytes, b.ready_ns, b.start_ns, b.done_ns});
  }
}

// AllRanksStep: what the per-step all-gather learns from every rank.
struct AllRanksStep {
  double mean_loss = 0;
  double max_total_ns = 0;
  int64_t cache_hits = 0;       // summed over ranks
  int64_t cache_misses = 0;     // summed over ranks
  bool cache_disabled = false;  // on any rank
};

void AddPhases(const PhaseSums& step, PhaseSums& sum) {
  sum.data_ns += step.data_ns;
  sum.forward_ns += step.forward_ns;
  sum.backward_ns += step.backward_ns;
  sum.comm_exposed_ns += step.comm_exposed_ns;
  sum.comm_total_ns += step.comm_total_ns;
  sum.optimizer_ns += step.optimizer_ns;
  sum.stats_ns += step.stats_ns;
  sum.total_ns += step.total_ns;
}

// AddStep: one step into the run's summary. Cache hits and misses count all
// ranks, the prefix forward saved is this rank's.
void AddStep(const StepFacts& f, int64_t images, const AllRanksStep& all,
             RunSummary& summary) {
  summary.cache_hits += all.cache_hits;
  summary.cache_misses += all.cache_misses;
  summary.cache_forward_saved_ns += f.cache.forward_saved_ns;
  summary.cache_disabled |= all.cache_disabled;
  AddPhases(f.phases, summary.phases);
  summary.steps += 1;
  summary.images += images;
  summary.bytes_allreduced += f.bytes_allreduced;
}

// EpochProgress: an epoch's running totals.
struct EpochProgress {
  int epoch = 0;
  int64_t start_ns = 0;
  int64_t steps = 0;
  int64_t train_ns = 0;  // sum of step totals
  double loss_sum = 0;   // sum of the steps' mean losses over ranks
};

// IntervalEnd: what the end of a base interval produced.
struct IntervalEnd {
  int64_t ns = 0;                         // statistics and policy
  std::optional<trace::Interval> record;  // rank 0 with a trace
  std::optional<freeze::FreezeDecision> decision;
};

}  // namespace

struct Trainer::Impl {
  TrainConfig config;
  comm::Communicator* comm = nullptr;
  RunEnvironment env;
  int rank = 0;
  int ranks = 1;
  int threads = 1;

  std::shared_ptr<Dataset> data;
  Partition partition;
  std::unique_ptr<TrainLoader> loader;
  std::unique_ptr<EvalLoader> eval_loader;
  std::shared_ptr<UnitModel> model;
  std::unique_ptr<comm::GradientReducer> reducer;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<GradientStatistics> stats;
  std::unique_ptr<freeze::Freezer> freezer;
  std::unique_ptr<StepRunner> runner;
  std::unique_ptr<TraceRecorder> recorder;
  std::unique_ptr<ActivationCache> cache;  // with --cache
  std::optional<LrSchedule> schedule;

  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  // Global step of epoch e's first step: e * steps_per_epoch + step_offset.
  // 0 but on a resume on another number of ranks, whose epochs have
  // another length than those before the checkpoint (see StepOffset).
  int64_t step_offset = 0;
  int checkpoint_ranks = 0;  // --resume: the ranks the checkpoint was made on
  int stats_window = 1;
  std::vector<bool> frozen;
  std::vector<std::string> rank_hosts;  // by rank, for the trace header
  // static:K's decision before step 0, applied (and recorded) once the trace
  // is open.
  std::optional<freeze::FreezeDecision> initial_decision;
  // The output folder: what PlanOutputFolder decided, and where the run
  // writes now (a staging folder until an --overwrite run replaces OUT).
  OutputPlan folder;
  std::string out_dir;
  std::string checkpoint_dir;
  bool replace_pending = false;
  int start_epoch = 0;
  int64_t start_step = 0;
  RunSummary summary;
  trace::RunConfig run_config;
  int64_t created_ns = 0;

  // Create: data, model, freezing, the run's description. Check (also run
  // by Preflight, without ranks): everything that can be refused.
  absl::Status Check();
  absl::Status Setup();
  absl::Status SetupData();
  int64_t StepOffset() const;
  absl::Status BuildModel();
  absl::Status SetupModel();
  absl::StatusOr<std::unique_ptr<freeze::Freezer>> MakeFreezer(int window);
  absl::Status SetupFreezing();
  void DescribeRun();
  void LabelSummary();

  // Run, start-up: everything between Create and the first step.
  absl::Status Start();
  absl::Status MakeOutputFolder();
  absl::Status AllRanksOk(const absl::Status& mine, absl::string_view what);
  absl::StatusOr<trace::StartupProfile> ProfileFirstBatch();
  absl::Status BuildComponents(const trace::StartupProfile* profile);
  comm::BucketPlanOptions PlanOptions() const;
  absl::Status FreezeInitially();
  absl::Status Resume();
  void WarnOtherWorldSize() const;
  absl::Status SetupCache(const trace::StartupProfile* profile);
  absl::Status OpenTrace(const trace::StartupProfile* profile);
  absl::StatusOr<HeaderFacts> GatherHeaderFacts();
  absl::Status Announce();

  // Run, training.
  absl::StatusOr<RunSummary> Run();
  absl::Status RunEpoch(EpochProgress& progress, int64_t& global_step);
  absl::Status RunStep(int64_t step_in_epoch, int64_t global_step,
                       EpochProgress& progress);
  absl::StatusOr<StepReport> TrainOn(const Batch& batch, double lr,
                                     CacheStepStats* cache_stats);
  absl::StatusOr<IntervalEnd> EndIntervalIfDue(int epoch, int64_t global_step);
  absl::StatusOr<AllRanksStep> GatherStep(double loss, int64_t total_ns,
                                          const CacheStepStats& cache_stats);
  absl::Status ApplyDecision(const freeze::FreezeDecision& decision);
  absl::Status ReplaceEarlierRun();

  // Run, epoch end and run end.
  absl::StatusOr<bool> EndEpoch(const EpochProgress& progress,
                                int64_t global_step);
  absl::StatusOr<std::pair<double, double>> Evaluate();
  absl::Status Checkpoint(int epochs_done, int64_t global_step);
  absl::Status EndRun();
  void RemoveStagingAfterFailure();
  void AnnouncePolicyReach() const;
  void NoteMemoryFormat(const trace::StartupProfile& profile) const;

  void Progress(int epoch, int64_t step, double loss, int64_t step_ns,
                bool force);
  // Alive: progress for the watchdog (RunEnvironment::watchdog).
  void Alive(absl::string_view what) const {
    if (env.watchdog != nullptr) env.watchdog->Progress(what);
  }
  void Log(const std::string& line) const {
    if (rank == 0 && !env.quiet) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const TrainConfig& config, comm::Communicator& comm,
    const RunEnvironment& env) {
  if (config.ranks != comm.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ranks=", config.ranks, " but the job has ", comm.size(),
        " ranks: start it with --ranks (it relaunches itself under mpiexec) "
        "or with mpiexec -n ",
        config.ranks));
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->comm = &comm;
  impl->env = env;
  impl->rank = comm.rank();
  impl->ranks = comm.size();
  impl->created_ns = NowNs();
  RETURN_IF_ERROR(impl->Check());
  if (impl->folder.action == FolderAction::kFinished) {
    return absl::FailedPreconditionError(FinishedRunNote(impl->folder));
  }
  try {
    RETURN_IF_ERROR(impl->Setup());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch error while setting up: ",
                                            e.what_without_backtrace()));
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

absl::StatusOr<OutputPlan> Trainer::Preflight(const TrainConfig& config) {
  Impl impl;
  impl.config = config;
  impl.ranks = config.ranks;
  RETURN_IF_ERROR(impl.Check());
  if (impl.folder.action == FolderAction::kFinished) return impl.folder;
  try {
    RETURN_IF_ERROR(impl.SetupData());
    RETURN_IF_ERROR(impl.BuildModel());
    RETURN_IF_ERROR(impl.MakeFreezer(16).status());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch error while checking: ",
                                            e.what_without_backtrace()));
  }
  return impl.folder;
}

// The checks that need no data, model or rank: values and combinations of
// the configuration, and the output folder's plan.
absl::Status Trainer::Impl::Check() {
  RETURN_IF_ERROR(ValidateConfig(config));
  if (config.cache && config.augment && config.augment_variants == 0) {
    // Fresh random augmentation: no sample's input is ever seen twice, so a
    // cache would only cost memory. Refused rather than silently off.
    return absl::InvalidArgumentError(
        "--cache: with --augment and --augment_variants=0 every epoch draws a "
        "fresh random crop and flip, so no cached activation could ever be "
        "used again. Use --augment_variants=K (K fixed augmentations per "
        "sample, e.g. 4; see train/README.md for the trade-off), or "
        "--augment=false, or drop --cache");
  }
  if (absl::Status rule = freeze::ParseVoteRule(config.vote_rule).status();
      !rule.ok()) {
    return absl::Status(
        rule.code(),
        absl::StrCat("--vote_rule=", config.vote_rule, ": ", rule.message()));
  }
  ASSIGN_OR_RETURN(folder, PlanOutputFolder(config));
  out_dir = folder.write_to;
  checkpoint_dir = absl::StrCat(out_dir, "/checkpoint");
  replace_pending = folder.action == FolderAction::kReplace;
  return absl::OkStatus();
}

absl::Status Trainer::Impl::Setup() {
  const int cores = env.cores > 0 ? env.cores : comm::CoresAvailable();
  threads =
      config.threads > 0 ? config.threads : comm::DefaultThreadsPerRank(ranks);
  at::set_num_threads(threads);
  try {
    at::set_num_interop_threads(1);
  } catch (const c10::Error&) {
    // Already set in this process (tests create several trainers).
  }
  env.cores = cores;
  RETURN_IF_ERROR(SetupData());
  RETURN_IF_ERROR(SetupModel());
  RETURN_IF_ERROR(SetupFreezing());
  DescribeRun();
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SetupData() {
  // Every rank loads the set and computes the same partition.
  DataConfig dc;
  dc.spec = config.data;
  dc.classes = config.classes;
  dc.train_limit = config.train_limit;
  dc.test_limit = config.test_limit;
  ASSIGN_OR_RETURN(Dataset loaded, LoadDataset(dc));
  data = std::make_shared<Dataset>(std::move(loaded));
  ASSIGN_OR_RETURN(partition,
                   MakePartition(data->train.labels, data->num_classes, ranks,
                                 config.partition, config.seed));
  LoaderOptions lo;
  lo.batch_size = config.batch_size;
  lo.rank = rank;
  lo.seed = config.seed;
  lo.augment = config.augment;
  lo.augment_variants = config.augment_variants;
  lo.out_channels = config.in_channels;
  lo.out_size = config.image_size;
  ASSIGN_OR_RETURN(loader, TrainLoader::Create(data, partition, lo));
  ASSIGN_OR_RETURN(eval_loader,
                   EvalLoader::Create(data, Split::kTest, rank, ranks,
                                      std::max(config.batch_size, 128),
                                      config.in_channels, config.image_size));
  steps_per_epoch = loader->steps_per_epoch();
  step_offset = StepOffset();
  total_steps = steps_per_epoch * config.epochs + step_offset;
  if (config.max_steps > 0)
    total_steps = std::min(total_steps, config.max_steps);
  // The schedule counts steps as if the whole run had this length of epoch
  // (ScheduleStep): an epoch's rate is the same on any number of ranks.
  ASSIGN_OR_RETURN(
      LrSchedule s,
      LrSchedule::Parse(config.lr_schedule, config.lr,
                        total_steps - step_offset, steps_per_epoch));
  schedule = s;
  return absl::OkStatus();
}

// A resumed run's epochs start where the checkpoint left off: the steps
// before it were counted with the checkpoint's epoch length, those after it
// with this run's (they differ on another number of ranks).
int64_t Trainer::Impl::StepOffset() const {
  if (!config.resume) return 0;
  return folder.global_step -
         static_cast<int64_t>(folder.epochs_done) * steps_per_epoch;
}

absl::Status Trainer::Impl::BuildModel() {
  ModelConfig mc;
  mc.name = config.model;
  mc.stem = config.stem;
  mc.num_classes = data->num_classes;
  mc.in_channels = config.in_channels;
  mc.granularity = config.freeze_unit;
  mc.image_size = config.image_size;
  mc.patch_size = config.patch_size;
  {
    // Initialisation draws from libtorch's global generator; ranks that are
    // threads of one process (tests) must not interleave their draws.
    static std::mutex init_mu;
    std::lock_guard<std::mutex> lock(init_mu);
    at::manual_seed(config.seed);
    ASSIGN_OR_RETURN(model, MakeModel(mc));
  }
  if (!config.init.empty()) {
    std::string path = config.init;
    if (::access((path + "/model.pt").c_str(), R_OK) == 0) {
      path += "/model.pt";  // a run's output folder
    }
    LoadWeightsOptions wo;
    wo.exclude_prefixes = config.init_exclude;
    absl::Status s = LoadWeights(path, *model, wo);
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("--init=", config.init, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SetupModel() {
  RETURN_IF_ERROR(BuildModel());
  // Every rank starts from rank 0's parameters and buffers.
  std::vector<at::Tensor> tensors = model->parameters();
  for (const at::Tensor& b : model->buffers()) tensors.push_back(b);
  RETURN_IF_ERROR(comm::GradientReducer::BroadcastTensors(comm, tensors, 0));
  // Before the reducer and the optimizer take the parameters' layout.
  ASSIGN_OR_RETURN(at::MemoryFormat format,
                   ChooseMemoryFormat(config.memory_format));
  model->SetMemoryFormat(format);
  return absl::OkStatus();
}

// The freezer of this rank: the policy (refused with the flag to change)
// and the vote rule, with statistics windows of `window` base intervals.
absl::StatusOr<std::unique_ptr<freeze::Freezer>> Trainer::Impl::MakeFreezer(
    int window) {
  freeze::PolicyContext ctx;
  for (const UnitSpec& u : model->units()) {
    ctx.units.push_back({u.name, u.num_params, u.is_classifier});
  }
  ctx.total_steps = total_steps;
  ctx.steps_per_epoch = steps_per_epoch;
  ctx.base_interval_steps = config.stats_interval;
  ctx.ranks = ranks;
  ctx.max_window = window;
  ASSIGN_OR_RETURN(freeze::VoteRule rule,
                   freeze::ParseVoteRule(config.vote_rule));
  auto made = freeze::Freezer::Create(config.policy, rule, ctx, {rank});
  if (!made.ok()) {
    return absl::Status(made.status().code(),
                        absl::StrCat("--policy=", config.policy, ": ",
                                     made.status().message()));
  }
  return std::move(made).value();
}

absl::Status Trainer::Impl::SetupFreezing() {
  // The statistics window must cover the policy's interval: learn it from
  // the policy, then record at least that many base intervals per window.
  {
    ASSIGN_OR_RETURN(auto probe, MakeFreezer(16));
    stats_window = std::max(config.stats_window, probe->window());
  }
  ASSIGN_OR_RETURN(freezer, MakeFreezer(stats_window));

  StatsLayout layout;
  layout.num_units = model->num_units();
  layout.param_unit = ParamUnits(*model);
  for (const at::Tensor& p : model->parameters()) {
    layout.param_numel.push_back(p.numel());
  }
  ASSIGN_OR_RETURN(stats,
                   GradientStatistics::Create(layout, stats_window, comm));
  return absl::OkStatus();
}

// The resolved configuration (config.json, the trace header) and the
// summary's description of the run.
void Trainer::Impl::DescribeRun() {
  run_config = ToRunConfig(config);
  ModelConfig mc;
  mc.name = config.model;
  mc.image_size = config.image_size;
  mc.patch_size = config.patch_size;
  run_config.set_patch_size(ResolvedPatchSize(mc));
  run_config.set_num_classes(data->num_classes);
  run_config.set_train_samples(data->train.size());
  run_config.set_test_samples(data->test.size());
  run_config.set_partition(partition.spec);
  for (int64_t n : ShardSizes(partition)) run_config.add_shard_sizes(n);
  run_config.set_steps_per_epoch(steps_per_epoch);
  run_config.set_threads(threads);
  run_config.set_stats_window(stats_window);
  run_config.set_lr_schedule(schedule->spec());
  run_config.set_policy(freezer->policy().spec());
  run_config.set_memory_format(MemoryFormatName(model->memory_format()));
  LabelSummary();
}

// This run's policy, ranks, threads and epochs in the summary (a resumed
// run's summary comes from the checkpoint).
void Trainer::Impl::LabelSummary() {
  summary.policy = config.policy;
  summary.ranks = ranks;
  summary.threads = threads;
  summary.epochs = config.epochs;
}

absl::Status Trainer::Impl::Start() {
  RETURN_IF_ERROR(MakeOutputFolder());
  // The start-up profile runs before the reducer exists (its hooks would see
  // the profile's backward passes), on the first training batch. A resumed
  // run has none: its trace keeps the first run's.
  std::optional<trace::StartupProfile> profile;
  if (!config.resume) {
    ASSIGN_OR_RETURN(profile, ProfileFirstBatch());
  }
  const trace::StartupProfile* p = profile.has_value() ? &*profile : nullptr;
  if (p != nullptr) NoteMemoryFormat(*p);
  RETURN_IF_ERROR(BuildComponents(p));
  // Every rank's host, for the trace header (collective).
  ASSIGN_OR_RETURN(rank_hosts, comm->AllGatherBytes(env.hostname));
  if (env.watchdog != nullptr) env.watchdog->SetPeerHosts(rank_hosts, rank);
  return OpenTrace(p);
}

// Rank 0 creates the folder the run writes into (nothing is created before
// the run has been set up, so a refused run leaves nothing behind); the
// other ranks write into it only after this.
absl::Status Trainer::Impl::MakeOutputFolder() {
  absl::Status made;
  if (rank == 0) made = PrepareWriteFolder(folder);
  return AllRanksOk(made, "create the output folder");
}

// A collective: OK when `mine` is OK on every rank; otherwise this rank's
// error, or one saying which rank could not do `what`.
absl::Status Trainer::Impl::AllRanksOk(const absl::Status& mine,
                                       absl::string_view what) {
  std::vector<double> failed(ranks);
  const double me = mine.ok() ? 0.0 : 1.0;
  RETURN_IF_ERROR(
      comm->AllGather(&me, 1, comm::DType::kFloat64, failed.data()));
  if (!mine.ok()) return mine;
  for (int r = 0; r < ranks; ++r) {
    if (failed[r] != 0) {
      return absl::AbortedError(absl::StrCat("rank ", r, " could not ", what,
                                             " (its error ends the "
                                             "job)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<trace::StartupProfile> Trainer::Impl::ProfileFirstBatch() {
  const std::vector<int64_t> bucket_bytes =
      FullPlanBucketBytes(*model, PlanOptions());
  Batch first = loader->MakeBatch(0, 0);
  return ProfileStartup(*model, first.images, first.labels, *comm, bucket_bytes,
                        config.profile_repeats);
}

comm::BucketPlanOptions Trainer::Impl::PlanOptions() const {
  comm::BucketPlanOptions o;
  o.first_bucket_bytes = config.first_bucket_bytes;
  o.bucket_cap_bytes = config.bucket_cap_bytes;
  return o;
}

// The reducer, the optimizer and the step runner; then the starting state
// (the checkpoint's, or the policy's initial freezing); then the cache,
// whose prefix is that state's frozen prefix.
absl::Status Trainer::Impl::BuildComponents(
    const trace::StartupProfile* profile) {
  const std::vector<at::Tensor> params = model->parameters();
  comm::ReducerOptions ro;
  ro.plan = PlanOptions();
  if (!config.comm_mode.empty()) {
    ASSIGN_OR_RETURN(ro.mode, comm::ParseProgressMode(config.comm_mode));
  }
  ASSIGN_OR_RETURN(reducer, comm::GradientReducer::Create(
                                comm, params, model->parameter_names(), ro));
  run_config.set_comm_mode(comm::ProgressModeName(reducer->mode()));
  sgd = std::make_unique<Sgd>(params,
                              SgdOptions{config.momentum, config.weight_decay});
  runner = std::make_unique<StepRunner>(model.get(), reducer.get(), sgd.get(),
                                        stats.get(),
                                        StepRunnerOptions{config.fold_frozen});
  frozen.assign(model->num_units(), false);
  RETURN_IF_ERROR(config.resume ? Resume() : FreezeInitially());
  if (config.cache) RETURN_IF_ERROR(SetupCache(profile));
  return absl::OkStatus();
}

absl::Status Trainer::Impl::FreezeInitially() {
  freeze::FreezeDecision initial = freezer->Initial(frozen);
  RETURN_IF_ERROR(runner->SetFrozen(frozen));
  // Recorded once the trace exists (before step 0).
  if (!initial.decision.empty()) initial_decision = initial;
  return absl::OkStatus();
}

absl::Status Trainer::Impl::Resume() {
  // PlanOutputFolder compared the configurations; the checkpoint may have
  // changed since (another run into the same folder).
  ASSIGN_OR_RETURN(CheckpointInfo info, ReadCheckpointInfo(checkpoint_dir));
  const std::vector<std::string> differences =
      FingerprintDifferences(info.fingerprint, ResumeFingerprint(config));
  if (!differences.empty() || info.global_step != folder.global_step ||
      info.ranks != folder.ranks) {
    return absl::FailedPreconditionError(
        absl::StrCat("--resume: the checkpoint in ", checkpoint_dir,
                     " changed since start-up", differences.empty() ? "" : ": ",
                     absl::StrJoin(differences, "; ")));
  }
  checkpoint_ranks = info.ranks;
  RETURN_IF_ERROR(
      LoadWeights(absl::StrCat(checkpoint_dir, "/", info.model_file), *model));
  const int source = SourceRank(rank, info.ranks);
  ASSIGN_OR_RETURN(RankState state,
                   ReadRankState(checkpoint_dir, source, info.epochs_done));
  RETURN_IF_ERROR(sgd->LoadMomentum(state.momentum));
  if (info.ranks != ranks) {
    state.stats =
        StatsForOtherWorldSize(std::move(state.stats), info.ranks, ranks);
  }
  if (!state.stats.local.empty()) {
    RETURN_IF_ERROR(stats->LoadState(state.stats));
  }
  RETURN_IF_ERROR(freezer->LoadStateOfRank(state.freezer_state, source));
  if (state.frozen.size() != frozen.size()) {
    return absl::DataLossError("checkpoint frozen set does not fit the model");
  }
  frozen = state.frozen;
  RETURN_IF_ERROR(runner->SetFrozen(frozen));
  const int64_t startup = summary.startup_ns;
  summary = state.summary;
  summary.startup_ns += startup;
  LabelSummary();
  start_epoch = state.epochs_done;
  start_step = state.global_step;
  Log(absl::StrCat("resumed from ", checkpoint_dir, " after epoch ",
                   start_epoch, " (step ", start_step, ")"));
  if (info.ranks != ranks) WarnOtherWorldSize();
  return absl::OkStatus();
}

// Rank 0, at the start of a resume on another number of ranks: what is
// kept, what is not, and so why the result is not bit-exact.
void Trainer::Impl::WarnOtherWorldSize() const {
  if (rank != 0 || env.quiet) return;
  const std::string who =
      ranks < checkpoint_ranks
          ? absl::StrCat("the statistics windows and policy votes of ranks ",
                         ranks, "..", checkpoint_ranks - 1, " are dropped")
          : absl::StrCat("ranks ", checkpoint_ranks, "..", ranks - 1,
                         " continue rank r mod ", checkpoint_ranks,
                         "'s statistics windows and policy votes");
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "train: warning: resuming on %d ranks a run checkpointed on %d: not "
      "bit-exact. Kept: the model, the optimizer's momentum (the same on "
      "every rank), the frozen units, the freezing policy's state; it goes on "
      "at step %lld, epoch %d. Changed: the data is re-sharded for %d "
      "ranks (%lld steps per epoch from here), the statistics interval "
      "under way restarts empty, %s (train/checkpoint.h)\n",
      ranks, checkpoint_ranks, static_cast<long long>(start_step),
      start_epoch + 1, ranks, static_cast<long long>(steps_per_epoch),
      who.c_str());
  std::fflush(stderr);
}

absl::Status Trainer::Impl::SetupCache(const trace::StartupProfile* profile) {
  // Each rank caches its own shard, in memory up to the budget and in its own
  // spill file beyond it. A resumed run starts with an empty cache and fills
  // it again (the results do not depend on the cache).
  ActivationCacheOptions o;
  o.memory_budget_bytes = config.cache_mem_mb << 20;
  o.spill_path =
      absl::StrCat(out_dir, "/activation_cache.rank", rank, ".spill");
  const int r = rank;
  const bool quiet = env.quiet;
  o.warn = [r, quiet](const std::string& message) {
    if (quiet) return;
    std::fprintf(stderr, "warning (rank %d): %s\n", r, message.c_str());
    std::fflush(stderr);
  };
  ASSIGN_OR_RETURN(cache, ActivationCache::Create(model.get(), std::move(o)));
  std::vector<double> cost;
  if (profile != nullptr && profile->batch_size() > 0) {
    cost = PrefixForwardNsPerSample(*profile, config.fold_frozen);
  } else {
    Batch first =
        loader->MakeBatch(start_epoch < config.epochs ? start_epoch : 0, 0);
    cost =
        ForwardNoGradNsPerSample(*model, first.images, config.profile_repeats);
  }
  cache->SetForwardCost(std::move(cost));
  cache->SetPrefix(runner->first_trainable());
  Log(absl::StrCat("activation cache on: ", config.cache_mem_mb,
                   " MiB of memory per rank, then ", config.out,
                   "/activation_cache.rank*.spill; ",
                   config.augment ? absl::StrCat(config.augment_variants,
                                                 " augmentation variant(s) "
                                                 "per sample")
                                  : std::string("no augmentation")));
  return absl::OkStatus();
}

// Rank 0's trace: a new one (header, then the start-up profile), or the old
// one continued on --resume.
absl::Status Trainer::Impl::OpenTrace(const trace::StartupProfile* profile) {
  if (rank != 0 || !config.write_trace) return absl::OkStatus();
  const std::string trace_path = absl::StrCat(out_dir, "/trace.pb");
  if (profile == nullptr) {
    ASSIGN_OR_RETURN(recorder,
                     TraceRecorder::Resume(trace_path, start_step, start_epoch,
                                           config.epochs));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(HeaderFacts facts, GatherHeaderFacts());
  ASSIGN_OR_RETURN(recorder, TraceRecorder::Create(trace_path, facts));
  return recorder->WriteProfile(*profile);
}

absl::StatusOr<HeaderFacts> Trainer::Impl::GatherHeaderFacts() {
  HeaderFacts f;
  f.config = run_config;
  for (const UnitSpec& u : model->units()) {
    f.units.push_back({u.name, u.num_params, u.forward_flops_per_sample,
                       u.output_elements_per_sample, u.is_classifier});
  }
  const std::vector<std::string> names = model->parameter_names();
  const std::vector<at::Tensor> params = model->parameters();
  const std::vector<int> param_unit = ParamUnits(*model);
  for (size_t i = 0; i < params.size(); ++i) {
    f.params.push_back({names[i], params[i].numel(),
                        static_cast<int>(params[i].element_size()),
                        param_unit[i]});
  }
  f.cores = env.cores;
  f.threads_per_rank = threads;
  f.cpu_model = CpuModel();
  f.hostname = env.hostname;
  f.rank_hosts = rank_hosts;
  f.libraries = BuiltWith();
  f.revision = env.revision;
  f.start_unix_ns = UnixNowNs();
  if (!config.calibration.empty()) {
    absl::StatusOr<comm::Calibration> cal =
        comm::ReadCalibration(config.calibration);
    if (!cal.ok()) {
      return absl::Status(
          cal.status().code(),
          absl::StrCat("--calibration: ", cal.status().message()));
    }
    f.calibration_source = config.calibration;
    f.calibration = *std::move(cal);
  }
  return f;
}

// Rank 0: OUT/config.json and the line that says what is being trained.
absl::Status Trainer::Impl::Announce() {
  if (rank != 0) return absl::OkStatus();
  RETURN_IF_ERROR(
      WriteRunConfigJson(run_config, absl::StrCat(out_dir, "/config.json")));
  Log(absl::StrCat("training ", config.model, " on ", config.data, " (",
                   data->train.size(), " train / ", data->test.size(),
                   " test samples, ", data->num_classes, " classes), ", ranks,
                   " rank(s) x ", threads, " thread(s), batch ",
                   config.batch_size, " per rank, ", steps_per_epoch,
                   " steps per epoch, policy ", config.policy));
  AnnouncePolicyReach();
  return absl::OkStatus();
}

// Rank 0: when the start-up profile measured a training step (forward,
// backward and the statistics' accumulation) at least 5% faster in the
// other memory format, says so with the flag that chooses it.
void Trainer::Impl::NoteMemoryFormat(
    const trace::StartupProfile& profile) const {
  const int64_t contiguous = profile.step_contiguous_ns();
  const int64_t channels_last = profile.step_channels_last_ns();
  if (contiguous <= 0 || channels_last <= 0) return;
  const at::MemoryFormat own_format = model->memory_format();
  const bool own_cl = own_format == at::MemoryFormat::ChannelsLast;
  const double own = static_cast<double>(own_cl ? channels_last : contiguous);
  const double other = static_cast<double>(own_cl ? contiguous : channels_last);
  if (other >= 0.95 * own) return;
  const std::string other_name = MemoryFormatName(
      own_cl ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast);
  Log(absl::StrFormat(
      "note: the start-up profile measured a training step (forward, "
      "backward, statistics) %.1f%% faster in %s than in %s (%.1f against "
      "%.1f ms): --memory_format=%s chooses it",
      100.0 * (1.0 - other / own), other_name, MemoryFormatName(own_format),
      other / 1e6, own / 1e6, other_name));
}

// Rank 0: how many decisions the policy gets in this run; a warning when
// it gets none (a run too short for its interval or warmup).
void Trainer::Impl::AnnouncePolicyReach() const {
  if (rank != 0 || env.quiet) return;
  const freeze::FreezePolicy& policy = freezer->policy();
  const PolicyReach reach = DescribePolicyReach(
      config.policy, start_step, total_steps, policy.interval_steps(),
      policy.guards().warmup_steps, config.stats_interval);
  if (reach.note.empty()) return;
  if (reach.warning) {
    std::fflush(stdout);
    std::fprintf(stderr, "train: warning: %s\n", reach.note.c_str());
    std::fflush(stderr);
  } else {
    Log(reach.note);
  }
}

absl::StatusOr<RunSummary> Trainer::Impl::Run() {
  try {
    RETURN_IF_ERROR(Start());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch error while starting: ",
                                            e.what_without_backtrace()));
  }
  if (initial_decision.has_value()) {
    RETURN_IF_ERROR(ApplyDecision(*initial_decision));
    initial_decision.reset();
  }
  summary.startup_ns += NowNs() - created_ns;
  RETURN_IF_ERROR(Announce());

  int64_t global_step = start_step;
  for (int epoch = start_epoch; epoch < config.epochs; ++epoch) {
    EpochProgress progress;
    progress.epoch = epoch;
    progress.start_ns = NowNs();
    RETURN_IF_ERROR(RunEpoch(progress, global_step));
    ASSIGN_OR_RETURN(const bool stopped, EndEpoch(progress, global_step));
    // As if the run died here: no final model, summary or footer.
    if (stopped) return summary;
    if (global_step >= total_steps) break;
  }
  RETURN_IF_ERROR(EndRun());
  return summary;
}

// The epoch's steps from where `global_step` stands, up to the end of the
// epoch or of the run (--max_steps).
absl::Status Trainer::Impl::RunEpoch(EpochProgress& progress,
                                     int64_t& global_step) {
  const int64_t first = global_step -
                        static_cast<int64_t>(progress.epoch) * steps_per_epoch -
                        step_offset;
  loader->Seek(progress.epoch, first);
  for (int64_t s = first; s < steps_per_epoch && global_step < total_steps;
       ++s) {
    try {
      RETURN_IF_ERROR(RunStep(s, global_step, progress));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("libtorch error in step ",
                                              global_step, ": ",
                                              e.what_without_backtrace()));
    }
    ++global_step;
    ++progress.steps;
  }
  return absl::OkStatus();
}

absl::Status Trainer::Impl::RunStep(int64_t step_in_epoch, int64_t global_step,
                                    EpochProgress& progress) {
  const int64_t t0 = NowNs();
  Batch batch = loader->Next();
  StepFacts f;
  f.step = global_step;
  f.epoch = progress.epoch;
  f.phases.data_ns = NowNs() - t0;
  f.lr = schedule->At(global_step - step_offset);
  for (bool is_frozen : frozen) f.trainable.push_back(!is_frozen);
  ASSIGN_OR_RETURN(StepReport report, TrainOn(batch, f.lr, &f.cache));
  const int64_t batch_size = batch.labels.size(0);
  stats->EndStep(batch_size, report.loss * static_cast<double>(batch_size),
                 f.trainable);
  ASSIGN_OR_RETURN(IntervalEnd interval,
                   EndIntervalIfDue(progress.epoch, global_step));
  f.phases.total_ns = NowNs() - t0;
  FillFromReport(report, interval.ns, f);

  ASSIGN_OR_RETURN(const AllRanksStep all,
                   GatherStep(report.loss, f.phases.total_ns, f.cache));
  f.mean_loss = all.mean_loss;
  f.max_rank_total_ns = static_cast<int64_t>(all.max_total_ns);
  f.cache_disabled_anywhere = all.cache_disabled;
  AddStep(f, batch_size * ranks, all, summary);
  progress.train_ns += f.phases.total_ns;
  progress.loss_sum += f.mean_loss;

  if (recorder != nullptr) {
    RETURN_IF_ERROR(recorder->WriteStep(f));
    if (interval.record.has_value()) {
      RETURN_IF_ERROR(recorder->WriteInterval(*interval.record));
    }
  }
  if (interval.decision.has_value()) {
    RETURN_IF_ERROR(ApplyDecision(*interval.decision));
  }
  if (replace_pending) RETURN_IF_ERROR(ReplaceEarlierRun());
  Progress(progress.epoch, step_in_epoch, f.mean_loss, f.phases.total_ns,
           false);
  Alive(absl::StrCat("step ", global_step, " done"));
  return absl::OkStatus();
}

// Forward, backward and optimizer on `batch`. With the cache, the step starts
// after the frozen prefix when the cache provides (or computes) the prefix's
// output for the whole batch, and its reads and writes and the prefix
// forward of misses count as forward time.
absl::StatusOr<StepReport> Trainer::Impl::TrainOn(const Batch& batch, double lr,
                                                  CacheStepStats* cache_stats) {
  PreparedInput prepared;
  if (cache != nullptr) {
    prepared = cache->Prepare(batch.indices, batch.variants, batch.images);
  } else {
    prepared.input = batch.images;
  }
  ASSIGN_OR_RETURN(
      StepReport report,
      runner->Step(prepared.input, prepared.start_unit, batch.labels, lr));
  *cache_stats = prepared.stats;
  if (cache == nullptr) return report;
  int64_t store_ns = 0;
  if (prepared.store_prefix_output) {
    const int64_t ts = NowNs();
    cache->Store(batch.indices, batch.variants, report.prefix_output,
                 cache_stats);
    store_ns = NowNs() - ts;
  }
  report.forward_ns += prepared.ns + store_ns;
  for (size_t u = 0;
       u < prepared.unit_forward_ns.size() && u < report.unit_forward_ns.size();
       ++u) {
    report.unit_forward_ns[u] += prepared.unit_forward_ns[u];
  }
  return report;
}

// At the end of a base interval: its statistics (collective), then the
// policy, with the votes of every rank.
absl::StatusOr<IntervalEnd> Trainer::Impl::EndIntervalIfDue(
    int epoch, int64_t global_step) {
  IntervalEnd end;
  const int T = config.stats_interval;
  if ((global_step + 1) % T != 0) return end;
  const int64_t ti = NowNs();
  const int64_t index = (global_step + 1) / T - 1;
  ASSIGN_OR_RETURN(
      freeze::BaseIntervalStats bis,
      stats->FinishInterval(index, global_step + 1 - T, global_step, epoch,
                            static_cast<double>(global_step + 1) /
                                static_cast<double>(total_steps)));
  if (recorder != nullptr) end.record = freeze_trace::ToTraceInterval(bis);
  ASSIGN_OR_RETURN(end.decision, freezer->OnBaseInterval(
                                     bis, frozen, VoteExchangeOver(comm)));
  end.ns = NowNs() - ti;
  return end;
}

// Every rank's loss and step time (and cache counts), for the trace and the
// summary: one small all-gather per step.
absl::StatusOr<AllRanksStep> Trainer::Impl::GatherStep(
    double loss, int64_t total_ns, const CacheStepStats& cache_stats) {
  std::vector<double> mine = {loss, static_cast<double>(total_ns)};
  if (cache != nullptr) {
    mine.push_back(static_cast<double>(cache_stats.hits));
    mine.push_back(static_cast<double>(cache_stats.misses));
    mine.push_back(cache_stats.disabled ? 1.0 : 0.0);
  }
  const int per_rank = static_cast<int>(mine.size());
  std::vector<double> all(per_rank * ranks);
  RETURN_IF_ERROR(comm->AllGather(mine.data(), per_rank, comm::DType::kFloat64,
                                  all.data()));
  AllRanksStep out;
  for (int r = 0; r < ranks; ++r) {
    out.mean_loss += all[per_rank * r] / ranks;
    out.max_total_ns = std::max(out.max_total_ns, all[per_rank * r + 1]);
    if (cache != nullptr) {
      out.cache_hits += static_cast<int64_t>(all[per_rank * r + 2]);
      out.cache_misses += static_cast<int64_t>(all[per_rank * r + 3]);
      out.cache_disabled |= all[per_rank * r + 4] != 0;
    }
  }
  return out;
}

absl::Status Trainer::Impl::ApplyDecision(const freeze::FreezeDecision& d) {
  RETURN_IF_ERROR(runner->SetFrozen(frozen));
  if (cache != nullptr) cache->SetPrefix(runner->first_trainable());
  std::string votes;
  for (const freeze::Vote& v : d.votes) {
    absl::StrAppend(
        &votes, votes.empty() ? "" : "; ", "rank ", v.rank, ": ",
        v.freeze.empty() && v.unfreeze.empty()
            ? "none"
            : absl::StrCat(
                  v.freeze.empty() ? "" : "freeze ", UnitList(v.freeze, *model),
                  v.unfreeze.empty() ? "" : " unfreeze ",
                  v.unfreeze.empty() ? "" : UnitList(v.unfreeze, *model)),
        absl::StrFormat(" (weight %.4g)", v.weight));
  }
  Log(absl::StrCat(
      "step ", d.apply_step, " (epoch ", d.epoch + 1, "): ",
      d.decision.freeze.empty()
          ? ""
          : absl::StrCat("froze ", UnitList(d.decision.freeze, *model)),
      d.decision.unfreeze.empty()
          ? ""
          : absl::StrCat(" unfroze ", UnitList(d.decision.unfreeze, *model)),
      " [", config.policy, ", rule ", config.vote_rule, "]",
      votes.empty() ? "" : absl::StrCat(" votes: ", votes),
      d.decision.reason.empty() ? "" : absl::StrCat(" — ", d.decision.reason)));
  for (int u : d.decision.freeze) {
    summary.freeze_events.push_back(
        {u, model->unit(u).name, d.apply_step, d.epoch, false});
  }
  for (int u : d.decision.unfreeze) {
    summary.freeze_events.push_back(
        {u, model->unit(u).name, d.apply_step, d.epoch, true});
  }
  if (recorder != nullptr) {
    RETURN_IF_ERROR(recorder->WriteFreezeEvent(freeze_trace::ToTraceFreezeEvent(
        d, freezer->policy().spec(), freeze::VoteRuleName(freezer->rule()))));
  }
  return absl::OkStatus();
}

// --overwrite, after the new run's first step: the staging folder replaces
// OUT in one atomic swap (rank 0), then every rank writes into OUT. Files
// open in the folder (the trace, the cache's spill files) move with it.
absl::Status Trainer::Impl::ReplaceEarlierRun() {
  absl::Status replaced;
  if (rank == 0) replaced = ReplaceWithStaging(folder);
  RETURN_IF_ERROR(AllRanksOk(replaced, "replace the earlier run"));
  replace_pending = false;
  out_dir = config.out;
  checkpoint_dir = absl::StrCat(out_dir, "/checkpoint");
  if (cache != nullptr) {
    cache->SpillFileMoved(
        absl::StrCat(out_dir, "/activation_cache.rank", rank, ".spill"));
  }
  if (recorder != nullptr) {
    recorder->Moved(absl::StrCat(out_dir, "/trace.pb"));
  }
  Log(absl::StrCat("replaced the earlier run in ", config.out,
                   " (--overwrite)"));
  return absl::OkStatus();
}

// A run that failed before an --overwrite replaced OUT leaves OUT as it
// was; its unfinished staging folder goes.
void Trainer::Impl::RemoveStagingAfterFailure() {
  if (rank == 0 && replace_pending) (void)base::RemoveTree(out_dir);
}

// The end of an epoch: evaluation (collective), the cache's revalidation, the
// log line, the Epoch record, the checkpoint. True when the run stops here
// as if killed (--stop_after_epochs).
absl::StatusOr<bool> Trainer::Impl::EndEpoch(const EpochProgress& progress,
                                             int64_t global_step) {
  const int epoch = progress.epoch;
  const int64_t eval_start = NowNs();
  ASSIGN_OR_RETURN(auto accuracy_loss, Evaluate());
  // Evaluation broadcast rank 0's buffers, frozen BatchNorm statistics
  // included: entries computed with this rank's old ones are stale.
  if (cache != nullptr) cache->Revalidate();
  EpochFacts e;
  e.epoch = epoch;
  e.last_step = global_step - 1;
  e.test_accuracy = accuracy_loss.first;
  e.test_loss = accuracy_loss.second;
  e.train_loss = progress.steps > 0 ? progress.loss_sum / progress.steps : 0.0;
  e.train_ns = progress.train_ns;
  e.eval_ns = NowNs() - eval_start;
  summary.eval_ns += e.eval_ns;
  summary.test_accuracy_per_epoch.push_back(e.test_accuracy);
  summary.test_loss_per_epoch.push_back(e.test_loss);
  Log(absl::StrFormat(
      "epoch %d/%d: train loss %.4f, test accuracy %.4f, test loss %.4f, "
      "%.1f s training, %.1f s evaluation",
      epoch + 1, config.epochs, e.train_loss, e.test_accuracy, e.test_loss,
      static_cast<double>(e.train_ns) * 1e-9,
      static_cast<double>(e.eval_ns) * 1e-9));
  e.wall_ns = NowNs() - progress.start_ns;
  if (recorder != nullptr) RETURN_IF_ERROR(recorder->WriteEpoch(e));
  // An epoch cut short by --max_steps is checkpointed only as the last one.
  if (global_step < total_steps || epoch + 1 == config.epochs) {
    RETURN_IF_ERROR(Checkpoint(epoch + 1, global_step));
  }
  if (config.stop_after_epochs > 0 && epoch + 1 >= config.stop_after_epochs &&
      epoch + 1 < config.epochs) {
    Log(absl::StrCat("stopping after epoch ", epoch + 1,
                     " (--stop_after_epochs); continue with --resume"));
    recorder.reset();
    return true;
  }
  return false;
}

absl::StatusOr<std::pair<double, double>> Trainer::Impl::Evaluate() {
  // BatchNorm running statistics are per rank in training; as in PyTorch DDP
  // (which broadcasts rank 0's buffers before every forward), evaluation
  // uses rank 0's.
  RETURN_IF_ERROR(
      comm::GradientReducer::BroadcastTensors(comm, model->buffers(), 0));
  double sums[3] = {0, 0, 0};  // correct, loss sum, samples
  model->SetTraining(false);
  {
    at::NoGradGuard no_grad;
    for (int64_t i = 0; i < eval_loader->num_batches(); ++i) {
      Alive(absl::StrCat("evaluation batch ", i));
      Batch b = eval_loader->MakeBatch(i);
      at::Tensor logits = model->forward(b.images);
      sums[0] += logits.argmax(1).eq(b.labels).sum().item<double>();
      sums[1] +=
          at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Sum)
              .item<double>();
      sums[2] += static_cast<double>(b.labels.size(0));
    }
  }
  model->SetTraining(true);
  RETURN_IF_ERROR(comm->AllReduceSum(sums, 3, comm::DType::kFloat64));
  if (sums[2] <= 0) return std::make_pair(0.0, 0.0);
  return std::make_pair(sums[0] / sums[2], sums[1] / sums[2]);
}

absl::Status Trainer::Impl::Checkpoint(int epochs_done, int64_t global_step) {
  if (!config.checkpoints) return absl::OkStatus();
  // Every rank writes its files; the checkpoint is committed only when all
  // succeeded. A failed write (a full disk) costs this checkpoint, not the
  // run: the previous checkpoint stays committed and training goes on.
  const std::string model_file = ModelFileName(epochs_done);
  // The first checkpoint makes the folder (every rank: mkdir -p).
  absl::Status written = base::MakeDirs(checkpoint_dir);
  if (rank == 0 && written.ok()) {
    written =
        SaveWeights(absl::StrCat(checkpoint_dir, "/", model_file), *model);
  }
  if (written.ok()) {
    RankState state;
    state.epochs_done = epochs_done;
    state.global_step = global_step;
    state.frozen = frozen;
    state.freezer_state = freezer->SaveState();
    state.momentum = sgd->momentum_buffers();
    // The statistics accumulators (2W model-sized buffers) matter only for
    // steps still to come: the last checkpoint of a run leaves them out.
    if (epochs_done < config.epochs) state.stats = stats->SaveState();
    state.summary = summary;
    written = WriteRankState(checkpoint_dir, rank, state);
  }
  double failed = written.ok() ? 0.0 : 1.0;
  RETURN_IF_ERROR(comm->AllReduceSum(&failed, 1, comm::DType::kFloat64));
  if (!written.ok()) {
    std::fprintf(stderr,
                 "warning: rank %d could not write the checkpoint after epoch "
                 "%d (%s); training goes on, --resume would use the previous "
                 "checkpoint\n",
                 rank, epochs_done, written.ToString().c_str());
  }
  Alive(absl::StrCat("checkpoint files after epoch ", epochs_done));
  if (failed > 0) return absl::OkStatus();
  if (rank == 0) {
    CheckpointInfo info;
    info.epochs_done = epochs_done;
    info.global_step = global_step;
    info.ranks = ranks;
    info.model_file = model_file;
    info.fingerprint = ResumeFingerprint(config);
    absl::Status committed = CommitCheckpoint(checkpoint_dir, info);
    if (!committed.ok()) {
      std::fprintf(stderr,
                   "warning: could not commit the checkpoint after epoch %d "
                   "(%s); training goes on\n",
                   epochs_done, committed.ToString().c_str());
    }
  }
  return comm->Barrier();
}

void Trainer::Impl::Progress(int epoch, int64_t step, double loss,
                             int64_t step_ns, bool force) {
  if (rank != 0 || env.quiet) return;
  const int64_t every = config.log_every > 0
                            ? config.log_every
                            : std::max<int64_t>(1, steps_per_epoch / 4);
  if (!env.tty && !force && (step + 1) % every != 0) return;
  const double total_s = static_cast<double>(summary.phases.total_ns) * 1e-9;
  const double ips =
      total_s > 0 ? static_cast<double>(summary.images) / total_s : 0.0;
  // The summary counts the steps and time of the whole run, those before a
  // --resume included.
  const int64_t done = summary.steps;
  const double eta =
      done > 0
          ? total_s / static_cast<double>(done) *
                static_cast<double>(std::max<int64_t>(0, total_steps - done))
          : 0.0;
  const std::string line = absl::StrFormat(
      "epoch %d/%d step %d/%d loss %.4f %.1f img/s step %.0f ms ETA %.0f s",
      epoch + 1, config.epochs, step + 1, steps_per_epoch, loss, ips,
      static_cast<double>(step_ns) * 1e-6, eta);
  if (env.tty) {
    std::printf("\r%-100s", line.c_str());
    if (force) std::printf("\n");
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

// The end of the run: the cache's report (and its spill file removed), rank
// 0's model.pt, summary.json and table, the trace's footer.
absl::Status Trainer::Impl::EndRun() {
  if (cache != nullptr) {
    Log(absl::StrFormat(
        "activation cache: %d hits, %d misses (all ranks), %.2f s of prefix "
        "forward saved on rank 0%s",
        summary.cache_hits, summary.cache_misses,
        static_cast<double>(summary.cache_forward_saved_ns) * 1e-9,
        summary.cache_disabled ? "; turned off after a failure (see warnings)"
                               : ""));
    cache.reset();  // removes the spill file
  }
  if (rank == 0) {
    RETURN_IF_ERROR(SaveWeights(absl::StrCat(out_dir, "/model.pt"), *model));
    RETURN_IF_ERROR(
        WriteSummary(summary, absl::StrCat(out_dir, "/summary.json")));
    if (!env.quiet) std::printf("%s", SummaryTable(summary).c_str());
  }
  if (recorder != nullptr) RETURN_IF_ERROR(recorder->Finish(summary));
  return absl::OkStatus();
}

absl::StatusOr<RunSummary> Trainer::Run() {
  absl::StatusOr<RunSummary> summary = impl_->Run();
  if (!summary.ok()) impl_->RemoveStagingAfterFailure();
  return summary;
}

std::vector<at::Tensor> Trainer::parameters() const {
  return impl_->model->parameters();
}

std::vector<std::string> Trainer::parameter_names() const {
  return impl_->model->parameter_names();
}

}  // namespace freezing::train
