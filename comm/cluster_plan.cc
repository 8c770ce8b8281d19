#include "comm/cluster_plan.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "comm/cluster_spec.h"

namespace freezing::comm {
namespace {

// ---- IPv4 prefixes ----

struct Prefix {
  uint32_t address = 0;
  int length = 32;
};

absl::StatusOr<Prefix> ParsePrefix(absl::string_view text) {
  Prefix p;
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  if (parts.size() > 2 ||
      (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &p.length) ||
                             p.length < 0 || p.length > 32))) {
    return absl::InvalidArgumentError(absl::StrCat("bad prefix ", text));
  }
  std::vector<absl::string_view> bytes = absl::StrSplit(parts[0], '.');
  if (bytes.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", text));
  }
  for (absl::string_view b : bytes) {
    int v = 0;
    if (!absl::SimpleAtoi(b, &v) || v < 0 || v > 255) {
      return absl::InvalidArgumentError(absl::StrCat("bad address ", text));
    }
    p.address = (p.address << 8) | static_cast<uint32_t>(v);
  }
  return p;
}

std::string FormatAddress(uint32_t a) {
  return absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".",
                      a & 255);
}

uint32_t Mask(int length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

bool Overlap(const Prefix& a, const Prefix& b) {
  const uint32_t m = Mask(std::min(a.length, b.length));
  return (a.address & m) == (b.address & m);
}

// The first of the machine's prefixes that `subnet` overlaps, or "".
std::string Clash(const Prefix& subnet, const MachineFacts& facts) {
  for (const std::string& text : facts.ipv4_prefixes) {
    absl::StatusOr<Prefix> p = ParsePrefix(text);
    if (p.ok() && p->length > 0 && Overlap(subnet, *p)) return text;
  }
  return "";
}

absl::StatusOr<Prefix> ChooseSubnet(const ClusterOptions& options,
                                    const MachineFacts& facts) {
  if (!options.subnet.empty()) {
    absl::StatusOr<Prefix> p = ParsePrefix(options.subnet);
    if (!p.ok() || p->length != 24 || (p->address & 255) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--subnet=", options.subnet, ": expected A.B.C.0/24"));
    }
    if (const std::string clash = Clash(*p, facts); !clash.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--subnet=", options.subnet, " overlaps ", clash,
          ", an address or route of this machine: choose another"));
    }
    return p;
  }
  for (uint32_t third = 0; third < 256; ++third) {
    const Prefix p{(10u << 24) | (213u << 16) | (third << 8), 24};
    if (Clash(p, facts).empty()) return p;
  }
  return absl::FailedPreconditionError(
      "every subnet 10.213.0.0/24 .. 10.213.255.0/24 overlaps an address or "
      "route of this machine (ip -4 addr; ip -4 route): give a free one with "
      "--subnet=A.B.C.0/24");
}

// ---- names ----

// Whether a line of /etc/hosts not marked for `name` names `host`.
bool HostsFileNames(absl::string_view etc_hosts, absl::string_view host,
                    absl::string_view marker) {
  for (absl::string_view line : absl::StrSplit(etc_hosts, '\n')) {
    if (absl::EndsWith(line, marker)) continue;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    for (size_t i = 1; i < words.size(); ++i) {
      if (words[i] == host) return true;
    }
  }
  return false;
}

absl::Status CheckNamesFree(const ClusterSpec& spec,
                            const MachineFacts& facts) {
  const std::string hint =
      "; another cluster or program uses it: choose another --name (or "
      "remove it if it is a leftover of yours)";
  if (facts.links.count(spec.bridge) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("an interface named ", spec.bridge, " exists", hint));
  }
  const std::string marker = HostsMarker(spec.name);
  for (const EmulatedHost& h : spec.hosts) {
    if (facts.namespaces.count(h.name) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("a network namespace named ", h.name, " exists", hint));
    }
    if (facts.links.count(h.link) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("an interface named ", h.link, " exists", hint));
    }
    if (HostsFileNames(facts.etc_hosts, h.name, marker)) {
      return absl::FailedPreconditionError(
          absl::StrCat(kEtcHosts, " already names a host ", h.name, hint));
    }
  }
  return absl::OkStatus();
}

