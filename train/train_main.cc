// bazel run //train -- [flags]: data-parallel fine-tuning with freezing.
//
// With no flags at all (or --demo [--out=DIR]) it runs the main job, a real
// fine-tuning in a few minutes on 2 cores: pre-train ResNet-18 on
// Fashion-MNIST classes 0-4 (kept in DIR/pretrain, default out/demo, and
// reused), then fine-tune it on classes 5-9 on 2 ranks with the gradient
// norm test freezing units (DIR/finetune, replaced by every demo), and print
// the summary.
//
// Before anything starts, the launcher checks the whole configuration
// (Trainer::Preflight: flags, output folder, data, model and --init, policy,
// vote rule): an error is printed once as "train: error: ..." with exit
// status 2, before mpiexec and before anything is written. Then --ranks=N
// relaunches the binary under `mpiexec -n N` unless it already runs under
// MPI (--cluster: on the emulated cluster's hosts). Relative paths are taken
// from the folder `bazel run` was started in.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "base/user_path.h"
#include "comm/abort_watchdog.h"
#include "comm/allreduce_settings.h"
#include "comm/launcher.h"
#include "comm/mpi_session.h"
#include "comm/progress_mode.h"
#include "train/output_folder.h"
#include "train/train_config.h"
#include "train/trainer.h"

ABSL_FLAG(std::string, data, "fashion_mnist",
          "fashion_mnist | fashion_mnist:DIR | cifar10:DIR | "
          "synthetic[:n=N,classes=K,...]");
ABSL_FLAG(std::string, classes, "",
          "comma-separated source classes to keep, relabelled 0..k-1 in this "
          "order (e.g. 5,6,7,8,9); empty: all");
ABSL_FLAG(int64_t, train_limit, 0, "first N training samples (0: all)");
ABSL_FLAG(int64_t, test_limit, 0, "first N test samples (0: all)");
ABSL_FLAG(std::string, partition, "iid",
          "iid | sorted | dirichlet:alpha=A[,min_size=M]");
ABSL_FLAG(bool, augment, true, "random crop 32 (padding 4) + horizontal flip");
ABSL_FLAG(int, augment_variants, 0,
          "K > 0: K fixed augmentations per sample, an epoch uses one chosen "
          "by (seed, epoch, sample) (cacheable); 0: a fresh one every epoch "
          "(not cacheable)");
ABSL_FLAG(int, epochs, 1, "epochs");
ABSL_FLAG(int, batch_size, 64, "batch size per rank");
ABSL_FLAG(int64_t, max_steps, 0, "stop after this many steps (0: all)");
ABSL_FLAG(int, stop_after_epochs, 0,
          "stop as if killed after this many epochs (then use --resume)");
ABSL_FLAG(double, lr, 0.1, "learning rate");
ABSL_FLAG(double, momentum, 0.9, "SGD momentum");
ABSL_FLAG(double, weight_decay, 1e-4, "SGD weight decay");
ABSL_FLAG(std::string, lr_schedule, "constant",
          "constant | step[:every=E,gamma=G] | cosine");
ABSL_FLAG(int, ranks, 1, "data-parallel ranks (relaunches under mpiexec)");
ABSL_FLAG(bool, cluster, false, freezing::comm::kClusterFlagHelp);
ABSL_FLAG(int, threads, 0,
          "threads per rank (0: cores / ranks on this host; with --cluster, "
          "/ all ranks, which share this machine)");
ABSL_FLAG(std::string, model, "resnet18",
          "resnet18 | resnet34 | resnet50 | resnet_tiny | mlp | vit_mini | "
          "vit_tiny | vit_b_16 (train/models/README.md)");
ABSL_FLAG(std::string, stem, "imagenet",
          "imagenet (7x7/2 conv + max-pool, the study's) | cifar (3x3 conv)");
ABSL_FLAG(int, in_channels, 3, "input channels of the model (1 or 3)");
ABSL_FLAG(int, image_size, 32,
          "height = width of the model's input (smaller images are centred "
          "on a black canvas)");
ABSL_FLAG(int, patch_size, 0,
          "ViTs: side of a square patch, dividing --image_size (0: 4 below "
          "224 pixels, 16 from 224 on)");
ABSL_FLAG(std::string, init, "",
          "initial weights: a checkpoint/model.pt of this project, a run's "
          "output folder, or a TorchScript archive from "
          "tools/export_torchvision.py");
