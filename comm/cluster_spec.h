// ClusterSpec: the definition of an emulated cluster, several hosts on this
// machine (comm/README.md, "Several hosts on one machine"). `bazel run
// //comm:cluster -- up` (comm/cluster_setup.h) makes one: each host is a
// network namespace with its own shaped link to a bridge; it writes the
// definition to a state file that `--cluster` (comm/launcher.h) reads to put
// the ranks on those hosts, and `down` and `status` read to find what `up`
// made.
//
// Names: a cluster is named NAME (default "h", or $FREEZING_CLUSTER); its
// hosts are NAME1..NAMEn (h1, h2, ...), the host end of host i's link is
// vethNAMEi, the bridge br-NAME. The state lives in
// /run/freezing-cluster/NAME/ (the definition and the launcher script
// Hydra calls instead of ssh).
//
// This file is pure but for ReadClusterSpec (a file read): no commands run.
#ifndef FREEZING_COMM_CLUSTER_SPEC_H_
#define FREEZING_COMM_CLUSTER_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::comm {

// kClusterEnv: the environment variable naming the cluster `--cluster` and
// `//comm:cluster` use when set (tests use their own, so that they never
// touch a user's cluster).
inline constexpr char kClusterEnv[] = "FREEZING_CLUSTER";
inline constexpr char kDefaultClusterName[] = "h";
inline constexpr char kClusterStateRoot[] = "/run/freezing-cluster";

// EmulatedHost: one host of the cluster and its link.
struct EmulatedHost {
  std::string name;         // the namespace, the /etc/hosts name, the hostname
  std::string address;      // IPv4 of its eth0, e.g. 10.213.0.2
  std::string link;         // the host end of its veth pair, e.g. vethh1
  int64_t rate_bps = 0;     // bits per second, each direction
  int64_t burst_bytes = 0;  // token bucket depth, each direction
};

// ClusterSpec: everything `up` made, by name.
struct ClusterSpec {
  std::string name;
  // False from the moment `up` starts creating until it is done: a state
  // file left so by a killed `up` tells `down` what to look for.
  bool complete = false;
  // The options `up` was given, canonical (CanonicalUpOptions): a second
  // `up` with the same options is a no-op.
  std::string options;
  std::string subnet;          // "10.213.0.0/24"
  std::string bridge;          // "br-h"
  std::string bridge_address;  // "10.213.0.1"
  int64_t delay_us = 0;        // added to every packet a host sends
  std::vector<EmulatedHost> hosts;
};

// ClusterNameFromEnv: $FREEZING_CLUSTER when set, else "h".
std::string ClusterNameFromEnv();

// ValidateClusterName: 1-9 characters, lowercase letters and digits,
// starting and ending with a letter (so that NAME1 .. NAME64 are unambiguous
// and vethNAME64 fits Linux's 15-character interface names).
// InvalidArgument otherwise.
absl::Status ValidateClusterName(absl::string_view name);

// ClusterStateDir / ClusterStateFile / ClusterLauncherScript: where the
// cluster `name`'s state lives under `root` (kClusterStateRoot).
std::string ClusterStateDir(absl::string_view root, absl::string_view name);
std::string ClusterStateFile(absl::string_view root, absl::string_view name);
std::string ClusterLauncherScript(absl::string_view root,
                                  absl::string_view name);

// ParseRate: a tc rate in bits per second: NUMBER followed by bit, kbit,
// mbit, gbit or tbit (decimal multiples, as tc's), e.g. "1gbit", "250mbit",
// "1.5gbit". tc's byte units (bps, kbps, ...) are refused on purpose: "1gbps"
// would mean 8 Gbit/s. InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseRate(absl::string_view text);

// FormatRate: the shortest exact spelling ParseRate reads back: "1gbit",
// "250mbit", "1500kbit", "123bit".
std::string FormatRate(int64_t bps);

// ParseTcRate: the same for tc's own output ("1Gbit", "250Mbit", "64Kbit",
// "999bit").
absl::StatusOr<int64_t> ParseTcRate(absl::string_view text);

// FormatClusterSpec / ParseClusterSpec: the state file's text (key-value
// lines) and back. ParseClusterSpec: DataLoss when the text is not one.
std::string FormatClusterSpec(const ClusterSpec& spec);
absl::StatusOr<ClusterSpec> ParseClusterSpec(absl::string_view text);

// ReadClusterSpec: the cluster `name` under `root`, for `--cluster`.
// FailedPrecondition naming the `up` command when no such cluster is up, or
// when its `up` has not finished (then naming `down`).
absl::StatusOr<ClusterSpec> ReadClusterSpec(absl::string_view root,
                                            absl::string_view name);

// ClusterCommand: the `bazel run //comm:cluster -- VERB` line for the
// cluster `name`, with FREEZING_CLUSTER=name in front unless it is the
// default, for messages.
std::string ClusterCommand(absl::string_view name, absl::string_view verb);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_CLUSTER_SPEC_H_