// `head` qdisc replace dev DEV root [handle 1:] tbf ...: the host's rate.
std::vector<std::string> Tbf(std::vector<std::string> head,
                             const std::string& dev, bool handle,
                             const EmulatedHost& h) {
  for (const std::string& a : {std::string("qdisc"), std::string("replace"),
                               std::string("dev"), dev, std::string("root")}) {
    head.push_back(a);
  }
  if (handle) {
    head.push_back("handle");
    head.push_back("1:");
  }
  for (const std::string& a :
       {std::string("tbf"), std::string("rate"), FormatRate(h.rate_bps),
        std::string("burst"), absl::StrCat(h.burst_bytes),
        std::string("latency"), std::string("50ms")}) {
    head.push_back(a);
  }
  return head;
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseRates(absl::string_view text,
                                                int hosts) {
  std::vector<int64_t> rates;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    ASSIGN_OR_RETURN(int64_t bps, ParseRate(absl::StripAsciiWhitespace(part)));
    rates.push_back(bps);
  }
  if (rates.size() == 1) rates.resize(std::max(hosts, 1), rates[0]);
  if (static_cast<int>(rates.size()) != hosts) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rate=", text, " lists ", rates.size(), " rates for ",
                     hosts, " hosts: give one rate, or one per host"));
  }
  return rates;
}

absl::StatusOr<int64_t> ParseBurst(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  absl::string_view number = lower;
  int64_t scale = 1;
  if (absl::ConsumeSuffix(&number, "kb") || absl::ConsumeSuffix(&number, "k")) {
    scale = 1024;
  } else if (absl::ConsumeSuffix(&number, "mb") ||
             absl::ConsumeSuffix(&number, "m")) {
    scale = 1024 * 1024;
  } else {
    absl::ConsumeSuffix(&number, "b");
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(number, &n) || n <= 0 || n > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --burst '", text, "': bytes, e.g. 250000, 256kb or 1mb"));
  }
  return n * scale;
}

int64_t DefaultBurstBytes(int64_t rate_bps) {
  return std::max<int64_t>(64 * 1024, rate_bps / 8 / 500);
}

std::string CanonicalUpOptions(const ClusterOptions& options) {
  std::vector<std::string> rates;
  for (int64_t r : options.rates_bps) rates.push_back(FormatRate(r));
  if (rates.size() == 1) rates.resize(std::max(options.hosts, 1), rates[0]);
  std::string out = absl::StrCat(
      "--hosts=", options.hosts, " --rate=", absl::StrJoin(rates, ","),
      " --burst=",
      options.burst_bytes > 0 ? absl::StrCat(options.burst_bytes) : "auto",
      " --delay_us=", options.delay_us);
  if (!options.subnet.empty())
    absl::StrAppend(&out, " --subnet=", options.subnet);
  return out;
}

std::vector<std::string> ParseIpAddrs(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> w =
        absl::StrSplit(line, absl::ByAnyChar(" \t\\"), absl::SkipEmpty());
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] == "inet") out.emplace_back(w[i + 1]);
    }
  }
  return out;
}

std::vector<std::string> ParseIpRoutes(absl::string_view text) {
  static const std::set<absl::string_view> kTypes = {
      "unicast",     "local",    "broadcast", "multicast", "throw",
      "unreachable", "prohibit", "blackhole", "nat"};
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> w =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    size_t i = 0;
    if (i < w.size() && kTypes.count(w[i]) > 0) ++i;
    if (i >= w.size() || w[i] == "default") continue;
    out.emplace_back(w[i]);
  }
  return out;
}

