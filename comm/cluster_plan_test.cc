#include "comm/cluster_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "comm/cluster_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Argv = std::vector<std::string>;

// What `ip` and friends said on this project's machine.
constexpr char kIpAddr[] =
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever "
    "preferred_lft forever\n"
    "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       "
    "valid_lft forever preferred_lft forever\n";
constexpr char kIpRoute[] =
    "default via 192.0.2.1 dev eth0 \n"
    "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2 \n"
    "unreachable 172.16.0.0/12 \n"
    "10.9.8.7 via 192.0.2.1 dev eth0 \n";
constexpr char kIpLink[] =
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN "
    "mode DEFAULT group default qlen 1000\\    link/loopback "
    "00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "8: vethzz1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc tbf "
    "master br-zz state UP\n";
constexpr char kNetns[] = "zz2\nzz1 (id: 0)\n";

MachineFacts Machine() {
  MachineFacts facts;
  facts.ipv4_prefixes = ParseIpAddrs(kIpAddr);
  for (const std::string& r : ParseIpRoutes(kIpRoute)) {
    facts.ipv4_prefixes.push_back(r);
  }
  facts.links = ParseIpLinks(kIpLink);
  facts.namespaces = ParseNetnsList(kNetns);
  facts.etc_hosts = "127.0.0.1 localhost\n127.0.0.1 vm\n";
  return facts;
}

ClusterOptions Options(int hosts, const std::string& rate) {
  ClusterOptions o;
  o.hosts = hosts;
  o.rates_bps = *ParseRates(rate, std::max(hosts, 1));
  return o;
}

TEST(ClusterPlanTest, ParsesWhatIpSays) {
  EXPECT_THAT(ParseIpAddrs(kIpAddr),
              ElementsAre("127.0.0.1/8", "192.0.2.2/24"));
  EXPECT_THAT(ParseIpRoutes(kIpRoute),
              ElementsAre("192.0.2.0/24", "172.16.0.0/12", "10.9.8.7"));
  EXPECT_THAT(ParseIpLinks(kIpLink), ElementsAre("lo", "vethzz1"));
  EXPECT_THAT(ParseNetnsList(kNetns), ElementsAre("zz1", "zz2"));
}

