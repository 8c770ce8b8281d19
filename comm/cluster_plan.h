// ClusterPlan: an emulated cluster's plan (comm/cluster_spec.h) as pure
// functions of the options and of what the machine already has: names,
// subnet and addresses (PlanCluster), the ip and tc commands that make and
// remove it (UpSteps, DownSteps), its /etc/hosts lines and the launcher
// script Hydra calls instead of ssh. Nothing here runs a command or needs
// root; comm/cluster_setup.h runs the plan.
//
// A host is a network namespace NAMEi whose eth0 is one end of a veth pair;
// the other end, vethNAMEi, is a port of the bridge br-NAME, which has the
// subnet's first address (mpiexec's control port listens there). Both ends
// of each pair are shaped with a token bucket (tc tbf), so each host has a
// full-duplex link of its own rate; with a delay, netem on the host's eth0
// delays every packet the host sends (where the kernel has netem).
#ifndef FREEZING_COMM_CLUSTER_PLAN_H_
#define FREEZING_COMM_CLUSTER_PLAN_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "comm/cluster_spec.h"

namespace freezing::comm {

inline constexpr char kEtcHosts[] = "/etc/hosts";

// ClusterOptions: what `up` was asked for.
struct ClusterOptions {
  std::string name = kDefaultClusterName;
  int hosts = 0;
  // One rate for every host, or one per host (bits per second).
  std::vector<int64_t> rates_bps;
  // Token bucket depth in bytes; 0: DefaultBurstBytes of each host's rate.
  int64_t burst_bytes = 0;
  int64_t delay_us = 0;
  // "A.B.C.0/24"; empty: the first of 10.213.0.0/24 .. 10.213.255.0/24 that
  // no address or route of this machine overlaps.
  std::string subnet;
};

inline constexpr int kMaxClusterHosts = 64;

// ParseRates: "1gbit" (every host) or "1gbit,1gbit,250mbit" (one per host,
// as many as `hosts`). InvalidArgument otherwise.
absl::StatusOr<std::vector<int64_t>> ParseRates(absl::string_view text,
                                                int hosts);

// ParseBurst: bytes: NUMBER, or NUMBER followed by k/kb or m/mb (1024
// multiples, as tc's sizes). InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseBurst(absl::string_view text);

// DefaultBurstBytes: 2 ms of `rate_bps`, at least 64 KiB (a segmentation
// offload packet).
int64_t DefaultBurstBytes(int64_t rate_bps);

// CanonicalUpOptions: `options` as `up` flags in one spelling (one rate per
// host, the burst in bytes), to compare two `up`s.
std::string CanonicalUpOptions(const ClusterOptions& options);

// MachineFacts: what the root namespace already has, as `up` found it.
struct MachineFacts {
  std::vector<std::string> ipv4_prefixes;  // addresses and routes, "a.b.c.d/n"
  std::set<std::string> links;             // interface names
  std::set<std::string> namespaces;        // `ip netns list`
  std::string etc_hosts;                   // the text of /etc/hosts
};

// ParseIpAddrs: the prefixes of `ip -4 -o addr show`; ParseIpRoutes: of
// `ip -4 route show` (the default route left out); ParseIpLinks: the names
// of `ip -o link show` (without @peer); ParseNetnsList: of `ip netns list`.
std::vector<std::string> ParseIpAddrs(absl::string_view text);
std::vector<std::string> ParseIpRoutes(absl::string_view text);
std::set<std::string> ParseIpLinks(absl::string_view text);
std::set<std::string> ParseNetnsList(absl::string_view text);

// PlanCluster: the cluster `options` asks for on a machine with `facts`:
// names, subnet, addresses, rates, bursts. InvalidArgument for bad options;
// FailedPrecondition, naming the clash, when a name (namespace, interface,
// /etc/hosts name) is taken or the subnet overlaps one of the machine's
// (or, with no --subnet, all 256 candidates do).
absl::StatusOr<ClusterSpec> PlanCluster(const ClusterOptions& options,
                                        const MachineFacts& facts);

// ClusterStep: one command of `up` and the command that undoes it (empty
// when undoing an earlier step undoes it too: a qdisc goes with its link).
struct ClusterStep {
  std::vector<std::string> run;
  std::vector<std::string> undo;
};

// UpSteps: the ip and tc commands that make `spec`, in order.
std::vector<ClusterStep> UpSteps(const ClusterSpec& spec);

// DownSteps: the commands that remove what of `spec` exists in `facts`
// (veths, namespaces, the bridge; qdiscs and the namespaces' ends go with
// them), nothing else.
std::vector<std::vector<std::string>> DownSteps(const ClusterSpec& spec,
                                                const MachineFacts& facts);

// HostsMarker: the comment ending every /etc/hosts line of cluster `name`.
std::string HostsMarker(absl::string_view name);

// WithClusterHosts: `etc_hosts` with a marked line for each host of `spec`
// (after removing any earlier marked lines of that cluster).
// WithoutClusterHosts: `etc_hosts` without the lines marked for `name`;
// every other line as it was.
std::string WithClusterHosts(absl::string_view etc_hosts,
                             const ClusterSpec& spec);
std::string WithoutClusterHosts(absl::string_view etc_hosts,
                                absl::string_view name);

// LauncherScriptText: the script Hydra runs instead of ssh (`mpiexec
// -launcher ssh -launcher-exec SCRIPT`): called as `SCRIPT [-opts] HOST
// COMMAND...`, it runs COMMAND (one string, as ssh does) in HOST's network
// namespace and in a UTS namespace of its own named HOST, so that
// gethostname() and MPI_Get_processor_name() in the ranks say HOST. Refuses
// hosts not of `spec`. `ip`, `unshare` and `hostname` are the paths to use.
std::string LauncherScriptText(const ClusterSpec& spec, absl::string_view ip,
                               absl::string_view unshare,
                               absl::string_view hostname);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_CLUSTER_PLAN_H_
