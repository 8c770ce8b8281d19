#include "sim/hand_trace.h"

#include <cstdint>
#include <string>

namespace freezing::sim {

trace::TraceContents TwoUnitTrace() {
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
  c.set_first_bucket_bytes(1 << 30);
  c.set_bucket_cap_bytes(1 << 30);
  c.set_augment(false);
  const char* names[] = {"body", "fc"};
  const int64_t params[] = {1000, 100};
  const int64_t outputs[] = {50, 5};
  for (int u = 0; u < 2; ++u) {
    trace::Unit* unit = h.add_units();
    unit->set_name(names[u]);
    unit->set_params(params[u]);
    unit->set_bytes(4 * params[u]);
    unit->set_is_classifier(u == 1);
    unit->set_output_elements_per_sample(outputs[u]);
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
  p.set_optimizer_fixed_ns(0);
  trace::AllReducePoint* a = p.add_allreduce();
  a->set_bytes(400);
  a->set_ns(200);
  a = p.add_allreduce();
  a->set_bytes(4400);
  a->set_ns(1000);
  return t;
}

trace::Step& AddStep(trace::TraceContents& t, int s, const bool frozen[2],
                     const int64_t forward_ns[2],
                     const int64_t backward_ns[2]) {
  trace::Step& st = t.steps.emplace_back();
  st.set_step(s);
  st.set_epoch(s / 4);
  for (int u = 0; u < 2; ++u) {
    st.add_trainable(!frozen[u]);
    st.add_unit_forward_ns(forward_ns[u]);
    st.add_unit_backward_ns(backward_ns[u]);
  }
  st.mutable_cache()->set_boundary_unit(-1);
  return st;
}

void CloseStep(trace::Step& st) {
  trace::PhaseTimes& ph = *st.mutable_phases();
  ph.set_total_ns(ph.data_ns() + ph.forward_ns() + ph.backward_ns() +
                  ph.comm_exposed_ns() + ph.optimizer_ns() + ph.stats_ns() +
                  ph.other_ns());
}

trace::Interval& AddInterval(trace::TraceContents& t, int s) {
  trace::Interval& iv = t.intervals.emplace_back();
  iv.set_index(s / 2);
  iv.set_first_step(s - 1);
  iv.set_last_step(s);
  iv.set_epoch(s / 4);
  iv.set_progress((s + 1) / 8.0);
  return iv;
}

trace::Footer& AddFooter(trace::TraceContents& t) {
  int64_t total = 0;
  for (const trace::Step& st : t.steps) total += st.phases().total_ns();
  trace::Footer& f = t.footer.emplace();
  f.set_steps(static_cast<int64_t>(t.steps.size()));
  f.set_total_time_ns(total);
  return f;
}

trace::TraceContents HandTrace(int frozen_from, bool profile) {
  trace::TraceContents t = TwoUnitTrace();
  if (frozen_from >= 0) {
    t.header->mutable_config()->set_policy(
        "static:interval=2,k=1,at=" + std::to_string(frozen_from) +
        ",warmup=0,max_frozen=1");
  }
  if (profile) {
    t.profile->set_optimizer_ns_per_param(1.0);
    t.profile->set_cache_read_ns_per_element(0.5);
  } else {
    t.profile.reset();
  }
  for (int s = 0; s < 8; ++s) {
    const bool body_trained = frozen_from < 0 || s < frozen_from;
    const bool frozen[] = {!body_trained, false};
    const int64_t forward[] = {body_trained ? 110 : 90, 11};
    const int64_t backward[] = {body_trained ? 220 : 0, body_trained ? 33 : 24};
    trace::Step& st = AddStep(t, s, frozen, forward, backward);
    trace::PhaseTimes& ph = *st.mutable_phases();
    const bool interval_end = s % 2 == 1;
    ph.set_data_ns(20);
    ph.set_forward_ns(5 + forward[0] + forward[1]);
    ph.set_backward_ns(backward[0] + backward[1] - 7);
    ph.set_comm_exposed_ns(50);
    ph.set_optimizer_ns(body_trained ? 1100 : 100);
    ph.set_stats_ns(7 + (interval_end ? 2000 : 0));
    ph.set_other_ns(3);
    CloseStep(st);
    if (!interval_end) continue;
    trace::Interval& iv = AddInterval(t, s);
    const int i = s / 2;
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
  AddFooter(t).set_final_test_accuracy(0.5);
  if (frozen_from >= 0) {
    trace::FreezeEvent& e = t.freeze_events.emplace_back();
    e.set_step(frozen_from);
    e.add_freeze(0);
  }
  return t;
}

}  // namespace freezing::sim