ABSL_FLAG(std::string, init_exclude, "",
          "comma-separated tensor name prefixes not loaded from --init "
          "(e.g. fc. for another number of classes)");
ABSL_FLAG(std::string, policy, "none",
          "freezing policy: none | static:K | gradnorm | autofreeze | "
          "threshold | freezeout | pipetransformer | apf, with options "
          "name:key=value,... (freeze/README.md); a policy decides every "
          "interval=N steps, a multiple of --stats_interval (default: "
          "--stats_interval), and says at start-up when the run is too short "
          "for it to decide");
ABSL_FLAG(std::string, vote_rule, "global",
          "global | majority | samples | loss | snr");
ABSL_FLAG(std::string, freeze_unit, "child",
          "child (the study's 7 groups; ViTs: embedding, each encoder block, "
          "head) | block (stem, each residual block, fc; ViTs: the attention "
          "and MLP halves of each block)");
ABSL_FLAG(int, stats_interval, 20,
          "base statistics interval T, in steps: gradient statistics are "
          "recorded every T steps, and policy intervals are multiples of it");
ABSL_FLAG(int, stats_window, 4,
          "W: norms of windows of up to W base intervals are recorded");
ABSL_FLAG(uint64_t, seed, 1, "seed of initialisation, shuffles, augmentation");
ABSL_FLAG(std::string, comm_mode, "",
          "all-reduce progress: hooks | thread | sync (default: fastest)");
ABSL_FLAG(std::string, allreduce_algorithm, "auto",
          "auto (ring across hosts, MPICH's own choice on one host) | ring | "
          "mpich (MPICH's own choice by message and world size); measured: "
          "comm/README.md");
ABSL_FLAG(double, bucket_cap_mb, 25, "all-reduce bucket cap, MiB");
ABSL_FLAG(double, first_bucket_mb, 1, "first all-reduce bucket cap, MiB");
ABSL_FLAG(std::string, calibration, "",
          "comm:calibrate file to record in the trace header");
ABSL_FLAG(int, profile_repeats, 3, "start-up profile repeats");
ABSL_FLAG(std::string, memory_format, "auto",
          "auto | channels_last | contiguous: memory format of the model and "
          "its activations (auto: channels_last for models with 4-d "
          "activations, the ResNets; recorded in the trace header)");
ABSL_FLAG(bool, fold_frozen, true,
          "run the frozen prefix in its inference form (BatchNorm folded into "
          "the convolutions, ReLU fused, weights prepacked)");
ABSL_FLAG(bool, cache, false,
          "cache the frozen prefix's output per (sample, augmentation "
          "variant) and skip its forward; needs --augment_variants=K or "
          "--augment=false (see train/README.md)");
ABSL_FLAG(int64_t, cache_mem_mb, 1024,
          "activation cache memory per rank, MiB; beyond it entries spill to "
          "OUT/activation_cache.rank<R>.spill");
ABSL_FLAG(std::string, out, "",
          "output folder (created; required unless --demo): summary.json, "
          "config.json, trace.pb, model.pt, checkpoint/");
ABSL_FLAG(bool, resume, false,
          "continue the run in --out from its last checkpoint (same flags; "
          "a larger --epochs trains a finished run further)");
ABSL_FLAG(bool, overwrite, false,
          "replace the run in --out, once this run has started (without it "
          "a folder that holds a run is refused)");
ABSL_FLAG(bool, demo, false,
          "the main job (what no flags at all run): pre-train and fine-tune "
          "on Fashion-MNIST on 2 ranks, into --out, or out/demo without it");
ABSL_FLAG(bool, checkpoints, true,
          "write OUT/checkpoint/ every epoch (needed for --resume)");
ABSL_FLAG(int, log_every, 0, "steps between progress lines (0: automatic)");

namespace freezing::train {
namespace {

absl::StatusOr<std::vector<int>> ParseInts(const std::string& flag,
                                           const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part,
                       "' is not an integer (expected e.g. 5,6,7)"));
    }
    out.push_back(v);
  }
  return out;
}

std::string Revision() {
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string dir = ws != nullptr ? ws : ".";
  const std::string cmd =
      absl::StrCat("git -C '", dir, "' describe --always --dirty 2>/dev/null");
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return out.empty() ? "unknown" : out;
}

