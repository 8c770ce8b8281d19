// bazel run //replay -- TRACE|--trace=TRACE [--policies=all|a,b,...]
//   [--network=SPEC,...] [--world_size=N,...] [--scaling=same_data|
//   same_steps] [--interval_in=steps|epochs] [--recommend] [--max_risk=X]
//   [--straggler=RANK:FACTOR] [--jitter=FRACTION] [--shared_cores=C]
//   [--fold_frozen=recorded|true|false]
//   [--out=DIR]
//   [--chrome=FILE] [--validate] [--cache]
//
// Replays a recorded trace against freezing policies, networks and world
// sizes; prints a table, and writes DIR/replay.json and DIR/replay.csv when
// --out is given. See replay/README.md.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "base/user_path.h"
#include "replay/case_list.h"
#include "replay/chrome_export.h"
#include "replay/replay.h"
#include "sim/accuracy_risk.h"
#include "sim/cost_model.h"
#include "sim/network.h"
#include "sim/rank_skew.h"
#include "sim/step_map.h"
#include "trace/trace_reader.h"

ABSL_FLAG(std::string, trace, "", "the trace to replay (a run's trace.pb)");
ABSL_FLAG(std::string, policies, "all",
          "policies to replay: all, or freeze/ specs separated by commas "
          "(POLICY@RULE picks a vote rule; ';' also separates)");
ABSL_FLAG(std::string, network, "",
          "network models or presets, comma-separated (default: recorded "
          "when the trace has all-reduce measurements, else 1gbe)");
ABSL_FLAG(std::string, world_size, "recorded",
          "world sizes, comma-separated integers or 'recorded'");
ABSL_FLAG(std::string, out, "", "folder for replay.json and replay.csv");
ABSL_FLAG(std::string, chrome, "",
          "write the simulated steps of one case as Chrome trace JSON here");
ABSL_FLAG(int, chrome_case, 0,
          "the case (row of the table, from 0) --chrome shows");
ABSL_FLAG(int64_t, chrome_steps, 200, "steps --chrome shows (0: all)");
ABSL_FLAG(bool, validate, false,
          "predict the recorded configuration (exact replay, held-out steps, "
          "start-up profile only) and compare with the measured times");
ABSL_FLAG(double, held_in_fraction, 0.5,
          "for --validate: share of the steps (in whole base intervals) the "
          "held-out model is fitted on; it predicts the rest");
ABSL_FLAG(bool, cache, false,
          "model the activation cache of the frozen prefix");
ABSL_FLAG(int, augment_variants, -1,
          "for --cache: fixed augmentation variants per sample to assume "
          "(-1: the trace's)");
ABSL_FLAG(bool, allow_partial, false,
          "replay the valid prefix of a trace that is cut short or corrupt");
ABSL_FLAG(std::string, scaling, "same_data",
          "at other world sizes: same_data (the recorded data set and epochs: "
          "fewer steps on more ranks) or same_steps (the recorded steps, each "
          "on every rank's batch)");
ABSL_FLAG(std::string, interval_in, "steps",
          "the policy's intervals at other world sizes: steps (every T of "
          "the replayed run's steps) or epochs (where the recorded run's "
          "ended in the data)");
ABSL_FLAG(std::string, risk_proxy, "norm_share",
          "the accuracy risk shown: norm_share, unconverged, remaining_steps "
          "or lr (sim/accuracy_risk.h; replay.json has every one)");
ABSL_FLAG(bool, recommend, false,
          "also show the Pareto front of (time saved, risk) and the policy "
          "that saves most with risk <= --max_risk");
ABSL_FLAG(double, max_risk, freezing::replay::kDefaultMaxRisk,
          "the risk cap of the summary and of --recommend, in [0, 1]");
ABSL_FLAG(std::string, straggler, "",
          "RANK:FACTOR[,RANK:FACTOR]: that rank's compute takes FACTOR times "
          "as long; the collectives wait for it");
ABSL_FLAG(double, jitter, 0,
          "per-step, per-rank compute noise (its standard deviation, a "
          "fraction >= 0); the collectives wait for the slowest rank");
ABSL_FLAG(uint64_t, jitter_seed, 1, "the seed of --jitter's draws");
ABSL_FLAG(std::string, fold_frozen, "recorded",
          "recorded|true|false: the frozen prefix runs in its inference form "
          "(the trainer's --fold_frozen) or plainly under no-grad; recorded: "
          "as the trace's run did");
ABSL_FLAG(int, shared_cores, 0,
          "every rank, recorded and replayed, on one machine of this many "
          "cores (comm's emulated cluster): compute scales with the ranks "
          "sharing them; 0: each rank on a host of its own");