std::set<std::string> ParseIpLinks(absl::string_view text) {
  std::set<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ": ");
    if (f.size() < 2) continue;
    absl::string_view name = f[1];
    name = name.substr(0, name.find('@'));
    if (!name.empty()) out.emplace(name);
  }
  return out;
}

std::set<std::string> ParseNetnsList(absl::string_view text) {
  std::set<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> w =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!w.empty()) out.emplace(w[0]);
  }
  return out;
}

absl::StatusOr<ClusterSpec> PlanCluster(const ClusterOptions& options,
                                        const MachineFacts& facts) {
  RETURN_IF_ERROR(ValidateClusterName(options.name));
  if (options.hosts < 1 || options.hosts > kMaxClusterHosts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--hosts=", options.hosts, ": from 1 to ", kMaxClusterHosts));
  }
  if (options.rates_bps.size() != 1 &&
      static_cast<int>(options.rates_bps.size()) != options.hosts) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.rates_bps.size(), " rates for ", options.hosts,
                     " hosts: give one rate, or one per host"));
  }
  if (options.delay_us < 0 || options.delay_us > 10'000'000 ||
      options.burst_bytes < 0) {
    return absl::InvalidArgumentError(
        "--delay_us must be in 0..10000000 and --burst positive");
  }
  ASSIGN_OR_RETURN(const Prefix subnet, ChooseSubnet(options, facts));
  ClusterSpec spec;
  spec.name = options.name;
  spec.options = CanonicalUpOptions(options);
  spec.subnet = absl::StrCat(FormatAddress(subnet.address), "/24");
  spec.bridge = absl::StrCat("br-", options.name);
  spec.bridge_address = FormatAddress(subnet.address + 1);
  spec.delay_us = options.delay_us;
  for (int i = 0; i < options.hosts; ++i) {
    EmulatedHost h;
    h.name = absl::StrCat(options.name, i + 1);
    h.address = FormatAddress(subnet.address + 2 + i);
    h.link = absl::StrCat("veth", h.name);
    h.rate_bps = options.rates_bps[options.rates_bps.size() == 1 ? 0 : i];
    h.burst_bytes = options.burst_bytes > 0 ? options.burst_bytes
                                            : DefaultBurstBytes(h.rate_bps);
    spec.hosts.push_back(h);
  }
  RETURN_IF_ERROR(CheckNamesFree(spec, facts));
  return spec;
}

std::vector<ClusterStep> UpSteps(const ClusterSpec& spec) {
  const std::string br = spec.bridge;
  std::vector<ClusterStep> steps = {
      {{"ip", "link", "add", br, "type", "bridge"}, {"ip", "link", "del", br}},
      {{"ip", "addr", "add", absl::StrCat(spec.bridge_address, "/24"), "dev",
        br},
       {}},
      {{"ip", "link", "set", br, "up"}, {}},
  };
  for (const EmulatedHost& h : spec.hosts) {
    const std::vector<std::string> in_ns = {"ip", "-n", h.name};
    const std::vector<std::string> tc_ns = {"tc", "-n", h.name};
    std::vector<ClusterStep> host = {
        {{"ip", "netns", "add", h.name}, {"ip", "netns", "del", h.name}},
        {{"ip", "link", "add", h.link, "type", "veth", "peer", "name", "eth0",
          "netns", h.name},
         {"ip", "link", "del", h.link}},
        {{"ip", "link", "set", h.link, "master", br}, {}},
        {{"ip", "link", "set", h.link, "up"}, {}},
        {Concat(in_ns, {"link", "set", "lo", "up"}), {}},
        {Concat(in_ns,
                {"addr", "add", absl::StrCat(h.address, "/24"), "dev", "eth0"}),
         {}},
        {Concat(in_ns, {"link", "set", "eth0", "up"}), {}},
        // Into the host: its bridge port sends what the host receives.
        {Tbf({"tc"}, h.link, /*handle=*/false, h), {}},
        // Out of the host (netem, if any, is the tbf's child 1:1).
        {Tbf(tc_ns, "eth0", /*handle=*/true, h), {}},
    };
    if (spec.delay_us > 0) {
      host.push_back({Concat(tc_ns, {"qdisc", "add", "dev", "eth0", "parent",
                                     "1:1", "handle", "10:", "netem", "delay",
                                     absl::StrCat(spec.delay_us, "us")}),
                      {}});
    }
    steps.insert(steps.end(), host.begin(), host.end());
  }
  return steps;
}