absl::StatusOr<TrainConfig> ConfigFromFlags() {
  TrainConfig c;
  c.data = absl::GetFlag(FLAGS_data);
  ASSIGN_OR_RETURN(c.classes,
                   ParseInts("classes", absl::GetFlag(FLAGS_classes)));
  c.train_limit = absl::GetFlag(FLAGS_train_limit);
  c.test_limit = absl::GetFlag(FLAGS_test_limit);
  c.partition = absl::GetFlag(FLAGS_partition);
  c.augment = absl::GetFlag(FLAGS_augment);
  c.augment_variants = absl::GetFlag(FLAGS_augment_variants);
  c.epochs = absl::GetFlag(FLAGS_epochs);
  c.batch_size = absl::GetFlag(FLAGS_batch_size);
  c.max_steps = absl::GetFlag(FLAGS_max_steps);
  c.stop_after_epochs = absl::GetFlag(FLAGS_stop_after_epochs);
  c.lr = absl::GetFlag(FLAGS_lr);
  c.momentum = absl::GetFlag(FLAGS_momentum);
  c.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  c.lr_schedule = absl::GetFlag(FLAGS_lr_schedule);
  c.ranks = absl::GetFlag(FLAGS_ranks);
  c.threads = absl::GetFlag(FLAGS_threads);
  c.model = absl::GetFlag(FLAGS_model);
  c.stem = absl::GetFlag(FLAGS_stem);
  c.in_channels = absl::GetFlag(FLAGS_in_channels);
  c.image_size = absl::GetFlag(FLAGS_image_size);
  c.patch_size = absl::GetFlag(FLAGS_patch_size);
  c.init = absl::GetFlag(FLAGS_init).empty()
               ? ""
               : base::ResolveUserPath(absl::GetFlag(FLAGS_init));
  c.init_exclude =
      absl::StrSplit(absl::GetFlag(FLAGS_init_exclude), ',', absl::SkipEmpty());
  c.policy = absl::GetFlag(FLAGS_policy);
  c.vote_rule = absl::GetFlag(FLAGS_vote_rule);
  c.freeze_unit = absl::GetFlag(FLAGS_freeze_unit);
  c.stats_interval = absl::GetFlag(FLAGS_stats_interval);
  c.stats_window = absl::GetFlag(FLAGS_stats_window);
  c.seed = absl::GetFlag(FLAGS_seed);
  c.comm_mode = absl::GetFlag(FLAGS_comm_mode);
  c.allreduce_algorithm = absl::GetFlag(FLAGS_allreduce_algorithm);
  c.bucket_cap_bytes =
      static_cast<int64_t>(absl::GetFlag(FLAGS_bucket_cap_mb) * (1 << 20));
  c.first_bucket_bytes =
      static_cast<int64_t>(absl::GetFlag(FLAGS_first_bucket_mb) * (1 << 20));
  c.calibration = absl::GetFlag(FLAGS_calibration).empty()
                      ? ""
                      : base::ResolveUserPath(absl::GetFlag(FLAGS_calibration));
  c.profile_repeats = absl::GetFlag(FLAGS_profile_repeats);
  c.cache = absl::GetFlag(FLAGS_cache);
  c.cache_mem_mb = absl::GetFlag(FLAGS_cache_mem_mb);
  c.memory_format = absl::GetFlag(FLAGS_memory_format);
  c.fold_frozen = absl::GetFlag(FLAGS_fold_frozen);
  c.out = absl::GetFlag(FLAGS_out).empty()
              ? ""
              : base::ResolveUserPath(absl::GetFlag(FLAGS_out));
  c.resume = absl::GetFlag(FLAGS_resume);
  c.overwrite = absl::GetFlag(FLAGS_overwrite);
  c.checkpoints = absl::GetFlag(FLAGS_checkpoints);
  c.log_every = absl::GetFlag(FLAGS_log_every);
  RETURN_IF_ERROR(ValidateConfig(c));
  return c;
}

