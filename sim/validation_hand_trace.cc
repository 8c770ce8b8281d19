#include "sim/validation_hand_trace.h"

#include <cmath>
#include <cstdint>

#include "sim/hand_trace.h"
#include "trace/trace.pb.h"

namespace freezing::sim {

trace::TraceContents ValidationHandTrace(double late) {
  trace::TraceContents t = TwoUnitTrace();
  t.header->mutable_config()->set_comm_mode("sync");
  t.profile->set_optimizer_ns_per_param(0.1);
  t.profile->set_loss_ns(4);
  for (int s = 0; s < 8; ++s) {
    const bool odd = s % 2 == 1;
    // Step 0 is the warm-up, steps 1-3 scatter around the base numbers.
    constexpr double kHeldIn[] = {3.0, 0.9, 1.1, 1.0};
    const double f = s < 4 ? kHeldIn[s] : late;
    auto v = [&](int64_t base) {
      return static_cast<int64_t>(std::llround(static_cast<double>(base) * f));
    };
    const bool frozen[] = {false, false};
    const int64_t forward[] = {v(110), v(20)};
    const int64_t backward[] = {v(220), v(30)};
    trace::Step& st = AddStep(t, s, frozen, forward, backward);
    trace::PhaseTimes& ph = *st.mutable_phases();
    const int64_t accumulate = v(10);
    ph.set_data_ns(v(20));
    ph.set_forward_ns(v(10) + forward[0] + forward[1]);
    ph.set_backward_ns(backward[0] + backward[1] - accumulate);
    ph.set_comm_exposed_ns(v(1200));
    ph.set_optimizer_ns(v(1100));
    // Interval work: 2000 in the held-in steps (1 and 3), scaled after.
    ph.set_stats_ns(accumulate + (odd ? (s < 4 ? 2000 : v(2000)) : 0));
    ph.set_other_ns(v(10));
    CloseStep(st);
    if (!odd) continue;
    trace::Interval& iv = AddInterval(t, s);
    const int i = s / 2;
    for (int u = 0; u < 2; ++u) {
      trace::UnitWindowNorms* n = iv.add_global();
      n->set_unit(u);
      for (int k = 1; k <= (i == 0 ? 1 : 2); ++k) {
        n->add_l2(1.0 + u);
        n->add_l1(2.0 + u);
        n->add_trained_steps(2 * k);
      }
    }
  }
  AddFooter(t);
  return t;
}

}  // namespace freezing::sim
