#include "comm/abort_watchdog.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/clock.h"

namespace freezing::comm {
namespace {

using base::NowNs;

// StartConnect: a non-blocking TCP connection to `host`:`port` under way;
// -1 when the name does not resolve or the socket fails. `*answered` is set
// when it completed (or was refused) at once.
int StartConnect(const std::string& host, int port, bool* answered) {
  *answered = false;
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                    &found) != 0 ||
      found == nullptr) {
    return -1;
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd >= 0) {
    const int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
    if (rc == 0 || errno == ECONNREFUSED) *answered = true;
    if (rc != 0 && errno != EINPROGRESS && errno != ECONNREFUSED) {
      ::close(fd);
      ::freeaddrinfo(found);
      return -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

std::vector<std::string> UnansweringHosts(const std::vector<std::string>& hosts,
                                          int port, double seconds) {
  std::vector<int> fds(hosts.size(), -1);
  std::vector<bool> answered(hosts.size(), false);
  for (size_t i = 0; i < hosts.size(); ++i) {
    bool now = false;
    fds[i] = StartConnect(hosts[i], port, &now);
    answered[i] = now;
  }
  const int64_t end = NowNs() + static_cast<int64_t>(seconds * 1e9);
  while (true) {
    std::vector<pollfd> waiting;
    std::vector<size_t> which;
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (fds[i] >= 0 && !answered[i]) {
        waiting.push_back({fds[i], POLLOUT, 0});
        which.push_back(i);
      }
    }
    const int64_t left_ms = (end - NowNs()) / 1000000;
    if (waiting.empty() || left_ms <= 0) break;
    if (::poll(waiting.data(), waiting.size(), static_cast<int>(left_ms)) <=
        0) {
      continue;
    }
    for (size_t k = 0; k < waiting.size(); ++k) {
      if (waiting[k].revents == 0) continue;
      int error = 0;
      socklen_t len = sizeof(error);
      ::getsockopt(waiting[k].fd, SOL_SOCKET, SO_ERROR, &error, &len);
      // Accepted or refused: the host answered. Anything else (no route,
      // unreachable) is no answer; stop waiting for it.
      if (error == 0 || error == ECONNREFUSED) {
        answered[which[k]] = true;
      } else {
        ::close(fds[which[k]]);
        fds[which[k]] = -1;
      }
    }
  }
  std::vector<std::string> silent;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
    if (!answered[i]) silent.push_back(hosts[i]);
  }
  return silent;
}

AbortWatchdog::Options AbortWatchdog::OptionsFromEnvironment(bool* enabled) {
  Options o;
  *enabled = true;
  const char* v = std::getenv("FREEZING_PROGRESS_TIMEOUT_S");
  double s = 0;
  if (v != nullptr && absl::SimpleAtod(v, &s)) {
    if (s <= 0) *enabled = false;
    o.fixed_seconds = s;
  }
  return o;
}

std::unique_ptr<AbortWatchdog> AbortWatchdog::Start(std::string who,
                                                    Options options) {
  std::unique_ptr<AbortWatchdog> w(
      new AbortWatchdog(std::move(who), std::move(options)));
  w->thread_ = std::thread([p = w.get()] { p->Watch(); });
  return w;
}

AbortWatchdog::AbortWatchdog(std::string who, Options options)
    : who_(std::move(who)),
      options_(std::move(options)),
      started_ns_(NowNs()) {}

AbortWatchdog::~AbortWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AbortWatchdog::SetPeerHosts(std::vector<std::string> hosts_by_rank,
                                 int my_rank) {
  std::lock_guard<std::mutex> lock(mu_);
  peer_hosts_ = std::move(hosts_by_rank);
  my_rank_ = my_rank;
}

void AbortWatchdog::Progress(absl::string_view what) {
  const int64_t now = NowNs();
  std::lock_guard<std::mutex> lock(mu_);
  // The first gap is from Start: start-up and a first step, an upper bound
  // of a step to come.
  longest_gap_ns_ =
      std::max(longest_gap_ns_, now - (armed_ ? last_ns_ : started_ns_));
  armed_ = true;
  last_ns_ = now;
  last_what_ = std::string(what);
  cv_.notify_all();
}

double AbortWatchdog::DeadlineSeconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return DeadlineLocked();
}

double AbortWatchdog::DeadlineLocked() const {
  if (!armed_) return 0;
  if (options_.fixed_seconds > 0) return options_.fixed_seconds;
  return std::max(
      options_.floor_seconds,
      options_.gap_factor * static_cast<double>(longest_gap_ns_) * 1e-9);
}

void AbortWatchdog::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    const double deadline = DeadlineLocked();
    const int64_t due = last_ns_ + static_cast<int64_t>(deadline * 1e9);
    const int64_t now = NowNs();
    if (now < due) {
      // Woken early by Progress() or the destructor: look again.
      cv_.wait_for(lock, std::chrono::nanoseconds(due - now));
      continue;
    }
    const std::string message = StallMessage(deadline);
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    if (options_.on_stall) {
      options_.on_stall(message);
      armed_ = false;  // fires once per silence
      continue;
    }
    // As in MpiSession::AbortJob: give Hydra's proxy a moment to forward
    // the message before the process goes.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ::kill(::getpid(), SIGKILL);
  }
}

// Called with mu_ held; the probe takes up to options_.probe_seconds.
std::string AbortWatchdog::StallMessage(double deadline) {
  // Host -> its ranks, in rank order, without this rank's host.
  std::map<std::string, std::vector<int>> ranks_of;
  std::vector<std::string> hosts;
  const std::string mine =
      my_rank_ >= 0 && my_rank_ < static_cast<int>(peer_hosts_.size())
          ? peer_hosts_[my_rank_]
          : std::string();
  for (size_t r = 0; r < peer_hosts_.size(); ++r) {
    const std::string& h = peer_hosts_[r];
    if (h == mine) continue;
    if (ranks_of[h].empty()) hosts.push_back(h);
    ranks_of[h].push_back(static_cast<int>(r));
  }
  std::string probe;
  if (!hosts.empty()) {
    std::vector<std::string> silent =
        UnansweringHosts(hosts, 22, options_.probe_seconds);
    std::vector<std::string> named;
    for (const std::string& h : silent) {
      named.push_back(absl::StrCat(h, " (rank",
                                   ranks_of[h].size() > 1 ? "s" : "", " ",
                                   absl::StrJoin(ranks_of[h], ", "), ")"));
    }
    probe =
        silent.empty()
            ? absl::StrCat("; every other host answers (",
                           absl::StrJoin(hosts, ", "), "): a rank hangs?")
            : absl::StrCat("; hosts that do not answer: ",
                           absl::StrJoin(named, ", "), " (down, or its link?)");
  }
  return absl::StrFormat(
      "%s fatal: no progress for %.0f s (last: %s): a collective is waiting "
      "for a rank that does not answer%s. Ending this rank so that the job "
      "ends (FREEZING_PROGRESS_TIMEOUT_S sets the deadline; "
      "comm/abort_watchdog.h)",
      who_, deadline, last_what_, probe);
}

}  // namespace freezing::comm