// The main job: pre-train on classes 0-4, fine-tune on 5-9 with freezing,
// into `folder` (pretrain/ is reused, finetune/ replaced every time).
std::vector<TrainConfig> DemoConfigs(const std::string& folder) {
  const std::string out = base::ResolveUserPath(folder);
  TrainConfig pre;
  pre.data = "fashion_mnist";
  pre.classes = {0, 1, 2, 3, 4};
  pre.train_limit = 12000;
  pre.test_limit = 2000;
  pre.epochs = 1;
  pre.ranks = 2;
  pre.out = out + "/pretrain";
  pre.overwrite = true;  // an interrupted pre-training is started again
  TrainConfig fine = pre;
  fine.classes = {5, 6, 7, 8, 9};
  fine.train_limit = 8000;
  fine.epochs = 3;
  fine.init = out + "/pretrain/model.pt";
  // The study's test in its prefix variant after two warm-up epochs (62
  // steps each): in a run this short the single-unit variant rarely sees
  // conv1 as the argmin, and freezing during the first epoch, while lr 0.1
  // still shakes the transferred features, locks in a poor model (57% test
  // accuracy with warmup=60 against 77% with warmup=120, 2026-11-25).
  fine.policy = "gradnorm:variant=prefix,interval=20,warmup=120";
  fine.stats_interval = 10;
  fine.out = out + "/finetune";
  return {pre, fine};
}

// A watchdog for a run on more than one rank (comm/abort_watchdog.h): a
// rank that hears nothing from a cut-off peer ends, and with it the job.
std::unique_ptr<comm::AbortWatchdog> StartWatchdog(
    const comm::Communicator& world, const RunEnvironment& env) {
  bool enabled = false;
  comm::AbortWatchdog::Options o =
      comm::AbortWatchdog::OptionsFromEnvironment(&enabled);
  if (world.size() < 2 || !enabled) return nullptr;
  return comm::AbortWatchdog::Start(
      absl::StrCat("[rank ", world.rank(), "/", world.size(), " on ",
                   env.hostname, "]"),
      std::move(o));
}

absl::Status RunOne(const TrainConfig& config, comm::Communicator& world,
                    RunEnvironment env) {
  const std::unique_ptr<comm::AbortWatchdog> watchdog =
      StartWatchdog(world, env);
  env.watchdog = watchdog.get();
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, world, env));
  ASSIGN_OR_RETURN(RunSummary summary, trainer->Run());
  (void)summary;
  if (world.rank() == 0 && !env.quiet) {
    std::printf(
        "outputs in %s (summary.json, config.json, trace.pb, "
        "model.pt, checkpoint/)\n",
        config.out.c_str());
  }
  return absl::OkStatus();
}

const base::CliSpec& Cli() {
  static const auto* cli = new base::CliSpec{
      "train",
      "data-parallel fine-tuning with layer freezing, recorded as a trace",
      {"bazel run //train -- [flags]",
       "bazel run //train   (no flags: the demo, into out/demo; see --demo)"},
      {{"data",
        {"data", "classes", "train_limit", "test_limit", "partition", "augment",
         "augment_variants", "cache", "cache_mem_mb"}},
       {"model",
        {"model", "stem", "in_channels", "image_size", "patch_size",
         "freeze_unit", "init", "init_exclude", "memory_format",
         "fold_frozen"}},
       {"optimizer",
        {"epochs", "batch_size", "lr", "lr_schedule", "momentum",
         "weight_decay", "max_steps", "seed"}},
       {"freezing", {"policy", "vote_rule", "stats_interval", "stats_window"}},
       {"distributed",
        {"ranks", "cluster", "threads", "comm_mode", "allreduce_algorithm",
         "bucket_cap_mb", "first_bucket_mb"}},
       {"outputs",
        {"out", "resume", "overwrite", "checkpoints", "stop_after_epochs",
         "log_every", "calibration", "profile_repeats", "demo"}}},
      {"bazel run //train -- --classes=0,1,2,3,4 --train_limit=12000 "
       "--out=/tmp/pretrain",
       "bazel run //train -- --classes=5,6,7,8,9 --init=/tmp/pretrain "
       "--epochs=3 --ranks=2 --policy=gradnorm --out=/tmp/run"},
      "Relative paths are taken from the folder bazel run was typed in. "
      "Outputs: OUT/summary.json (the study's Table 1), config.json, "
      "trace.pb (bazel run //trace:trace_tool -- info OUT/trace.pb), "
      "model.pt (--init accepts it), checkpoint/ (--resume). More: "
      "train/README.md, freeze/README.md (policies), comm/README.md "
      "(several hosts).",
      /*max_positional=*/0};
  return *cli;
}