std::vector<std::vector<std::string>> DownSteps(const ClusterSpec& spec,
                                                const MachineFacts& facts) {
  std::vector<std::vector<std::string>> steps;
  for (const EmulatedHost& h : spec.hosts) {
    // The veth first: a namespace some process still runs in outlives
    // `ip netns del`, and so would its link.
    if (facts.links.count(h.link) > 0) {
      steps.push_back({"ip", "link", "del", h.link});
    }
    if (facts.namespaces.count(h.name) > 0) {
      steps.push_back({"ip", "netns", "del", h.name});
    }
  }
  if (facts.links.count(spec.bridge) > 0) {
    steps.push_back({"ip", "link", "del", spec.bridge});
  }
  return steps;
}

std::string HostsMarker(absl::string_view name) {
  return absl::StrCat("# freezing-cluster ", name);
}

std::string WithoutClusterHosts(absl::string_view etc_hosts,
                                absl::string_view name) {
  const std::string marker = HostsMarker(name);
  std::vector<absl::string_view> kept;
  // After a final newline StrSplit sees an empty last line: kept, so the
  // newline stays.
  for (absl::string_view line : absl::StrSplit(etc_hosts, '\n')) {
    if (!absl::EndsWith(line, marker)) kept.push_back(line);
  }
  return absl::StrJoin(kept, "\n");
}

std::string WithClusterHosts(absl::string_view etc_hosts,
                             const ClusterSpec& spec) {
  std::string out = WithoutClusterHosts(etc_hosts, spec.name);
  if (!out.empty() && out.back() != '\n') out += "\n";
  const std::string marker = HostsMarker(spec.name);
  for (const EmulatedHost& h : spec.hosts) {
    absl::StrAppend(&out, h.address, "\t", h.name, "\t", marker, "\n");
  }
  return out;
}

std::string LauncherScriptText(const ClusterSpec& spec, absl::string_view ip,
                               absl::string_view unshare,
                               absl::string_view hostname) {
  std::vector<std::string> names;
  for (const EmulatedHost& h : spec.hosts) names.push_back(h.name);
  return absl::StrCat(
      "#!/bin/sh\n"
      "# Written by `bazel run //comm:cluster -- up` for the emulated cluster ",
      spec.name,
      "; removed by `down`.\n"
      "# Hydra's ssh (mpiexec -launcher ssh -launcher-exec THIS): called as "
      "ssh is,\n"
      "# [-options] HOST COMMAND..., it runs COMMAND in HOST's network "
      "namespace, in a\n"
      "# UTS namespace of its own named HOST: the ranks' gethostname() and\n"
      "# MPI_Get_processor_name() say HOST.\n"
      "while [ $# -gt 0 ]; do\n"
      "  case \"$1\" in\n"
      "    -*) shift ;;\n"
      "    *) break ;;\n"
      "  esac\n"
      "done\n"
      "host=\"$1\"\n"
      "shift\n"
      "case \"$host\" in\n"
      "  ",
      absl::StrJoin(names, "|"),
      ") ;;\n"
      "  *) echo \"launcher of cluster ",
      spec.name, ": '$host' is not one of its hosts (",
      absl::StrJoin(names, " "),
      ")\" >&2; exit 255 ;;\n"
      "esac\n"
      "exec ",
      ip, " netns exec \"$host\" ", unshare, " --uts /bin/sh -c '", hostname,
      " \"$0\" && exec /bin/sh -c \"$*\"' \"$host\" \"$@\"\n");
}

}  // namespace freezing::comm
