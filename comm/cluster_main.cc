// An emulated cluster of several hosts on this machine (as root):
//
//   bazel run //comm:cluster -- up --hosts=2 --rate=1gbit [--delay_us=D]
//       [--burst=B] [--subnet=A.B.C.0/24]
//   bazel run //comm:cluster -- status
//   bazel run //comm:cluster -- down
//
// then `--ranks=N --cluster` on any binary of the project runs its ranks on
// the hosts (comm/launcher.h). --rate: one rate for every host or one per
// host (1gbit,1gbit,250mbit: a straggler). The cluster is named by --name,
// default $FREEZING_CLUSTER or "h" (hosts h1, h2, ...). Exit codes: 0 done,
// 1 failed, 2 refused (usage, not root, ip/tc missing, --delay_us without
// netem in the kernel).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "comm/cluster_plan.h"
#include "comm/cluster_setup.h"
#include "comm/cluster_spec.h"

ABSL_FLAG(std::string, name, "",
          "the cluster's name and its hosts' prefix (default: "
          "$FREEZING_CLUSTER, else h: hosts h1, h2, ...)");
ABSL_FLAG(int, hosts, 2, "up: number of hosts");
ABSL_FLAG(std::string, rate, "1gbit",
          "up: each host's link rate, both directions (tc units: bit, kbit, "
          "mbit, gbit); one for all hosts or a comma list, one per host");
ABSL_FLAG(std::string, burst, "",
          "up: token bucket depth in bytes (e.g. 256kb); default 2 ms of the "
          "rate, at least 64kb");
ABSL_FLAG(int64_t, delay_us, 0,
          "up: delay added to every packet a host sends (needs the kernel's "
          "netem)");
ABSL_FLAG(std::string, subnet, "",
          "up: the cluster's A.B.C.0/24 (default: the first free "
          "10.213.X.0/24)");

namespace freezing::comm {
namespace {

constexpr int kRefused = 2;

// Bad options and what this machine cannot do (no netem) are refusals.
int Fail(const absl::Status& s) {
  return base::ReportError("cluster", s,
                           s.code() == absl::StatusCode::kInvalidArgument ||
                                   s.code() == absl::StatusCode::kUnimplemented
                               ? kRefused
                               : 1);
}

const base::CliSpec& Cli() {
  static const auto* cli = new base::CliSpec{
      "cluster",
      "an emulated cluster of several hosts on this machine (as root)",
      {"bazel run //comm:cluster -- up|down|status [flags]",
       "then any binary with --ranks=N --cluster runs its ranks on the hosts"},
      {{"cluster", {"name"}},
       {"up", {"hosts", "rate", "burst", "delay_us", "subnet"}}},
      {"bazel run //comm:cluster -- up --hosts=2 --rate=1gbit",
       "bazel run //comm:cluster -- down"},
      "Exit status: 0 done, 1 failed, 2 refused (usage, not root, ip/tc "
      "missing, no netem for --delay_us). See comm/README.md, \"Several "
      "hosts on one machine\".",
      /*max_positional=*/1};
  return *cli;
}

absl::StatusOr<ClusterOptions> OptionsFromFlags(const std::string& name) {
  ClusterOptions o;
  o.name = name;
  o.hosts = absl::GetFlag(FLAGS_hosts);
  if (o.hosts < 1 || o.hosts > kMaxClusterHosts) {
    return absl::InvalidArgumentError(
        absl::StrCat("--hosts=", o.hosts, ": from 1 to ", kMaxClusterHosts));
  }
  absl::StatusOr<std::vector<int64_t>> rates =
      ParseRates(absl::GetFlag(FLAGS_rate), o.hosts);
  if (!rates.ok()) return rates.status();
  o.rates_bps = *rates;
  if (!absl::GetFlag(FLAGS_burst).empty()) {
    absl::StatusOr<int64_t> burst = ParseBurst(absl::GetFlag(FLAGS_burst));
    if (!burst.ok()) return burst.status();
    o.burst_bytes = *burst;
  }
  o.delay_us = absl::GetFlag(FLAGS_delay_us);
  o.subnet = absl::GetFlag(FLAGS_subnet);
  return o;
}

int RealMain(int argc, char** argv) {
  const std::vector<std::string> args =
      base::ParseCommandLineOrExit(Cli(), argc, argv);
  if (args.size() != 1) {
    return Fail(absl::InvalidArgumentError(
        "no command: cluster up --hosts=N --rate=RATE[,RATE...] | down | "
        "status"));
  }
  const std::string verb = args[0];
  const std::string name = absl::GetFlag(FLAGS_name).empty()
                               ? ClusterNameFromEnv()
                               : absl::GetFlag(FLAGS_name);
  if (absl::Status s = ValidateClusterName(name); !s.ok()) return Fail(s);
  if (verb != "up" && verb != "down" && verb != "status") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("unknown command '", verb, "': up, down or status")));
  }
  if (absl::Status s = CheckClusterTools(); !s.ok()) {
    return base::ReportError("cluster", s, kRefused);
  }
  absl::Status status;
  if (verb == "up") {
    absl::StatusOr<ClusterOptions> options = OptionsFromFlags(name);
    if (!options.ok()) return Fail(options.status());
    status = ClusterUp(*options, kClusterStateRoot);
    if (status.ok()) status = ClusterStatus(name, kClusterStateRoot);
  } else if (verb == "down") {
    status = ClusterDown(name, kClusterStateRoot);
  } else {
    status = ClusterStatus(name, kClusterStateRoot);
  }
  return status.ok() ? 0 : Fail(status);
}

}  // namespace
}  // namespace freezing::comm

int main(int argc, char** argv) { return freezing::comm::RealMain(argc, argv); }