// --demo takes --out and nothing else: its configuration is fixed.
absl::Status CheckDemoFlags() {
  std::vector<std::string> given;
  for (const std::string& name : base::BinaryFlagNames()) {
    if (name == "demo" || name == "out") continue;
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag->CurrentValue() != flag->DefaultValue()) {
      given.push_back(absl::StrCat("--", name));
    }
  }
  if (given.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--demo runs a fixed configuration and takes only --out; drop ",
      absl::StrJoin(given, ", "), ", or drop --demo to train with them"));
}

// The runs of this invocation, checked: the demo's two, or the flags' one
// (Trainer::Preflight finds every configuration error before MPI starts;
// the ranks of a relaunch were checked by the launcher). Empty: nothing to
// do (a finished run resumed), said on stdout.
absl::StatusOr<std::vector<TrainConfig>> Configs(bool demo) {
  if (demo) {
    RETURN_IF_ERROR(CheckDemoFlags());
    const std::string out = absl::GetFlag(FLAGS_out);
    return DemoConfigs(out.empty() ? "out/demo" : out);
  }
  ASSIGN_OR_RETURN(TrainConfig c, ConfigFromFlags());
  if (!comm::UnderMpiexec()) {
    ASSIGN_OR_RETURN(const OutputPlan plan, Trainer::Preflight(c));
    if (plan.action == FolderAction::kFinished) {
      std::printf("%s\n", FinishedRunNote(plan).c_str());
      return std::vector<TrainConfig>();
    }
  }
  return std::vector<TrainConfig>{c};
}

int RealMain(int argc, char** argv) {
  base::ParseCommandLineOrExit(Cli(), argc, argv);
  const bool demo = argc == 1 || absl::GetFlag(FLAGS_demo);
  absl::StatusOr<std::vector<TrainConfig>> configs = Configs(demo);
  if (!configs.ok()) return base::ReportError("train", configs.status());
  if (configs->empty()) return 0;
  comm::LaunchOptions launch;
  launch.ranks = configs->front().ranks;
  launch.cluster = absl::GetFlag(FLAGS_cluster);
  if (absl::Status s =
          comm::PinAllReduceAlgorithm(configs->front().allreduce_algorithm,
                                      comm::SpansSeveralHosts(launch));
      !s.ok()) {
    return base::ReportError("train", s);
  }
  if (absl::Status s = comm::RelaunchUnderMpiexec(launch, argc, argv);
      !s.ok()) {
    return base::ReportError("train", s);
  }
  comm::ThreadLevel level = comm::ThreadLevel::kFunneled;
  if (!configs->front().comm_mode.empty()) {
    absl::StatusOr<comm::ProgressMode> mode =
        comm::ParseProgressMode(configs->front().comm_mode);
    if (!mode.ok()) {
      return base::ReportError(
          "train", absl::InvalidArgumentError(
                       absl::StrCat("--comm_mode: ", mode.status().message())));
    }
    level = comm::RequiredThreadLevel(*mode);
  }
  absl::StatusOr<std::unique_ptr<comm::MpiSession>> session =
      comm::MpiSession::Init(level, level);
  if (!session.ok()) return base::ReportError("train", session.status(), 1);
  // What the job runs (auto resolved: ring or mpich); the trace records it.
  for (TrainConfig& c : *configs) {
    c.allreduce_algorithm = comm::AllReduceAlgorithmInEffect();
  }
  RunEnvironment env;
  env.hostname = (*session)->processor_name();
  env.revision = Revision();
  env.tty = ::isatty(1) != 0;
  for (size_t i = 0; i < configs->size(); ++i) {
    const TrainConfig& c = (*configs)[i];
    if (demo && i == 0 && ::access((c.out + "/model.pt").c_str(), R_OK) == 0) {
      if ((*session)->rank() == 0) {
        std::printf("reusing the pre-trained model in %s/model.pt\n",
                    c.out.c_str());
      }
      continue;
    }
    if (demo && (*session)->rank() == 0) {
      std::printf("== %s ==\n", i == 0 ? "pre-training on classes 0-4"
                                       : "fine-tuning on classes 5-9");
    }
    absl::Status s = RunOne(c, (*session)->world(), env);
    if (!s.ok()) comm::MpiSession::AbortJob(s);
  }
  return (*session)->Finalize().ok() ? 0 : 1;
}

}  // namespace
}  // namespace freezing::train

int main(int argc, char** argv) {
  return freezing::train::RealMain(argc, argv);
}