TEST(ClusterPlanTest, RatesOneForAllOrOnePerHost) {
  EXPECT_THAT(*ParseRates("1gbit", 3),
              ElementsAre(1000000000, 1000000000, 1000000000));
  EXPECT_THAT(*ParseRates("1gbit,1gbit,250mbit", 3),
              ElementsAre(1000000000, 1000000000, 250000000));
  EXPECT_EQ(ParseRates("1gbit,1gbit", 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRates("1gbps", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClusterPlanTest, Bursts) {
  EXPECT_EQ(*ParseBurst("250000"), 250000);
  EXPECT_EQ(*ParseBurst("256kb"), 256 * 1024);
  EXPECT_EQ(*ParseBurst("1mb"), 1 << 20);
  EXPECT_FALSE(ParseBurst("lots").ok());
  EXPECT_FALSE(ParseBurst("0").ok());
  EXPECT_EQ(DefaultBurstBytes(1000000000), 250000);  // 2 ms
  EXPECT_EQ(DefaultBurstBytes(10000000), 64 * 1024);
}

TEST(ClusterPlanTest, SameOptionsSpelledDifferentlyAreTheSame) {
  EXPECT_EQ(CanonicalUpOptions(Options(2, "1gbit")),
            CanonicalUpOptions(Options(2, "1000mbit,1gbit")));
  EXPECT_NE(CanonicalUpOptions(Options(2, "1gbit")),
            CanonicalUpOptions(Options(3, "1gbit")));
  EXPECT_EQ(CanonicalUpOptions(Options(2, "1gbit")),
            "--hosts=2 --rate=1gbit,1gbit --burst=auto --delay_us=0");
}

TEST(ClusterPlanTest, PlansNamesAndAddresses) {
  absl::StatusOr<ClusterSpec> spec =
      PlanCluster(Options(3, "1gbit,1gbit,250mbit"), Machine());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->subnet, "10.213.0.0/24");
  EXPECT_EQ(spec->bridge, "br-h");
  EXPECT_EQ(spec->bridge_address, "10.213.0.1");
  EXPECT_FALSE(spec->complete);
  ASSERT_EQ(spec->hosts.size(), 3u);
  EXPECT_EQ(spec->hosts[0].name, "h1");
  EXPECT_EQ(spec->hosts[0].address, "10.213.0.2");
  EXPECT_EQ(spec->hosts[0].link, "vethh1");
  EXPECT_EQ(spec->hosts[2].name, "h3");
  EXPECT_EQ(spec->hosts[2].address, "10.213.0.4");
  EXPECT_EQ(spec->hosts[2].rate_bps, 250000000);
  EXPECT_EQ(spec->hosts[2].burst_bytes, 65536);
  EXPECT_EQ(spec->hosts[0].burst_bytes, 250000);
}

TEST(ClusterPlanTest, SkipsSubnetsInUse) {
  MachineFacts facts = Machine();
  facts.ipv4_prefixes.push_back("10.213.0.1/24");  // another cluster
  facts.ipv4_prefixes.push_back("10.213.1.0/25");  // a route
  absl::StatusOr<ClusterSpec> spec = PlanCluster(Options(2, "1gbit"), facts);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->subnet, "10.213.2.0/24");
}

TEST(ClusterPlanTest, RefusesATakenSubnet) {
  MachineFacts facts = Machine();
  ClusterOptions o = Options(2, "1gbit");
  o.subnet = "192.0.2.0/24";
  absl::Status s = PlanCluster(o, facts).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("192.0.2.2/24"));
  o.subnet = "10.1.2.3/24";
  EXPECT_EQ(PlanCluster(o, facts).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.subnet = "";
  facts.ipv4_prefixes.push_back("10.0.0.0/8");  // e.g. a VPN
  s = PlanCluster(o, facts).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--subnet"));
}

TEST(ClusterPlanTest, RefusesTakenNames) {
  ClusterOptions o = Options(2, "1gbit");
  o.name = "zz";
  // ip netns list shows zz1 and zz2; vethzz1 exists.
  absl::Status s = PlanCluster(o, Machine()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("zz1"));

  MachineFacts facts = Machine();
  facts.links.insert("br-h");
  EXPECT_THAT(
      std::string(PlanCluster(Options(2, "1gbit"), facts).status().message()),
      HasSubstr("br-h"));

  facts = Machine();
  facts.etc_hosts += "192.168.1.5 h2 # a real machine\n";
  EXPECT_THAT(
      std::string(PlanCluster(Options(2, "1gbit"), facts).status().message()),
      HasSubstr("/etc/hosts"));
  // Our own marked lines (left by a killed up) are not a clash.
  facts = Machine();
  facts.etc_hosts += "10.213.0.3\th2\t# freezing-cluster h\n";
  EXPECT_TRUE(PlanCluster(Options(2, "1gbit"), facts).ok());
}

TEST(ClusterPlanTest, RefusesBadOptions) {
  EXPECT_EQ(PlanCluster(Options(0, "1gbit"), Machine()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanCluster(Options(65, "1gbit"), Machine()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ClusterOptions o = Options(2, "1gbit");
  o.name = "H1";
  EXPECT_EQ(PlanCluster(o, Machine()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClusterPlanTest, UpStepsForOneHost) {
  const ClusterSpec spec = *PlanCluster(Options(1, "250mbit"), Machine());
  std::vector<std::string> run, undo;
  for (const ClusterStep& s : UpSteps(spec)) {
    run.push_back(absl::StrJoin(s.run, " "));
    if (!s.undo.empty()) undo.push_back(absl::StrJoin(s.undo, " "));
  }
  EXPECT_THAT(
      run,
      ElementsAre(
          "ip link add br-h type bridge", "ip addr add 10.213.0.1/24 dev br-h",
          "ip link set br-h up", "ip netns add h1",
          "ip link add vethh1 type veth peer name eth0 netns h1",
          "ip link set vethh1 master br-h", "ip link set vethh1 up",
          "ip -n h1 link set lo up", "ip -n h1 addr add 10.213.0.2/24 dev eth0",
          "ip -n h1 link set eth0 up",
          "tc qdisc replace dev vethh1 root tbf rate 250mbit burst 65536 "
          "latency 50ms",
          "tc -n h1 qdisc replace dev eth0 root handle 1: tbf rate 250mbit "
          "burst 65536 latency 50ms"));
  EXPECT_THAT(undo, ElementsAre("ip link del br-h", "ip netns del h1",
                                "ip link del vethh1"));
  // Nothing touches the root namespace's lo or eth0.
  for (const std::string& r : run) {
    EXPECT_THAT(r, ::testing::Not(HasSubstr("dev lo")));
    EXPECT_THAT(r, ::testing::Not(::testing::StartsWith("ip link set eth0")));
  }
}

TEST(ClusterPlanTest, DelayIsNetemUnderTheHostsTbf) {
  ClusterOptions o = Options(2, "1gbit");
  o.delay_us = 250;
  const ClusterSpec spec = *PlanCluster(o, Machine());
  int netem = 0;
  for (const ClusterStep& s : UpSteps(spec)) {
    const std::string line = absl::StrJoin(s.run, " ");
    if (line.find("netem") == std::string::npos) continue;
    ++netem;
    EXPECT_THAT(line, HasSubstr("parent 1:1 handle 10: netem delay 250us"));
  }
  EXPECT_EQ(netem, 2);
}

TEST(ClusterPlanTest, DownRemovesOnlyWhatExists) {
  ClusterOptions o = Options(2, "1gbit");
  o.name = "zz";
  MachineFacts empty;
  const ClusterSpec spec = *PlanCluster(o, empty);
  // As a half-failed up left it: zz1 and its link, zz2 without a link.
  std::vector<std::string> steps;
  for (const Argv& s : DownSteps(spec, Machine())) {
    steps.push_back(absl::StrJoin(s, " "));
  }
  EXPECT_THAT(steps, ElementsAre("ip link del vethzz1", "ip netns del zz1",
                                 "ip netns del zz2"));
  EXPECT_THAT(DownSteps(spec, empty), IsEmpty());
}

TEST(ClusterPlanTest, EtcHostsLinesComeAndGoAlone) {
  const ClusterSpec spec = *PlanCluster(Options(2, "1gbit"), Machine());
  for (const std::string& before :
       {std::string("127.0.0.1 localhost\n# h1 is not us\n"),
        std::string("127.0.0.1 localhost"), std::string("")}) {
    const std::string with = WithClusterHosts(before, spec);
    EXPECT_THAT(with, HasSubstr("10.213.0.2\th1\t# freezing-cluster h\n"));
    EXPECT_THAT(with, HasSubstr("10.213.0.3\th2\t# freezing-cluster h\n"));
    // Adding twice adds nothing.
    EXPECT_EQ(WithClusterHosts(with, spec), with);
    std::string expected = before;
    if (!expected.empty() && expected.back() != '\n') expected += "\n";
    EXPECT_EQ(WithoutClusterHosts(with, "h"), expected);
  }
  // Another cluster's lines stay.
  const std::string other = "10.213.1.2\tt9h1\t# freezing-cluster t9h\n";
  EXPECT_EQ(WithoutClusterHosts(other, "h"), other);
  EXPECT_EQ(WithoutClusterHosts("127.0.0.1 localhost\n", "h"),
            "127.0.0.1 localhost\n");
}

// Runs the launcher script with a fake `ip` that prints its arguments.
class LauncherScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/launcher";
    ASSERT_TRUE(base::MakeDirs(dir_).ok());
    const std::string ip = dir_ + "/ip";
    ASSERT_TRUE(
        base::WriteFileAtomically(ip, "#!/bin/sh\nprintf '[%s]' \"$@\"\n")
            .ok());
    chmod(ip.c_str(), 0755);
    const ClusterSpec spec = *PlanCluster(Options(2, "1gbit"), Machine());
    script_ = dir_ + "/launch";
    ASSERT_TRUE(base::WriteFileAtomically(
                    script_, LauncherScriptText(spec, ip, "/usr/bin/unshare",
                                                "/bin/hostname"))
                    .ok());
  }
  // The script's stdout and exit code for `args`.
  std::pair<std::string, int> Call(const std::string& args) {
    FILE* p = popen(("/bin/sh " + script_ + " " + args + " 2>&1").c_str(), "r");
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
    const int status = pclose(p);
    return {out, WEXITSTATUS(status)};
  }
  std::string dir_, script_;
};

TEST_F(LauncherScriptTest, RunsTheCommandInTheHostsNamespaces) {
  // As Hydra calls ssh.
  auto [out, code] = Call(
      "-x h2 '\"/usr/bin/hydra_pmi_proxy\"' --control-port 10.213.0.1:4000 "
      "--proxy-id 1");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out,
            "[netns][exec][h2][/usr/bin/unshare][--uts][/bin/sh][-c]"
            "[/bin/hostname \"$0\" && exec /bin/sh -c \"$*\"][h2]"
            "[\"/usr/bin/hydra_pmi_proxy\"][--control-port]"
            "[10.213.0.1:4000][--proxy-id][1]");
}

TEST_F(LauncherScriptTest, RefusesOtherHosts) {
  auto [out, code] = Call("-x h3 true");
  EXPECT_EQ(code, 255);
  EXPECT_THAT(out, HasSubstr("not one of its hosts (h1 h2)"));
  EXPECT_EQ(Call("-x localhost true").second, 255);
}

}  // namespace
}  // namespace freezing::comm