namespace freezing::replay {
namespace {

absl::Status RealMain() {
  const std::string trace_flag = absl::GetFlag(FLAGS_trace);
  if (trace_flag.empty()) {
    return absl::InvalidArgumentError("--trace=FILE is required");
  }
  const std::string trace_path = base::ResolveUserPath(trace_flag);
  trace::TraceContents contents = trace::ReadTrace(trace_path);
  ASSIGN_OR_RETURN(sim::CostModel model,
                   sim::FitTrace(contents, absl::GetFlag(FLAGS_allow_partial)));
  ReplayOptions options;
  ASSIGN_OR_RETURN(options.policies,
                   ParsePolicies(absl::GetFlag(FLAGS_policies), model));
  std::string networks = absl::GetFlag(FLAGS_network);
  if (networks.empty()) networks = DefaultNetworks(model);
  ASSIGN_OR_RETURN(options.networks, SplitSpecList(networks, "network"));
  ASSIGN_OR_RETURN(options.world_sizes,
                   ParseWorldSizes(absl::GetFlag(FLAGS_world_size)));
  ASSIGN_OR_RETURN(options.scaling,
                   sim::ParseScaling(absl::GetFlag(FLAGS_scaling)));
  ASSIGN_OR_RETURN(options.interval_in,
                   sim::ParseIntervalUnit(absl::GetFlag(FLAGS_interval_in)));
  ASSIGN_OR_RETURN(options.risk_proxy,
                   sim::ParseRiskProxy(absl::GetFlag(FLAGS_risk_proxy)));
  options.recommend = absl::GetFlag(FLAGS_recommend);
  options.max_risk = absl::GetFlag(FLAGS_max_risk);
  ASSIGN_OR_RETURN(options.skew.stragglers,
                   sim::ParseStragglers(absl::GetFlag(FLAGS_straggler)));
  options.skew.jitter = absl::GetFlag(FLAGS_jitter);
  options.skew.seed = absl::GetFlag(FLAGS_jitter_seed);
  options.shared_cores = absl::GetFlag(FLAGS_shared_cores);
  ASSIGN_OR_RETURN(options.fold_frozen,
                   ParseFoldFrozen(absl::GetFlag(FLAGS_fold_frozen)));
  options.cache = absl::GetFlag(FLAGS_cache);
  options.augment_variants = absl::GetFlag(FLAGS_augment_variants);
  options.validate = absl::GetFlag(FLAGS_validate);
  options.held_in_fraction = absl::GetFlag(FLAGS_held_in_fraction);
  const std::string chrome = absl::GetFlag(FLAGS_chrome);
  const int cases =
      static_cast<int>(options.policies.size() * options.networks.size() *
                       options.world_sizes.size());
  if (!chrome.empty()) {
    const int chrome_case = absl::GetFlag(FLAGS_chrome_case);
    if (chrome_case < 0 || chrome_case >= cases) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--chrome_case=", chrome_case, ": valid cases are 0..", cases - 1));
    }
    options.timeline_case = chrome_case;
    const int64_t steps = absl::GetFlag(FLAGS_chrome_steps);
    options.timeline_steps = steps > 0 ? steps : model.run().num_steps();
  }
  ASSIGN_OR_RETURN(ReplayReport report, RunReplay(model, options));
  std::fputs(FormatTable(report, model).c_str(), stdout);

  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) {
    const std::string dir = base::ResolveUserPath(out);
    RETURN_IF_ERROR(base::MakeDirs(dir));
    RETURN_IF_ERROR(base::WriteFileAtomically(absl::StrCat(dir, "/replay.json"),
                                              ToJson(report, model)));
    RETURN_IF_ERROR(base::WriteFileAtomically(absl::StrCat(dir, "/replay.csv"),
                                              ToCsv(report, model)));
    std::printf("wrote %s/replay.json and %s/replay.csv\n", dir.c_str(),
                dir.c_str());
  }
  if (!chrome.empty()) {
    const std::string path = base::ResolveUserPath(chrome);
    RETURN_IF_ERROR(base::WriteFileAtomically(
        path, ChromeTraceJson(report.results[options.timeline_case], model)));
    std::printf("wrote %s (case %d: %s, %s, world size %d)\n", path.c_str(),
                options.timeline_case,
                report.results[options.timeline_case].policy.given.c_str(),
                report.results[options.timeline_case].network.c_str(),
                report.results[options.timeline_case].world_size);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::replay

namespace {

const freezing::base::CliSpec& Cli() {
  static const auto* cli = new freezing::base::CliSpec{
      "replay",
      "replays a recorded trace against other freezing policies, world sizes "
      "and networks, offline and deterministically",
      {"bazel run //replay -- TRACE [flags]",
       "bazel run //replay -- --trace=TRACE [flags]"},
      {{"input", {"trace", "allow_partial"}},
       {"what if",
        {"policies", "network", "world_size", "scaling", "interval_in", "cache",
         "augment_variants", "straggler", "jitter", "jitter_seed",
         "shared_cores", "fold_frozen"}},
       {"accuracy risk and recommendation",
        {"risk_proxy", "recommend", "max_risk"}},
       {"validation", {"validate", "held_in_fraction"}},
       {"outputs", {"out", "chrome", "chrome_case", "chrome_steps"}}},
      {"bazel run //replay -- /tmp/run/trace.pb --policies=all "
       "--network=1gbe,10gbe --world_size=2,8,32 --out=/tmp/replay",
       "bazel run //replay -- --trace=/tmp/run/trace.pb --validate",
       "bazel run //replay -- /tmp/run/trace.pb --world_size=2,8 --recommend "
       "--max_risk=0.2"},
      "See replay/README.md.",
      /*max_positional=*/1};
  return *cli;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args =
      freezing::base::ParseCommandLineOrExit(Cli(), argc, argv);
  if (!args.empty()) {
    if (!absl::GetFlag(FLAGS_trace).empty()) {
      return freezing::base::ReportError(
          "replay", absl::InvalidArgumentError(
                        "give the trace once: as the first argument or as "
                        "--trace, not both"));
    }
    absl::SetFlag(&FLAGS_trace, args[0]);
  }
  const absl::Status status = freezing::replay::RealMain();
  if (!status.ok()) return freezing::base::ReportError("replay", status, 1);
  return 0;
}
