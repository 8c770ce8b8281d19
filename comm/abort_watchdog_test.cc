// The watchdog fires after the deadline without progress, never before its
// first Progress(), and its deadline follows the options.
#include "comm/abort_watchdog.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace freezing::comm {
namespace {

struct Fired {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  // Waits up to `seconds` for a firing; true when one came.
  bool Wait(double seconds) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::duration<double>(seconds),
                       [this] { return count > 0; });
  }
};

AbortWatchdog::Options Fixed(double seconds, Fired& fired) {
  AbortWatchdog::Options o;
  o.fixed_seconds = seconds;
  o.on_stall = [&fired](const std::string&) {
    std::lock_guard<std::mutex> lock(fired.mu);
    ++fired.count;
    fired.cv.notify_all();
  };
  return o;
}

TEST(AbortWatchdogTest, FiresAfterTheDeadlineWithoutProgress) {
  Fired fired;
  auto w = AbortWatchdog::Start("[rank 0/2 on h1]", Fixed(0.1, fired));
  w->Progress("step 3");
  EXPECT_TRUE(fired.Wait(30)) << "no firing 30 s after a 0.1 s deadline";
}

TEST(AbortWatchdogTest, NeverFiresBeforeTheFirstProgress) {
  Fired fired;
  auto w = AbortWatchdog::Start("[rank 0/2 on h1]", Fixed(0.01, fired));
  EXPECT_FALSE(fired.Wait(0.3));
  EXPECT_EQ(w->DeadlineSeconds(), 0);
}

TEST(AbortWatchdogTest, DeadlineIsFixedOrAdaptive) {
  Fired fired;
  auto fixed = AbortWatchdog::Start("r", Fixed(7, fired));
  fixed->Progress("a");
  EXPECT_EQ(fixed->DeadlineSeconds(), 7);

  AbortWatchdog::Options o;
  o.floor_seconds = 20;
  o.gap_factor = 5;
  auto adaptive = AbortWatchdog::Start("r", o);
  adaptive->Progress("a");
  adaptive->Progress("b");  // a gap far below 4 s: the floor holds
  EXPECT_EQ(adaptive->DeadlineSeconds(), 20);
}

// A name that does not resolve never answers; a port with no listener on
// this machine refuses, which is an answer.
TEST(UnansweringHostsTest, RefusedIsAnAnswerAndAnUnknownNameIsNot) {
  EXPECT_EQ(UnansweringHosts({"localhost", "no-such-host.invalid"}, 1, 2),
            std::vector<std::string>{"no-such-host.invalid"});
}

}  // namespace
}  // namespace freezing::comm
