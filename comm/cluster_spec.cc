#include "comm/cluster_spec.h"

#include <cstdint>
#include <cstdlib>
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
#include "base/file.h"

namespace freezing::comm {
namespace {

struct RateUnit {
  const char* name;  // lowercase
  int64_t bps;
};

// Longest first, so that "kbit" is not read as "bit".
constexpr RateUnit kRateUnits[] = {{"tbit", 1000000000000},
                                   {"gbit", 1000000000},
                                   {"mbit", 1000000},
                                   {"kbit", 1000},
                                   {"bit", 1}};

// NUMBER[.DIGITS] times `scale`, exactly; InvalidArgument on anything else
// or on overflow.
absl::StatusOr<int64_t> ScaleDecimal(absl::string_view number, int64_t scale,
                                     absl::string_view what) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", what, " '", number, "'"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(number, '.');
  if (parts.size() > 2 || parts[0].empty()) return bad();
  int64_t whole = 0;
  if (!absl::SimpleAtoi(parts[0], &whole) || whole < 0 ||
      !absl::ascii_isdigit(parts[0][0]) || whole > INT64_MAX / scale) {
    return bad();
  }
  int64_t value = whole * scale;
  if (parts.size() == 2) {
    int64_t unit = scale;
    for (char c : parts[1]) {
      if (!absl::ascii_isdigit(c)) return bad();
      if (c != '0' && unit % 10 != 0) return bad();  // finer than 1 bit
      unit /= 10;
      value += (c - '0') * unit;
    }
  }
  return value;
}

absl::StatusOr<int64_t> ParseRateWithUnits(absl::string_view text,
                                           absl::string_view what) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (const RateUnit& unit : kRateUnits) {
    absl::string_view number = lower;
    if (!absl::ConsumeSuffix(&number, unit.name)) continue;
    absl::StatusOr<int64_t> bps = ScaleDecimal(number, unit.bps, what);
    if (!bps.ok() || *bps <= 0) break;
    return bps;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bad ", what, " '", text,
      "': expected a number and a unit of bits per second: bit, kbit, mbit, "
      "gbit or tbit (e.g. 1gbit, 250mbit)"));
}

absl::Status Corrupt(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("not a cluster state file: ", why));
}

}  // namespace

std::string ClusterNameFromEnv() {
  const char* v = std::getenv(kClusterEnv);
  return v != nullptr && *v != '\0' ? v : kDefaultClusterName;
}

absl::Status ValidateClusterName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 9 &&
            absl::ascii_islower(name.front()) &&
            absl::ascii_islower(name.back());
  for (char c : name) ok &= absl::ascii_islower(c) || absl::ascii_isdigit(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "bad cluster name '", name,
      "': 1-9 lowercase letters and digits, starting and ending with a "
      "letter (its hosts are NAME1, NAME2, ...)"));
}

std::string ClusterStateDir(absl::string_view root, absl::string_view name) {
  return absl::StrCat(root, "/", name);
}

std::string ClusterStateFile(absl::string_view root, absl::string_view name) {
  return absl::StrCat(ClusterStateDir(root, name), "/cluster");
}

std::string ClusterLauncherScript(absl::string_view root,
                                  absl::string_view name) {
  return absl::StrCat(ClusterStateDir(root, name), "/launch");
}

absl::StatusOr<int64_t> ParseRate(absl::string_view text) {
  return ParseRateWithUnits(text, "rate");
}

std::string FormatRate(int64_t bps) {
  for (const RateUnit& unit : kRateUnits) {
    if (bps % unit.bps == 0) return absl::StrCat(bps / unit.bps, unit.name);
  }
  return absl::StrCat(bps, "bit");
}

absl::StatusOr<int64_t> ParseTcRate(absl::string_view text) {
  return ParseRateWithUnits(text, "tc rate");
}

std::string FormatClusterSpec(const ClusterSpec& spec) {
  std::string out = absl::StrCat(
      "# An emulated cluster, written by `bazel run //comm:cluster -- up`;\n"
      "# read by --cluster, `down` and `status`. Do not edit.\n",
      "name ", spec.name, "\n", "complete ", spec.complete ? 1 : 0, "\n",
      "options ", spec.options, "\n", "subnet ", spec.subnet, "\n", "bridge ",
      spec.bridge, " ", spec.bridge_address, "\n", "delay_us ", spec.delay_us,
      "\n");
  for (const EmulatedHost& h : spec.hosts) {
    absl::StrAppend(&out, "host ", h.name, " ", h.address, " ", h.link, " ",
                    h.rate_bps, " ", h.burst_bytes, "\n");
  }
  return out;
}

absl::StatusOr<ClusterSpec> ParseClusterSpec(absl::string_view text) {
  ClusterSpec spec;
  bool seen_name = false, seen_bridge = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    const absl::string_view key = kv.first, value = kv.second;
    std::vector<absl::string_view> f = absl::StrSplit(value, ' ');
    if (key == "name") {
      spec.name = std::string(value);
      seen_name = true;
    } else if (key == "complete") {
      spec.complete = value == "1";
    } else if (key == "options") {
      spec.options = std::string(value);
    } else if (key == "subnet") {
      spec.subnet = std::string(value);
    } else if (key == "bridge" && f.size() == 2) {
      spec.bridge = std::string(f[0]);
      spec.bridge_address = std::string(f[1]);
      seen_bridge = true;
    } else if (key == "delay_us") {
      if (!absl::SimpleAtoi(value, &spec.delay_us)) return Corrupt(line);
    } else if (key == "host" && f.size() == 5) {
      EmulatedHost h;
      h.name = std::string(f[0]);
      h.address = std::string(f[1]);
      h.link = std::string(f[2]);
      if (!absl::SimpleAtoi(f[3], &h.rate_bps) ||
          !absl::SimpleAtoi(f[4], &h.burst_bytes)) {
        return Corrupt(line);
      }
      spec.hosts.push_back(h);
    } else {
      return Corrupt(absl::StrCat("unexpected line '", line, "'"));
    }
  }
  if (!seen_name || !seen_bridge || spec.hosts.empty()) {
    return Corrupt("no name, bridge or host line");
  }
  return spec;
}

absl::StatusOr<ClusterSpec> ReadClusterSpec(absl::string_view root,
                                            absl::string_view name) {
  const std::string path = ClusterStateFile(root, name);
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (absl::IsNotFound(text.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("no emulated cluster '", name, "' is up (no ", path,
                     "); bring one up first: ",
                     ClusterCommand(name, "up --hosts=2 --rate=1gbit")));
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<ClusterSpec> spec = ParseClusterSpec(*text);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(),
                        absl::StrCat(path, ": ", spec.status().message()));
  }
  if (!spec->complete) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the emulated cluster '", name,
        "' is only half up (its `up` did not finish): clean it up with ",
        ClusterCommand(name, "down"), ", then bring it up again"));
  }
  return spec;
}

std::string ClusterCommand(absl::string_view name, absl::string_view verb) {
  return absl::StrCat(name == kDefaultClusterName
                          ? ""
                          : absl::StrCat(kClusterEnv, "=", name, " "),
                      "bazel run //comm:cluster -- ", verb);
}

}  // namespace freezing::comm
