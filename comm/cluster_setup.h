// ClusterSetup: brings an emulated cluster (comm/cluster_spec.h) up and down
// on this machine, and says whether it is in place; the library behind
// `bazel run //comm:cluster -- up|down|status`. It observes the machine
// (ip), runs the plan of comm/cluster_plan.h (ip, tc) and writes the state,
// the launcher script and /etc/hosts.
#ifndef FREEZING_COMM_CLUSTER_SETUP_H_
#define FREEZING_COMM_CLUSTER_SETUP_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "comm/cluster_plan.h"

namespace freezing::comm {

// ClusterUp: makes the cluster (or nothing, when the same cluster is
// already up and in place), writes its state and launcher script under
// `root`, adds its hosts to /etc/hosts; prints what it does to stdout.
// A failure half way undoes what was done. FailedPrecondition when a
// cluster of that name is up with other options or not in place (names the
// `down` command), or on a clash (PlanCluster); Unimplemented when a delay
// is asked for and the kernel has no netem.
absl::Status ClusterUp(const ClusterOptions& options, absl::string_view root);

// ClusterDown: removes everything `up` made for cluster `name` (also after
// an `up` that failed half way) and nothing else; OK when there is no such
// cluster. On a failure it goes on with the rest and keeps the state file,
// so that `down` can be run again.
absl::Status ClusterDown(absl::string_view name, absl::string_view root);

// ClusterStatus: prints the hosts, addresses, the rates read back from tc
// and every part found missing. OK when everything is in place;
// FailedPrecondition when the cluster is not up or a part is missing.
absl::Status ClusterStatus(absl::string_view name, absl::string_view root);

// CheckClusterTools: FailedPrecondition unless this process is root and
// `ip`, `tc` and `unshare` are on PATH (or in /sbin, /usr/sbin), naming the
// fix (iproute2: tools/setup.sh).
absl::Status CheckClusterTools();

}  // namespace freezing::comm

#endif  // FREEZING_COMM_CLUSTER_SETUP_H_
