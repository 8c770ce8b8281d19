#include "sim/validation_hand_trace.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "trace/trace.pb.h"

namespace freezing::sim {

trace::TraceContents ValidationHandTrace(double late) {
  trace::TraceContents t;
  t.path = "hand.pb";
  trace::Header& h = t.header.emplace();
  h.set_schema_version(1);
  trace::RunConfig& c = *h.mutable_config();
  c.set_model("hand");
  c.set_batch_size(8);
  c.set_epochs(2);
  c.set_steps_per_epoch(4);
  c.set_policy("none:interval=2,warmup=0,max_frozen=1");
  c.set_vote_rule("global");
  c.set_stats_interval(2);
  c.set_stats_window(2);
  c.set_ranks(2);
  c.set_comm_mode("sync");
  c.set_first_bucket_bytes(1 << 30);
  c.set_bucket_cap_bytes(1 << 30);
  c.set_augment(false);
  const char* names[] = {"body", "fc"};
  const int64_t params[] = {1000, 100};
  for (int u = 0; u < 2; ++u) {
    trace::Unit* unit = h.add_units();
    unit->set_name(names[u]);
    unit->set_params(params[u]);
    unit->set_bytes(4 * params[u]);
    unit->set_is_classifier(u == 1);
    trace::Param* p = h.add_params();
    p->set_name(std::string(names[u]) + ".w");
    p->set_numel(params[u]);
    p->set_element_bytes(4);
    p->set_unit(u);
  }
  trace::StartupProfile& p = t.profile.emplace();
  auto unit = [&](int u, int64_t f, int64_t fn, int64_t b, int64_t bn) {
    trace::UnitProfile* up = p.add_units();
    up->set_unit(u);
    up->set_forward_ns(f);
    up->set_forward_nograd_ns(fn);
    up->set_backward_ns(b);
    up->set_backward_no_input_grad_ns(bn);
  };
  unit(0, 100, 80, 300, 200);
  unit(1, 10, 8, 30, 20);
  p.set_optimizer_ns_per_param(0.1);
  p.set_optimizer_fixed_ns(0);
  p.set_loss_ns(4);
  trace::AllReducePoint* a = p.add_allreduce();
  a->set_bytes(400);
  a->set_ns(200);
  a = p.add_allreduce();
  a->set_bytes(4400);
  a->set_ns(1000);
  for (int s = 0; s < 8; ++s) {
    const bool odd = s % 2 == 1;
    // Step 0 is the warm-up, steps 1-3 scatter around the base numbers.
    constexpr double kHeldIn[] = {3.0, 0.9, 1.1, 1.0};
    const double f = s < 4 ? kHeldIn[s] : late;
    auto v = [&](int64_t base) {
      return static_cast<int64_t>(std::llround(static_cast<double>(base) * f));
    };
    trace::Step& st = t.steps.emplace_back();
    st.set_step(s);
    st.set_epoch(s / 4);
    st.add_trainable(true);
    st.add_trainable(true);
    st.add_unit_forward_ns(v(110));
    st.add_unit_forward_ns(v(20));
    st.add_unit_backward_ns(v(220));
    st.add_unit_backward_ns(v(30));
    trace::PhaseTimes& ph = *st.mutable_phases();
    const int64_t accumulate = v(10);
    ph.set_data_ns(v(20));
    ph.set_forward_ns(v(10) + st.unit_forward_ns(0) + st.unit_forward_ns(1));
    ph.set_backward_ns(st.unit_backward_ns(0) + st.unit_backward_ns(1) -
                       accumulate);
    ph.set_comm_exposed_ns(v(1200));
    ph.set_optimizer_ns(v(1100));
    // Interval work: 2000 in the held-in steps (1 and 3), scaled after.
    ph.set_stats_ns(accumulate + (odd ? (s < 4 ? 2000 : v(2000)) : 0));
    ph.set_other_ns(v(10));
    ph.set_total_ns(ph.data_ns() + ph.forward_ns() + ph.backward_ns() +
                    ph.comm_exposed_ns() + ph.optimizer_ns() + ph.stats_ns() +
                    ph.other_ns());
    st.mutable_cache()->set_boundary_unit(-1);
    if (!odd) continue;
    trace::Interval& iv = t.intervals.emplace_back();
    const int i = s / 2;
    iv.set_index(i);
    iv.set_first_step(s - 1);
    iv.set_last_step(s);
    iv.set_epoch(s / 4);
    iv.set_progress((s + 1) / 8.0);
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
  int64_t total = 0;
  for (const trace::Step& st : t.steps) total += st.phases().total_ns();
  trace::Footer& footer = t.footer.emplace();
  footer.set_steps(8);
  footer.set_total_time_ns(total);
  return t;
}

}  // namespace freezing::sim
