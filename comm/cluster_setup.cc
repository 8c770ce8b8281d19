#include "comm/cluster_setup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "comm/cluster_spec.h"

namespace freezing::comm {
namespace {

constexpr char kNetemMissing[] = "Specified qdisc kind is unknown";

// ---- running commands ----

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Reads `out_fd` and `err_fd` into `result` until the writer closes both
// (reading one at a time could block on a full pipe of the other).
void ReadUntilClosed(int out_fd, int err_fd, CommandResult* result) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&result->out, &result->err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll ignores it from now on
        --open_fds;
      }
    }
  }
}

std::string FindTool(const std::string& name) {
  const char* path = std::getenv("PATH");
  const std::string dirs = absl::StrCat(path != nullptr ? path : "",
                                        ":/usr/sbin:/sbin:/usr/bin:/bin");
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs argv (argv[0] looked up by FindTool), capturing its output.
absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv) {
  const std::string exe = FindTool(argv[0]);
  if (exe.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(argv[0], " is not installed"));
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> c_argv;
  std::vector<std::string> copy = argv;
  for (std::string& s : copy) c_argv.push_back(s.data());
  c_argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(exe.c_str(), c_argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult result;
  if (pid > 0) ReadUntilClosed(out_pipe[0], err_pipe[0], &result);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

// Runs argv and returns its stdout; FailedPrecondition with its stderr when
// it fails.
absl::StatusOr<std::string> RunOk(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CommandResult r, Run(argv));
  if (r.exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", absl::StrJoin(argv, " "), "` failed (exit ",
                     r.exit_code, "): ", absl::StripAsciiWhitespace(r.err)));
  }
  return r.out;
}

absl::StatusOr<MachineFacts> ObserveMachine() {
  MachineFacts facts;
  ASSIGN_OR_RETURN(std::string addrs,
                   RunOk({"ip", "-4", "-o", "addr", "show"}));
  ASSIGN_OR_RETURN(std::string routes, RunOk({"ip", "-4", "route", "show"}));
  ASSIGN_OR_RETURN(std::string links, RunOk({"ip", "-o", "link", "show"}));
  ASSIGN_OR_RETURN(std::string netns, RunOk({"ip", "netns", "list"}));
  facts.ipv4_prefixes = ParseIpAddrs(addrs);
  for (std::string& r : ParseIpRoutes(routes)) {
    facts.ipv4_prefixes.push_back(std::move(r));
  }
  facts.links = ParseIpLinks(links);
  facts.namespaces = ParseNetnsList(netns);
  absl::StatusOr<std::string> hosts = base::ReadFile(kEtcHosts);
  if (hosts.ok()) facts.etc_hosts = *std::move(hosts);
  return facts;
}

// /etc/hosts is often a bind mount (containers), which rename cannot
// replace: then it is rewritten in place.
absl::Status WriteEtcHosts(const std::string& text) {
  if (base::WriteFileAtomically(kEtcHosts, text).ok()) return absl::OkStatus();
  std::ofstream out(kEtcHosts, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    return absl::InternalError(
        absl::StrCat("cannot write ", kEtcHosts, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EditEtcHosts(const ClusterSpec* add, absl::string_view remove) {
  absl::StatusOr<std::string> text = base::ReadFile(kEtcHosts);
  if (!text.ok() && !absl::IsNotFound(text.status())) return text.status();
  const std::string old = text.ok() ? *text : "";
  const std::string updated = add != nullptr ? WithClusterHosts(old, *add)
                                             : WithoutClusterHosts(old, remove);
  if (updated == old) return absl::OkStatus();
  return WriteEtcHosts(updated);
}

// Serializes `up` and `down` of all clusters (choosing a free subnet and
// free names, then taking them, must not interleave): a lock on the state
// root itself, which the last `down` removes, so that nothing is left.
class StateLock {
 public:
  static absl::StatusOr<StateLock> Take(absl::string_view root) {
    const std::string path(root);
    // A root removed by a `down` while we waited is made again.
    for (int attempt = 0; attempt < 100; ++attempt) {
      RETURN_IF_ERROR(base::MakeDirs(path));
      const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) continue;
      struct stat st;
      if (fd < 0 || ::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &st) != 0) {
        if (fd >= 0) ::close(fd);
        return absl::InternalError(
            absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
      }
      if (st.st_nlink > 0) return StateLock(fd, path);
      ::close(fd);
    }
    return absl::UnavailableError(absl::StrCat("cannot lock ", path));
  }
  StateLock(StateLock&& other)
      : fd_(std::exchange(other.fd_, -1)), root_(std::move(other.root_)) {}
  // Removes the root when no cluster is left in it.
  ~StateLock() {
    if (fd_ < 0) return;
    ::rmdir(root_.c_str());
    ::close(fd_);
  }

 private:
  StateLock(int fd, std::string root) : fd_(fd), root_(std::move(root)) {}
  int fd_;
  std::string root_;
};

void Say(const std::vector<std::string>& argv) {
  std::printf("+ %s\n", absl::StrJoin(argv, " ").c_str());
  std::fflush(stdout);
}

absl::Status RunStep(const std::vector<std::string>& argv) {
  Say(argv);
  ASSIGN_OR_RETURN(CommandResult r, Run(argv));
  if (r.exit_code == 0) return absl::OkStatus();
  const std::string err(absl::StripAsciiWhitespace(r.err));
  if (std::find(argv.begin(), argv.end(), "netem") != argv.end() &&
      absl::StrContains(err, kNetemMissing)) {
    return absl::UnimplementedError(absl::StrCat(
        "--delay_us needs the kernel's netem qdisc (sch_netem), and this "
        "kernel has none (tc: \"",
        err,
        "\"); run without --delay_us (rates are shaped with tbf, which "
        "this kernel has)"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("`", absl::StrJoin(argv, " "), "` failed (exit ",
                   r.exit_code, "): ", err));
}

absl::Status RemoveState(absl::string_view root, absl::string_view name) {
  for (const std::string& path :
       {ClusterLauncherScript(root, name), ClusterStateFile(root, name)}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(
          absl::StrCat("cannot remove ", path, ": ", std::strerror(errno)));
    }
  }
  const std::string dir = ClusterStateDir(root, name);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteState(const ClusterSpec& spec, absl::string_view root) {
  RETURN_IF_ERROR(base::MakeDirs(ClusterStateDir(root, spec.name)));
  return base::WriteFileAtomically(ClusterStateFile(root, spec.name),
                                   FormatClusterSpec(spec));
}

absl::Status WriteLauncherScript(const ClusterSpec& spec,
                                 absl::string_view root) {
  const std::string path = ClusterLauncherScript(root, spec.name);
  RETURN_IF_ERROR(base::WriteFileAtomically(
      path, LauncherScriptText(spec, FindTool("ip"), FindTool("unshare"),
                               FindTool("hostname"))));
  if (::chmod(path.c_str(), 0755) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot chmod ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// ---- inspecting a cluster ----

// The root qdiscs' rate and a netem delay, as tc shows them ("?" when
// there is no tbf).
struct Shaping {
  std::string rate = "?";
  std::string delay;
  int64_t rate_bps = 0;
};

Shaping ReadShaping(absl::string_view tc_output) {
  Shaping s;
  std::vector<absl::string_view> w =
      absl::StrSplit(tc_output, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == "rate" && s.rate == "?") {
      absl::StatusOr<int64_t> bps = ParseTcRate(w[i + 1]);
      s.rate_bps = bps.ok() ? *bps : 0;
      s.rate = bps.ok() ? FormatRate(*bps) : std::string(w[i + 1]);
    }
    if (w[i] == "delay") s.delay = std::string(w[i + 1]);
  }
  return s;
}

// A line of `status`'s table (11-character host names fit).
std::string StatusRow(absl::string_view host, absl::string_view address,
                      absl::string_view link, absl::string_view out,
                      absl::string_view in, absl::string_view delay) {
  return absl::StrFormat("%-11s %-15s %-15s %-9s %-9s %s", host, address, link,
                         out, in, delay);
}

struct Inspection {
  std::vector<std::string> problems;
  std::vector<std::string> rows;  // one per host, for `status`
};

// Whether the output of `argv` contains `text`.
bool Shows(const std::vector<std::string>& argv, const std::string& text) {
  absl::StatusOr<std::string> out = RunOk(argv);
  return out.ok() && absl::StrContains(*out, text);
}

// What of host `h` of `spec` is in place; its row of `status`.
void InspectHost(const ClusterSpec& spec, const EmulatedHost& h,
                 const MachineFacts& facts, Inspection* in) {
  auto missing = [&](std::string what) {
    in->problems.push_back(std::move(what));
  };
  const bool ns = facts.namespaces.count(h.name) > 0;
  const bool link = facts.links.count(h.link) > 0;
  if (!ns) missing(absl::StrCat("no namespace ", h.name));
  if (!link) missing(absl::StrCat("no link ", h.link));
  if (!absl::StrContains(facts.etc_hosts,
                         absl::StrCat(h.address, "\t", h.name, "\t",
                                      HostsMarker(spec.name)))) {
    missing(absl::StrCat("no ", kEtcHosts, " line for ", h.name));
  }
  Shaping in_rate, out_rate;
  if (link) {
    if (!Shows({"ip", "-o", "link", "show", "dev", h.link},
               absl::StrCat("master ", spec.bridge))) {
      missing(absl::StrCat(h.link, " is not a port of ", spec.bridge));
    }
    absl::StatusOr<std::string> q =
        RunOk({"tc", "qdisc", "show", "dev", h.link});
    if (q.ok()) in_rate = ReadShaping(*q);
  }
  if (ns) {
    if (!Shows({"ip", "-n", h.name, "-4", "-o", "addr", "show", "dev", "eth0"},
               absl::StrCat(" ", h.address, "/24"))) {
      missing(absl::StrCat(h.name, "'s eth0 lacks its address ", h.address));
    }
    absl::StatusOr<std::string> q =
        RunOk({"tc", "-n", h.name, "qdisc", "show", "dev", "eth0"});
    if (q.ok()) out_rate = ReadShaping(*q);
  }
  for (const Shaping* s : {&in_rate, &out_rate}) {
    if (ns && link && s->rate_bps != h.rate_bps) {
      missing(absl::StrCat(h.name, ": tc shows rate ", s->rate, ", not ",
                           FormatRate(h.rate_bps)));
    }
  }
  if (ns && spec.delay_us > 0 && out_rate.delay.empty()) {
    missing(absl::StrCat(h.name, ": no netem delay on its eth0"));
  }
  in->rows.push_back(StatusRow(h.name, h.address, h.link, out_rate.rate,
                               in_rate.rate,
                               out_rate.delay.empty() ? "-" : out_rate.delay));
}

// What of `spec` is in place on this machine.
absl::StatusOr<Inspection> Inspect(const ClusterSpec& spec,
                                   absl::string_view root) {
  ASSIGN_OR_RETURN(MachineFacts facts, ObserveMachine());
  Inspection in;
  if (facts.links.count(spec.bridge) == 0) {
    in.problems.push_back(absl::StrCat("no bridge ", spec.bridge));
  } else if (!Shows({"ip", "-4", "-o", "addr", "show", "dev", spec.bridge},
                    absl::StrCat(" ", spec.bridge_address, "/"))) {
    in.problems.push_back(absl::StrCat(
        "bridge ", spec.bridge, " lacks its address ", spec.bridge_address));
  }
  const std::string script = ClusterLauncherScript(root, spec.name);
  if (::access(script.c_str(), X_OK) != 0) {
    in.problems.push_back(absl::StrCat("no launcher script ", script));
  }
  for (const EmulatedHost& h : spec.hosts) InspectHost(spec, h, facts, &in);
  return in;
}

}  // namespace

absl::Status CheckClusterTools() {
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "an emulated cluster makes network namespaces, links and qdiscs: run "
        "as root");
  }
  for (const char* tool : {"ip", "tc", "unshare", "hostname"}) {
    if (FindTool(tool).empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(tool, " is missing: install ",
                       absl::string_view(tool) == "unshare"    ? "util-linux"
                       : absl::string_view(tool) == "hostname" ? "hostname"
                                                               : "iproute2",
                       " (tools/setup.sh installs what the project needs)"));
    }
  }
  return absl::OkStatus();
}

namespace {

// For an `up` of a cluster that has a state already: OK when it is up with
// the same options and in place, else FailedPrecondition naming `down`.
absl::Status CheckAlreadyUp(const ClusterOptions& options,
                            absl::string_view state, absl::string_view root) {
  absl::StatusOr<ClusterSpec> old = ParseClusterSpec(state);
  const std::string down =
      absl::StrCat("run `", ClusterCommand(options.name, "down"), "` first");
  if (!old.ok() || !old->complete) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", options.name,
                     " is half up (an earlier `up` did not finish): ", down));
  }
  if (old->options != CanonicalUpOptions(options)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", options.name, " is up with other options (",
                     old->options, "): ", down));
  }
  ASSIGN_OR_RETURN(Inspection in, Inspect(*old, root));
  if (!in.problems.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", options.name, " is up but not in place (",
                     absl::StrJoin(in.problems, "; "), "): ", down));
  }
  std::printf("cluster %s is already up with these options: nothing to do\n",
              options.name.c_str());
  return absl::OkStatus();
}

// Undoes a failed `up` of `spec`: the `undo` commands in reverse, its
// /etc/hosts lines, its state. Says what fails, and goes on.
void UndoUp(const ClusterSpec& spec,
            const std::vector<std::vector<std::string>>& undo,
            absl::string_view root) {
  std::printf("up failed; undoing what it did\n");
  std::vector<absl::Status> results;
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    results.push_back(RunStep(*it));
  }
  results.push_back(EditEtcHosts(nullptr, spec.name));
  results.push_back(RemoveState(root, spec.name));
  for (const absl::Status& s : results) {
    if (!s.ok()) std::printf("  (%s)\n", std::string(s.message()).c_str());
  }
}

}  // namespace

absl::Status ClusterUp(const ClusterOptions& options, absl::string_view root) {
  RETURN_IF_ERROR(ValidateClusterName(options.name));
  ASSIGN_OR_RETURN(StateLock lock, StateLock::Take(root));
  absl::StatusOr<std::string> state =
      base::ReadFile(ClusterStateFile(root, options.name));
  if (state.ok()) return CheckAlreadyUp(options, *state, root);
  ASSIGN_OR_RETURN(MachineFacts facts, ObserveMachine());
  ASSIGN_OR_RETURN(ClusterSpec spec, PlanCluster(options, facts));

  // The state first: whatever happens next, `down` knows what to remove.
  RETURN_IF_ERROR(WriteState(spec, root));
  std::vector<std::vector<std::string>> undo;
  absl::Status status = WriteLauncherScript(spec, root);
  for (const ClusterStep& step : UpSteps(spec)) {
    if (!status.ok()) break;
    status = RunStep(step.run);
    if (status.ok() && !step.undo.empty()) undo.push_back(step.undo);
  }
  if (status.ok()) status = EditEtcHosts(&spec, "");
  if (status.ok()) {
    spec.complete = true;
    status = WriteState(spec, root);
  }
  if (!status.ok()) UndoUp(spec, undo, root);
  return status;
}

absl::Status ClusterDown(absl::string_view name, absl::string_view root) {
  RETURN_IF_ERROR(ValidateClusterName(name));
  ASSIGN_OR_RETURN(StateLock lock, StateLock::Take(root));
  const std::string path = ClusterStateFile(root, name);
  absl::StatusOr<std::string> state = base::ReadFile(path);
  if (absl::IsNotFound(state.status())) {
    std::printf("no cluster %s is up (no %s): nothing to do\n",
                std::string(name).c_str(), path.c_str());
    // Lines of /etc/hosts are still ours by their mark.
    return EditEtcHosts(nullptr, name);
  }
  if (!state.ok()) return state.status();
  absl::StatusOr<ClusterSpec> spec = ParseClusterSpec(*state);
  if (!spec.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", spec.status().message(),
                     "; remove what is left by hand (ip netns list; ip link)"));
  }
  ASSIGN_OR_RETURN(MachineFacts facts, ObserveMachine());
  std::vector<std::string> failed;
  for (const std::vector<std::string>& step : DownSteps(*spec, facts)) {
    if (absl::Status s = RunStep(step); !s.ok()) {
      failed.emplace_back(s.message());
    }
  }
  if (absl::Status s = EditEtcHosts(nullptr, name); !s.ok()) {
    failed.emplace_back(s.message());
  }
  if (!failed.empty()) {
    return absl::InternalError(absl::StrCat(
        "down did not remove everything (", absl::StrJoin(failed, "; "),
        "); the state is kept: run down again"));
  }
  RETURN_IF_ERROR(RemoveState(root, name));
  std::printf("cluster %s is down\n", std::string(name).c_str());
  return absl::OkStatus();
}

absl::Status ClusterStatus(absl::string_view name, absl::string_view root) {
  RETURN_IF_ERROR(ValidateClusterName(name));
  const std::string path = ClusterStateFile(root, name);
  absl::StatusOr<std::string> state = base::ReadFile(path);
  if (absl::IsNotFound(state.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cluster ", name, " is up (no ", path, "); bring one up with ",
        ClusterCommand(name, "up --hosts=2 --rate=1gbit")));
  }
  if (!state.ok()) return state.status();
  ASSIGN_OR_RETURN(ClusterSpec spec, ParseClusterSpec(*state));
  ASSIGN_OR_RETURN(Inspection in, Inspect(spec, root));
  const std::string delay =
      spec.delay_us > 0 ? absl::StrCat(spec.delay_us, "us") : "none";
  std::printf(
      "cluster %s%s: %zu hosts, subnet %s, bridge %s %s, delay %s\n"
      "  up options: %s\n",
      spec.name.c_str(), spec.complete ? "" : " (half up)", spec.hosts.size(),
      spec.subnet.c_str(), spec.bridge.c_str(), spec.bridge_address.c_str(),
      delay.c_str(), spec.options.c_str());
  std::printf("%s\n", StatusRow("host", "address", "link", "rate out",
                                "rate in", "delay")
                          .c_str());
  for (const std::string& row : in.rows) std::printf("%s\n", row.c_str());
  std::printf(
      "(rates and delay as tc shows them on the host's eth0 (out) "
      "and on its bridge port (in))\n");
  if (!spec.complete) {
    in.problems.insert(in.problems.begin(), "its `up` did not finish");
  }
  if (in.problems.empty()) {
    std::printf("everything in place\n");
    return absl::OkStatus();
  }
  for (const std::string& p : in.problems)
    std::printf("missing: %s\n", p.c_str());
  return absl::FailedPreconditionError(
      absl::StrCat("cluster ", name, " is not in place: run ",
                   ClusterCommand(name, "down"), ", then up again"));
}

}  // namespace freezing::comm
