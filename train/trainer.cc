#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
#include "trace/trace_format.h"
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

std::string UnitList(const std::vector<int>& units, const UnitModel& model) {
  std::vector<std::string> names;
  for (int u : units) names.push_back(model.unit(u).name);
  return names.empty() ? "none" : absl::StrJoin(names, "+");
}

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
  int stats_window = 1;
  std::vector<bool> frozen;
  // static:K's decision before step 0, applied (and recorded) once the trace
  // is open.
  std::optional<freeze::FreezeDecision> initial_decision;
  std::string checkpoint_dir;
  int start_epoch = 0;
  int64_t start_step = 0;
  RunSummary summary;
  trace::RunConfig run_config;
  int64_t created_ns = 0;

  absl::Status Setup();
  absl::Status SetupModel();
  absl::Status SetupFreezing();
  absl::Status Resume();
  absl::Status WriteHeaderAndProfile(int64_t startup_start);
  absl::Status SetupCache(const trace::StartupProfile* profile);
  absl::StatusOr<RunSummary> Run();
  absl::Status RunStep(int epoch, int64_t step_in_epoch, int64_t global_step,
                       int64_t& epoch_train_ns, double& epoch_loss_sum);
  absl::Status ApplyDecision(const freeze::FreezeDecision& decision);
  absl::StatusOr<std::pair<double, double>> Evaluate();
  absl::Status Checkpoint(int epochs_done, int64_t global_step);
  void Progress(int epoch, int64_t step, double loss, int64_t step_ns,
                bool force);
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
  try {
    RETURN_IF_ERROR(impl->Setup());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch error while setting up: ",
                                            e.what_without_backtrace()));
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
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
  RETURN_IF_ERROR(base::MakeDirs(config.out));
  checkpoint_dir = absl::StrCat(config.out, "/checkpoint");
  RETURN_IF_ERROR(base::MakeDirs(checkpoint_dir));

  // Data: every rank loads the set and computes the same partition.
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
  lo.out_size = 32;
  ASSIGN_OR_RETURN(loader, TrainLoader::Create(data, partition, lo));
  ASSIGN_OR_RETURN(
      eval_loader,
      EvalLoader::Create(data, Split::kTest, rank, ranks,
                         std::max(config.batch_size, 128), config.in_channels));
  steps_per_epoch = loader->steps_per_epoch();
  total_steps = steps_per_epoch * config.epochs;
  if (config.max_steps > 0)
    total_steps = std::min(total_steps, config.max_steps);
  ASSIGN_OR_RETURN(LrSchedule s,
                   LrSchedule::Parse(config.lr_schedule, config.lr, total_steps,
                                     steps_per_epoch));
  schedule = s;

  RETURN_IF_ERROR(SetupModel());
  RETURN_IF_ERROR(SetupFreezing());

  run_config = ToRunConfig(config);
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
  summary.policy = config.policy;
  summary.ranks = ranks;
  summary.threads = threads;
  summary.epochs = config.epochs;
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SetupModel() {
  ModelConfig mc;
  mc.name = config.model;
  mc.stem = config.stem;
  mc.num_classes = data->num_classes;
  mc.in_channels = config.in_channels;
  mc.granularity = config.freeze_unit;
  mc.image_size = 32;
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
  // Every rank starts from rank 0's parameters and buffers.
  std::vector<at::Tensor> tensors = model->parameters();
  for (const at::Tensor& b : model->buffers()) tensors.push_back(b);
  RETURN_IF_ERROR(comm::GradientReducer::BroadcastTensors(comm, tensors, 0));
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SetupFreezing() {
  freeze::PolicyContext ctx;
  for (const UnitSpec& u : model->units()) {
    ctx.units.push_back({u.name, u.num_params, u.is_classifier});
  }
  ctx.total_steps = total_steps;
  ctx.steps_per_epoch = steps_per_epoch;
  ctx.base_interval_steps = config.stats_interval;
  ctx.ranks = ranks;
  ASSIGN_OR_RETURN(freeze::VoteRule rule,
                   freeze::ParseVoteRule(config.vote_rule));
  // The statistics window must cover the policy's interval: learn it from
  // the policy, then record at least that many base intervals per window.
  ctx.max_window = 16;
  {
    auto probe = freeze::Freezer::Create(config.policy, rule, ctx, {rank});
    if (!probe.ok()) {
      return absl::Status(probe.status().code(),
                          absl::StrCat("--policy=", config.policy, ": ",
                                       probe.status().message()));
    }
    stats_window = std::max(config.stats_window, (*probe)->window());
  }
  ctx.max_window = stats_window;
  ASSIGN_OR_RETURN(freezer,
                   freeze::Freezer::Create(config.policy, rule, ctx, {rank}));

  StatsLayout layout;
  layout.num_units = model->num_units();
  layout.param_unit.assign(model->parameters().size(), -1);
  for (int u = 0; u < model->num_units(); ++u) {
    for (int p : model->unit(u).params) layout.param_unit[p] = u;
  }
  for (const at::Tensor& p : model->parameters()) {
    layout.param_numel.push_back(p.numel());
  }
  ASSIGN_OR_RETURN(stats,
                   GradientStatistics::Create(layout, stats_window, comm));
  return absl::OkStatus();
}

absl::Status Trainer::Impl::WriteHeaderAndProfile(int64_t startup_start) {
  // The start-up profile runs before the reducer exists (its hooks would see
  // the profile's backward passes), on the first training batch.
  trace::StartupProfile profile;
  comm::BucketPlanOptions plan_options;
  plan_options.first_bucket_bytes = config.first_bucket_bytes;
  plan_options.bucket_cap_bytes = config.bucket_cap_bytes;
  std::vector<comm::TensorSpec> specs;
  const std::vector<std::string> names = model->parameter_names();
  const std::vector<at::Tensor> params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    specs.push_back({names[i], params[i].numel(),
                     static_cast<int>(params[i].element_size()), true});
  }
  const comm::BucketPlan full_plan =
      comm::BucketPlan::Build(specs, plan_options);
  std::vector<int64_t> bucket_bytes;
  for (const comm::Bucket& b : full_plan.buckets())
    bucket_bytes.push_back(b.bytes);
  const bool need_profile = !config.resume;
  if (need_profile) {
    Batch first = loader->MakeBatch(0, 0);
    ASSIGN_OR_RETURN(profile,
                     ProfileStartup(*model, first.images, first.labels, *comm,
                                    bucket_bytes, config.profile_repeats));
  }

  comm::ReducerOptions ro;
  ro.plan = plan_options;
  if (!config.comm_mode.empty()) {
    ASSIGN_OR_RETURN(ro.mode, comm::ParseProgressMode(config.comm_mode));
  }
  ASSIGN_OR_RETURN(reducer,
                   comm::GradientReducer::Create(comm, params, names, ro));
  run_config.set_comm_mode(comm::ProgressModeName(reducer->mode()));
  sgd = std::make_unique<Sgd>(params,
                              SgdOptions{config.momentum, config.weight_decay});
  runner = std::make_unique<StepRunner>(model.get(), reducer.get(), sgd.get(),
                                        stats.get());
  frozen.assign(model->num_units(), false);

  if (config.resume) {
    RETURN_IF_ERROR(Resume());
  } else {
    freeze::FreezeDecision initial = freezer->Initial(frozen);
    RETURN_IF_ERROR(runner->SetFrozen(frozen));
    // Recorded below, once the trace exists (before step 0).
    if (!initial.decision.empty()) initial_decision = initial;
  }
  if (config.cache) {
    RETURN_IF_ERROR(SetupCache(need_profile ? &profile : nullptr));
  }

  if (rank != 0 || !config.write_trace) return absl::OkStatus();
  const std::string trace_path = absl::StrCat(config.out, "/trace.pb");
  if (config.resume) {
    ASSIGN_OR_RETURN(
        recorder, TraceRecorder::Resume(trace_path, start_step, start_epoch));
    return absl::OkStatus();
  }
  trace::Header header;
  header.set_schema_version(trace::kSchemaVersion);
  *header.mutable_config() = run_config;
  for (const UnitSpec& u : model->units()) {
    trace::Unit* tu = header.add_units();
    tu->set_name(u.name);
    tu->set_params(u.num_params);
    tu->set_bytes(u.num_params * 4);
    tu->set_forward_flops_per_sample(u.forward_flops_per_sample);
    tu->set_is_classifier(u.is_classifier);
    tu->set_output_elements_per_sample(u.output_elements_per_sample);
  }
  std::vector<int> param_unit(params.size(), -1);
  for (int u = 0; u < model->num_units(); ++u) {
    for (int p : model->unit(u).params) param_unit[p] = u;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    trace::Param* tp = header.add_params();
    tp->set_name(names[i]);
    tp->set_numel(params[i].numel());
    tp->set_element_bytes(static_cast<int>(params[i].element_size()));
    tp->set_unit(param_unit[i]);
  }
  trace::Machine* m = header.mutable_machine();
  m->set_cores(env.cores);
  m->set_threads_per_rank(threads);
  m->set_cpu_model(CpuModel());
  m->set_hostname(env.hostname);
  auto lib = [&](const char* name, std::string version) {
    trace::LibraryVersion* l = header.add_libraries();
    l->set_name(name);
    l->set_version(std::move(version));
  };
  lib("libtorch", TORCH_VERSION);
  lib("protobuf",
      google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
  lib("abseil", absl::StrCat(ABSL_LTS_RELEASE_VERSION));
  header.set_revision(env.revision);
  header.set_start_unix_ns(UnixNowNs());
  if (!config.calibration.empty()) {
    absl::StatusOr<comm::Calibration> cal =
        comm::ReadCalibration(config.calibration);
    if (!cal.ok()) {
      return absl::Status(
          cal.status().code(),
          absl::StrCat("--calibration: ", cal.status().message()));
    }
    trace::NetworkCalibration* n = header.mutable_network();
    n->set_source(config.calibration);
    n->set_ranks(cal->world_size());
    n->set_alpha_s(cal->alpha_s());
    n->set_beta_s_per_byte(cal->beta_s_per_byte());
    n->set_r2(cal->r_squared());
    n->set_transport(cal->transport());
    for (const comm::CalibrationPoint& p : cal->points()) {
      trace::AllReducePoint* tp = n->add_points();
      tp->set_bytes(p.bytes());
      tp->set_ns(static_cast<int64_t>(p.median_s() * 1e9));
    }
  }
  ASSIGN_OR_RETURN(recorder, TraceRecorder::Create(trace_path, header));
  RETURN_IF_ERROR(recorder->WriteProfile(profile));
  (void)startup_start;
  return absl::OkStatus();
}

absl::Status Trainer::Impl::SetupCache(const trace::StartupProfile* profile) {
  // Each rank caches its own shard, in memory up to the budget and in its own
  // spill file beyond it. A resumed run starts with an empty cache and fills
  // it again (the results do not depend on the cache).
  ActivationCacheOptions o;
  o.memory_budget_bytes = config.cache_mem_mb << 20;
  o.spill_path =
      absl::StrCat(config.out, "/activation_cache.rank", rank, ".spill");
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
    for (const trace::UnitProfile& u : profile->units()) {
      cost.push_back(static_cast<double>(u.forward_nograd_ns()) /
                     static_cast<double>(profile->batch_size()));
    }
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

absl::Status Trainer::Impl::Resume() {
  ASSIGN_OR_RETURN(CheckpointInfo info, ReadCheckpointInfo(checkpoint_dir));
  const std::string expected = ResumeFingerprint(config);
  if (info.fingerprint != expected) {
    return absl::FailedPreconditionError(
        absl::StrCat("--resume: the checkpoint in ", checkpoint_dir,
                     " was made with another configuration.\ncheckpoint:\n",
                     info.fingerprint, "\nthis run:\n", expected));
  }
  RETURN_IF_ERROR(
      LoadWeights(absl::StrCat(checkpoint_dir, "/", info.model_file), *model));
  ASSIGN_OR_RETURN(RankState state,
                   ReadRankState(checkpoint_dir, rank, info.epochs_done));
  RETURN_IF_ERROR(sgd->LoadMomentum(state.momentum));
  if (!state.stats.local.empty()) {
    RETURN_IF_ERROR(stats->LoadState(state.stats));
  }
  RETURN_IF_ERROR(freezer->LoadState(state.freezer_state));
  if (state.frozen.size() != frozen.size()) {
    return absl::DataLossError("checkpoint frozen set does not fit the model");
  }
  frozen = state.frozen;
  RETURN_IF_ERROR(runner->SetFrozen(frozen));
  const int64_t startup = summary.startup_ns;
  summary = state.summary;
  summary.startup_ns += startup;
  summary.policy = config.policy;
  summary.ranks = ranks;
  summary.threads = threads;
  summary.epochs = config.epochs;
  start_epoch = state.epochs_done;
  start_step = state.global_step;
  Log(absl::StrCat("resumed from ", checkpoint_dir, " after epoch ",
                   start_epoch, " (step ", start_step, ")"));
  return absl::OkStatus();
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
      "step ", d.apply_step, " (epoch ", d.epoch, "): ",
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
  absl::Status written;
  if (rank == 0) {
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
  const int64_t done = summary.steps;
  const double eta =
      done > 0 ? total_s / static_cast<double>(done) *
                     static_cast<double>(total_steps - start_step - done)
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

absl::Status Trainer::Impl::RunStep(int epoch, int64_t step_in_epoch,
                                    int64_t global_step,
                                    int64_t& epoch_train_ns,
                                    double& epoch_loss_sum) {
  const int64_t t0 = NowNs();
  Batch batch = loader->Next();
  const int64_t data_ns = NowNs() - t0;
  const double lr = schedule->At(global_step);
  std::vector<bool> trained(frozen.size());
  for (size_t u = 0; u < frozen.size(); ++u) trained[u] = !frozen[u];

  // With the cache, the step starts after the frozen prefix when the cache
  // provides (or computes) the prefix's output for the whole batch.
  PreparedInput prepared;
  if (cache != nullptr) {
    prepared = cache->Prepare(batch.indices, batch.variants, batch.images);
  } else {
    prepared.input = batch.images;
  }
  ASSIGN_OR_RETURN(
      StepReport report,
      runner->Step(prepared.input, prepared.start_unit, batch.labels, lr));
  CacheStepStats& cache_stats = prepared.stats;
  if (cache != nullptr) {
    int64_t store_ns = 0;
    if (prepared.store_prefix_output) {
      const int64_t ts = NowNs();
      cache->Store(batch.indices, batch.variants, report.prefix_output,
                   &cache_stats);
      store_ns = NowNs() - ts;
    }
    // Cache reads and writes and the prefix forward of misses are forward
    // time.
    report.forward_ns += prepared.ns + store_ns;
    for (size_t u = 0; u < prepared.unit_forward_ns.size() &&
                       u < report.unit_forward_ns.size();
         ++u) {
      report.unit_forward_ns[u] += prepared.unit_forward_ns[u];
    }
  }
  const int64_t batch_size = batch.labels.size(0);
  stats->EndStep(batch_size, report.loss * static_cast<double>(batch_size),
                 trained);

  // End of a base interval: statistics, then the policy.
  int64_t interval_ns = 0;
  std::optional<trace::Interval> interval_record;
  std::optional<freeze::FreezeDecision> decision;
  const int T = config.stats_interval;
  if ((global_step + 1) % T == 0) {
    const int64_t ti = NowNs();
    const int64_t index = (global_step + 1) / T - 1;
    ASSIGN_OR_RETURN(
        freeze::BaseIntervalStats bis,
        stats->FinishInterval(index, global_step + 1 - T, global_step, epoch,
                              static_cast<double>(global_step + 1) /
                                  static_cast<double>(total_steps)));
    if (recorder != nullptr)
      interval_record = freeze_trace::ToTraceInterval(bis);
    freeze::VoteExchange exchange =
        [this](const std::vector<freeze::Vote>& mine)
        -> absl::StatusOr<std::vector<freeze::Vote>> {
      ASSIGN_OR_RETURN(std::vector<std::string> all,
                       comm->AllGatherBytes(freeze_trace::EncodeVotes(mine)));
      std::vector<freeze::Vote> votes;
      for (const std::string& bytes : all) {
        RETURN_IF_ERROR(freeze_trace::DecodeVotes(bytes, votes));
      }
      return votes;
    };
    ASSIGN_OR_RETURN(decision, freezer->OnBaseInterval(bis, frozen, exchange));
    interval_ns = NowNs() - ti;
  }
  const int64_t total_ns = NowNs() - t0;

  // Every rank's loss and step time (and cache counts), for the trace and
  // the summary (one small all-gather).
  std::vector<double> mine = {report.loss, static_cast<double>(total_ns)};
  if (cache != nullptr) {
    mine.push_back(static_cast<double>(cache_stats.hits));
    mine.push_back(static_cast<double>(cache_stats.misses));
    mine.push_back(cache_stats.disabled ? 1.0 : 0.0);
  }
  const int per_rank = static_cast<int>(mine.size());
  std::vector<double> all(per_rank * ranks);
  RETURN_IF_ERROR(comm->AllGather(mine.data(), per_rank, comm::DType::kFloat64,
                                  all.data()));
  double loss_mean = 0, max_total = 0;
  bool cache_disabled_anywhere = false;
  for (int r = 0; r < ranks; ++r) {
    loss_mean += all[per_rank * r] / ranks;
    max_total = std::max(max_total, all[per_rank * r + 1]);
    if (cache != nullptr) {
      summary.cache_hits += static_cast<int64_t>(all[per_rank * r + 2]);
      summary.cache_misses += static_cast<int64_t>(all[per_rank * r + 3]);
      cache_disabled_anywhere |= all[per_rank * r + 4] != 0;
    }
  }
  summary.cache_forward_saved_ns += cache_stats.forward_saved_ns;
  summary.cache_disabled |= cache_disabled_anywhere;

  PhaseSums& p = summary.phases;
  p.data_ns += data_ns;
  p.forward_ns += report.forward_ns;
  p.backward_ns += report.backward_ns;
  p.comm_exposed_ns += report.comm_exposed_ns;
  p.comm_total_ns += report.comm_total_ns;
  p.optimizer_ns += report.optimizer_ns;
  p.stats_ns += report.stats_ns + interval_ns;
  p.total_ns += total_ns;
  summary.steps += 1;
  summary.images += batch_size * ranks;
  summary.bytes_allreduced += report.comm.bytes;
  epoch_train_ns += total_ns;
  epoch_loss_sum += loss_mean;

  if (recorder != nullptr) {
    trace::Step s;
    s.set_step(global_step);
    s.set_epoch(epoch);
    trace::PhaseTimes* ph = s.mutable_phases();
    ph->set_data_ns(data_ns);
    ph->set_forward_ns(report.forward_ns);
    ph->set_backward_ns(report.backward_ns);
    ph->set_comm_total_ns(report.comm_total_ns);
    ph->set_comm_exposed_ns(report.comm_exposed_ns);
    ph->set_optimizer_ns(report.optimizer_ns);
    ph->set_stats_ns(report.stats_ns + interval_ns);
    ph->set_total_ns(total_ns);
    ph->set_other_ns(std::max<int64_t>(
        0, total_ns - data_ns - report.forward_ns - report.backward_ns -
               report.comm_exposed_ns - report.optimizer_ns - report.stats_ns -
               interval_ns));
    for (int64_t ns : report.unit_forward_ns) s.add_unit_forward_ns(ns);
    for (int64_t ns : report.unit_backward_ns) s.add_unit_backward_ns(ns);
    s.set_bytes_allreduced(report.comm.bytes);
    s.set_buckets(report.comm.buckets);
    for (bool t : trained) s.add_trainable(t);
    s.set_loss(loss_mean);
    for (const comm::BucketStepTiming& b : report.comm.timings) {
      trace::BucketTiming* bt = s.add_bucket_timings();
      bt->set_bytes(b.bytes);
      bt->set_ready_ns(b.ready_ns);
      bt->set_start_ns(b.start_ns);
      bt->set_done_ns(b.done_ns);
    }
    // Rank 0's cache use (like the phases), disabled if any rank's cache is
    // off.
    trace::CacheStep* c = s.mutable_cache();
    c->set_hits(cache_stats.hits);
    c->set_misses(cache_stats.misses);
    c->set_bytes_read(cache_stats.bytes_read);
    c->set_bytes_written(cache_stats.bytes_written);
    c->set_forward_saved_ns(cache_stats.forward_saved_ns);
    c->set_boundary_unit(cache_stats.boundary_unit);
    c->set_disabled(cache_disabled_anywhere);
    s.set_max_rank_total_ns(static_cast<int64_t>(max_total));
    s.set_lr(lr);
    RETURN_IF_ERROR(recorder->WriteStep(s));
    if (interval_record.has_value()) {
      RETURN_IF_ERROR(recorder->WriteInterval(*interval_record));
    }
  }
  if (decision.has_value()) RETURN_IF_ERROR(ApplyDecision(*decision));
  Progress(epoch, step_in_epoch, loss_mean, total_ns, false);
  return absl::OkStatus();
}

absl::StatusOr<RunSummary> Trainer::Impl::Run() {
  try {
    RETURN_IF_ERROR(WriteHeaderAndProfile(created_ns));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("libtorch error while starting: ",
                                            e.what_without_backtrace()));
  }
  if (initial_decision.has_value()) {
    RETURN_IF_ERROR(ApplyDecision(*initial_decision));
    initial_decision.reset();
  }
  summary.startup_ns += NowNs() - created_ns;
  if (rank == 0) {
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    opts.preserve_proto_field_names = true;
    opts.always_print_primitive_fields = true;
    if (google::protobuf::util::MessageToJsonString(run_config, &json, opts)
            .ok()) {
      RETURN_IF_ERROR(base::WriteFileAtomically(
          absl::StrCat(config.out, "/config.json"), json));
    }
    Log(absl::StrCat("training ", config.model, " on ", config.data, " (",
                     data->train.size(), " train / ", data->test.size(),
                     " test samples, ", data->num_classes, " classes), ", ranks,
                     " rank(s) x ", threads, " thread(s), batch ",
                     config.batch_size, " per rank, ", steps_per_epoch,
                     " steps per epoch, policy ", config.policy));
  }

  int64_t global_step = start_step;
  bool stop = false;
  for (int epoch = start_epoch; epoch < config.epochs && !stop; ++epoch) {
    const int64_t epoch_start = NowNs();
    int64_t epoch_train_ns = 0;
    double epoch_loss_sum = 0;
    int64_t epoch_steps = 0;
    const int64_t first =
        global_step - static_cast<int64_t>(epoch) * steps_per_epoch;
    loader->Seek(epoch, first);
    for (int64_t s = first; s < steps_per_epoch; ++s) {
      if (global_step >= total_steps) {
        stop = true;
        break;
      }
      try {
        RETURN_IF_ERROR(
            RunStep(epoch, s, global_step, epoch_train_ns, epoch_loss_sum));
      } catch (const c10::Error& e) {
        return absl::InternalError(absl::StrCat("libtorch error in step ",
                                                global_step, ": ",
                                                e.what_without_backtrace()));
      }
      ++global_step;
      ++epoch_steps;
    }
    if (global_step >= total_steps) stop = true;
    const int64_t eval_start = NowNs();
    ASSIGN_OR_RETURN(auto accuracy_loss, Evaluate());
    // Evaluation broadcast rank 0's buffers, frozen BatchNorm statistics
    // included: entries computed with this rank's old ones are stale.
    if (cache != nullptr) cache->Revalidate();
    const int64_t eval_ns = NowNs() - eval_start;
    summary.eval_ns += eval_ns;
    summary.test_accuracy_per_epoch.push_back(accuracy_loss.first);
    summary.test_loss_per_epoch.push_back(accuracy_loss.second);
    Log(absl::StrFormat(
        "epoch %d/%d: train loss %.4f, test accuracy %.4f, test loss %.4f, "
        "%.1f s training, %.1f s evaluation",
        epoch + 1, config.epochs,
        epoch_steps > 0 ? epoch_loss_sum / epoch_steps : 0.0,
        accuracy_loss.first, accuracy_loss.second,
        static_cast<double>(epoch_train_ns) * 1e-9,
        static_cast<double>(eval_ns) * 1e-9));
    if (recorder != nullptr) {
      trace::Epoch e;
      e.set_epoch(epoch);
      e.set_last_step(global_step - 1);
      e.set_test_accuracy(accuracy_loss.first);
      e.set_test_loss(accuracy_loss.second);
      e.set_train_loss(epoch_steps > 0 ? epoch_loss_sum / epoch_steps : 0.0);
      e.set_train_ns(epoch_train_ns);
      e.set_eval_ns(eval_ns);
      e.set_wall_ns(NowNs() - epoch_start);
      RETURN_IF_ERROR(recorder->WriteEpoch(e));
    }
    if (!stop || epoch + 1 == config.epochs) {
      RETURN_IF_ERROR(Checkpoint(epoch + 1, global_step));
    }
    if (config.stop_after_epochs > 0 && epoch + 1 >= config.stop_after_epochs &&
        epoch + 1 < config.epochs) {
      // As if the run died here: no final model, summary or footer.
      Log(absl::StrCat("stopping after epoch ", epoch + 1,
                       " (--stop_after_epochs); continue with --resume"));
      if (recorder != nullptr) recorder.reset();
      return summary;
    }
  }

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
    RETURN_IF_ERROR(SaveWeights(absl::StrCat(config.out, "/model.pt"), *model));
    RETURN_IF_ERROR(
        WriteSummary(summary, absl::StrCat(config.out, "/summary.json")));
    if (!env.quiet) std::printf("%s", SummaryTable(summary).c_str());
  }
  if (recorder != nullptr) {
    trace::Footer f;
    f.set_steps(summary.steps);
    f.set_total_time_ns(summary.phases.total_ns);
    f.set_final_test_accuracy(summary.test_accuracy_per_epoch.empty()
                                  ? 0.0
                                  : summary.test_accuracy_per_epoch.back());
    f.set_startup_ns(summary.startup_ns);
    f.set_eval_ns(summary.eval_ns);
    f.set_bytes_allreduced(summary.bytes_allreduced);
    RETURN_IF_ERROR(recorder->Finish(f));
  }
  return summary;
}

absl::StatusOr<RunSummary> Trainer::Run() { return impl_->Run(); }

std::vector<at::Tensor> Trainer::parameters() const {
  return impl_->model->parameters();
}

std::vector<std::string> Trainer::parameter_names() const {
  return impl_->model->parameter_names();
}

}  // namespace freezing::train
