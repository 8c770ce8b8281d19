// AbortWatchdog: ends this rank when it stops making progress, so that a job
// whose peer host is unreachable ends instead of waiting forever.
//
// Why it is needed: a rank killed outright is noticed by Hydra (its proxy
// sees the exit) and the job ends at once. A host whose link goes down is
// not: MPICH 4.0.2 over UCX's TCP transport never reports an error for a
// peer that stops answering (measured on the emulated cluster: ranks on
// both sides of a link taken down sat in their all-reduce for 90 s and more,
// UCX's TCP keepalive notwithstanding), and mpiexec itself waits on the
// cut-off proxy's control connection until TCP gives up (about 15
// minutes). It ends within a second, though, once a rank it can reach dies
// from a signal (a rank that merely exits with an error status makes it
// wait for the others' exit reports, the cut-off proxy's included). So
// each rank watches itself: the caller reports progress (Progress(): a step
// done, an evaluation batch, a checkpoint written); if none comes for the
// deadline, the rank probes the hosts of the other ranks (SetPeerHosts: a
// TCP connection attempt to port 22, ssh's, which Hydra needs on a real
// cluster; "connection refused" counts as an answer), prints
//   [rank r/p on HOST] fatal: no progress for N s (last: WHAT); ...
//   hosts that do not answer: h2 (ranks 1, 3) ...
// and kills itself with SIGKILL (not MPI_Abort, which on a cut-off host
// waits for an mpiexec it cannot reach; not exit(1), see above). The
// cut-off host's own ranks fire too, but their output travels through
// their proxy's control connection, the dead link: it is the ranks that
// can still talk to mpiexec that name the host they lost.
// The deadline: FREEZING_PROGRESS_TIMEOUT_S seconds when set (> 0; 0 turns
// the watchdog off), else max(kFloorSeconds, kGapFactor x the longest gap
// between two reports seen so far, the first one counted from Start():
// start-up and the first step): generous for a model whose steps take long,
// short for a small one. It is armed by the first Progress(): start-up is
// not watched.
#ifndef FREEZING_COMM_ABORT_WATCHDOG_H_
#define FREEZING_COMM_ABORT_WATCHDOG_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"

namespace freezing::comm {

class AbortWatchdog {
 public:
  static constexpr double kFloorSeconds = 20;
  static constexpr double kGapFactor = 5;

  struct Options {
    // Fixed deadline in seconds; <= 0: adaptive (see above).
    double fixed_seconds = 0;
    double floor_seconds = kFloorSeconds;
    double gap_factor = kGapFactor;
    // How long the probe of the peers' hosts waits for answers.
    double probe_seconds = 2;
    // What ends the rank once the message is printed (tests replace it;
    // default: SIGKILL).
    std::function<void(const std::string& message)> on_stall;
  };

  // OptionsFromEnvironment: the options FREEZING_PROGRESS_TIMEOUT_S asks
  // for; `*enabled` is false when it is 0 (no watchdog).
  static Options OptionsFromEnvironment(bool* enabled);

  // Start: a watchdog for the rank named `who` ("[rank r/p on HOST]").
  static std::unique_ptr<AbortWatchdog> Start(std::string who, Options options);
  ~AbortWatchdog();  // stops the thread; never fires afterwards
  AbortWatchdog(const AbortWatchdog&) = delete;
  AbortWatchdog& operator=(const AbortWatchdog&) = delete;

  // Progress: the rank is alive; `what` says where (for the message).
  void Progress(absl::string_view what);

  // SetPeerHosts: every rank's host, by rank, for the probe (`my_rank`'s
  // host is not probed).
  void SetPeerHosts(std::vector<std::string> hosts_by_rank, int my_rank);

  // Deadline: the deadline now, in seconds (0 before the first Progress).
  double DeadlineSeconds() const;

 private:
  AbortWatchdog(std::string who, Options options);
  void Watch();
  std::string StallMessage(double deadline);
  double DeadlineLocked() const;

  const std::string who_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool armed_ = false;
  const int64_t started_ns_;
  int64_t last_ns_ = 0;
  int64_t longest_gap_ns_ = 0;
  std::string last_what_;
  std::vector<std::string> peer_hosts_;
  int my_rank_ = -1;
  std::thread thread_;
};

// UnansweringHosts: of `hosts`, those where a TCP connection to `port` gets
// no answer (neither accepted nor refused) within `seconds`; all probed at
// once. A host name that does not resolve counts as not answering.
std::vector<std::string> UnansweringHosts(const std::vector<std::string>& hosts,
                                          int port, double seconds);

}  // namespace freezing::comm

#endif  // FREEZING_COMM_ABORT_WATCHDOG_H_
