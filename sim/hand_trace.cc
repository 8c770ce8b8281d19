#include "sim/hand_trace.h"

#include <string>

#include "trace/trace.pb.h"

namespace freezing::sim {

trace::TraceContents HandTrace(int frozen_from, bool profile) {
  trace::TraceContents t;
  t.path = "hand.pb";
  trace::Header& h = t.header.emplace();
  h.set_schema_version(1);
  trace::RunConfig& c = *h.mutable_config();
  c.set_model("hand");
  c.set_batch_size(8);
  c.set_epochs(2);
  c.set_steps_per_epoch(4);
  c.set_policy(frozen_from >= 0
                   ? "static:interval=2,k=1,at=" + std::to_string(frozen_from) +
                         ",warmup=0,max_frozen=1"
                   : "none:interval=2,warmup=0,max_frozen=1");
  c.set_vote_rule("global");
  c.set_stats_interval(2);
  c.set_stats_window(2);
  c.set_ranks(2);
  c.set_first_bucket_bytes(1 << 30);
  c.set_bucket_cap_bytes(1 << 30);
  c.set_augment(false);
  trace::Unit* body = h.add_units();
  body->set_name("body");
  body->set_params(1000);
  body->set_bytes(4000);
  body->set_output_elements_per_sample(50);
  trace::Unit* fc = h.add_units();
  fc->set_name("fc");
  fc->set_params(100);
  fc->set_bytes(400);
  fc->set_is_classifier(true);
  fc->set_output_elements_per_sample(5);
  trace::Param* p0 = h.add_params();
  p0->set_name("body.w");
  p0->set_numel(1000);
  p0->set_element_bytes(4);
  p0->set_unit(0);
  trace::Param* p1 = h.add_params();
  p1->set_name("fc.w");
  p1->set_numel(100);
  p1->set_element_bytes(4);
  p1->set_unit(1);
  if (profile) {
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
    p.set_optimizer_ns_per_param(1.0);
    p.set_optimizer_fixed_ns(0);
    p.set_cache_read_ns_per_element(0.5);
    trace::AllReducePoint* a = p.add_allreduce();
    a->set_bytes(400);
    a->set_ns(200);
    a = p.add_allreduce();
    a->set_bytes(4400);
    a->set_ns(1000);
  }
  for (int s = 0; s < 8; ++s) {
    const bool body_trained = frozen_from < 0 || s < frozen_from;
    trace::Step& st = t.steps.emplace_back();
    st.set_step(s);
    st.set_epoch(s / 4);
    st.add_trainable(body_trained);
    st.add_trainable(true);
    st.add_unit_forward_ns(body_trained ? 110 : 90);
    st.add_unit_forward_ns(11);
    st.add_unit_backward_ns(body_trained ? 220 : 0);
    st.add_unit_backward_ns(body_trained ? 33 : 24);
    trace::PhaseTimes& ph = *st.mutable_phases();
    const bool interval_end = s % 2 == 1;
    ph.set_data_ns(20);
    ph.set_forward_ns(5 + st.unit_forward_ns(0) + 11);
    ph.set_backward_ns(st.unit_backward_ns(0) + st.unit_backward_ns(1) - 7);
    ph.set_comm_exposed_ns(50);
    ph.set_optimizer_ns(body_trained ? 1100 : 100);
    ph.set_stats_ns(7 + (interval_end ? 2000 : 0));
    ph.set_other_ns(3);
    ph.set_total_ns(ph.data_ns() + ph.forward_ns() + ph.backward_ns() +
                    ph.comm_exposed_ns() + ph.optimizer_ns() + ph.stats_ns() +
                    ph.other_ns());
    st.mutable_cache()->set_boundary_unit(-1);
    if (!interval_end) continue;
    trace::Interval& iv = t.intervals.emplace_back();
    const int i = s / 2;
    iv.set_index(i);
    iv.set_first_step(s - 1);
    iv.set_last_step(s);
    iv.set_epoch(s / 4);
    iv.set_progress((s + 1) / 8.0);
    const int windows = i == 0 ? 1 : 2;
    for (int u = 0; u < 2; ++u) {
      trace::UnitWindowNorms* n = iv.add_global();
      n->set_unit(u);
      for (int k = 1; k <= windows; ++k) {
        // Window k of interval i: 10·i + k for body, 1 for fc; body's
        // trained steps count only its trained intervals.
        int trained = 0;
        for (int j = i - k + 1; j <= i; ++j) {
          if (u == 1 || frozen_from < 0 || 2 * j + 1 < frozen_from)
            trained += 2;
        }
        n->add_l2(u == 0 ? (trained > 0 ? 10.0 * i + k : 0.0) : 1.0);
        n->add_l1(u == 0 ? (trained > 0 ? 100.0 * i + k : 0.0) : 2.0);
        n->add_trained_steps(trained);
      }
    }
  }
  int64_t total = 0;
  for (const trace::Step& st : t.steps) total += st.phases().total_ns();
  trace::Footer& f = t.footer.emplace();
  f.set_steps(8);
  f.set_total_time_ns(total);
  f.set_final_test_accuracy(0.5);
  if (frozen_from >= 0) {
    trace::FreezeEvent& e = t.freeze_events.emplace_back();
    e.set_step(frozen_from);
    e.add_freeze(0);
  }
  return t;
}

}  // namespace freezing::sim
