#include "trace/trace_summary.h"

#include <algorithm>

namespace freezing::trace {
namespace {

// Saturating, so that a hostile or corrupt trace cannot overflow a sum.
int64_t Add(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? INT64_MAX : INT64_MIN;
  }
  return sum;
}

void AddPhases(const PhaseTimes& p, PhaseTimes& sum) {
  sum.set_data_ns(Add(sum.data_ns(), p.data_ns()));
  sum.set_forward_ns(Add(sum.forward_ns(), p.forward_ns()));
  sum.set_backward_ns(Add(sum.backward_ns(), p.backward_ns()));
  sum.set_comm_total_ns(Add(sum.comm_total_ns(), p.comm_total_ns()));
  sum.set_comm_exposed_ns(Add(sum.comm_exposed_ns(), p.comm_exposed_ns()));
  sum.set_optimizer_ns(Add(sum.optimizer_ns(), p.optimizer_ns()));
  sum.set_stats_ns(Add(sum.stats_ns(), p.stats_ns()));
  sum.set_total_ns(Add(sum.total_ns(), p.total_ns()));
  sum.set_other_ns(Add(sum.other_ns(), p.other_ns()));
}

}  // namespace

TraceSummary Summarize(const TraceContents& contents) {
  TraceSummary s;
  s.records = contents.records;
  s.steps = static_cast<int64_t>(contents.steps.size());
  s.intervals = static_cast<int64_t>(contents.intervals.size());
  s.freeze_events = static_cast<int64_t>(contents.freeze_events.size());
  s.epochs = static_cast<int64_t>(contents.epochs.size());
  s.unknown_records = contents.unknown_records;
  s.has_profile = contents.profile.has_value();
  s.has_footer = contents.footer.has_value();

  for (const Step& step : contents.steps) {
    if (s.first_step < 0) s.first_step = step.step();
    s.last_step = step.step();
    s.train_ns = Add(s.train_ns, step.phases().total_ns());
    s.slowest_rank_train_ns =
        Add(s.slowest_rank_train_ns,
            std::max(step.max_rank_total_ns(), step.phases().total_ns()));
    AddPhases(step.phases(), s.phases);
    s.bytes_allreduced = Add(s.bytes_allreduced, step.bytes_allreduced());
  }
  if (s.steps > 0) {
    s.mean_step_ns = static_cast<double>(s.train_ns) / s.steps;
  }
  for (const Epoch& epoch : contents.epochs) {
    s.eval_ns = Add(s.eval_ns, epoch.eval_ns());
  }

  // Replay the freeze events in order; a unit frozen again after an
  // unfreeze counts from its last freeze.
  const int units =
      contents.header.has_value() ? contents.header->units_size() : 0;
  s.frozen_from_step.assign(units, -1);
  for (const FreezeEvent& event : contents.freeze_events) {
    for (const int32_t unit : event.freeze()) {
      if (unit >= 0 && unit < units && s.frozen_from_step[unit] < 0) {
        s.frozen_from_step[unit] = event.step();
      }
    }
    for (const int32_t unit : event.unfreeze()) {
      if (unit >= 0 && unit < units) s.frozen_from_step[unit] = -1;
    }
  }
  s.frozen_units_at_end = static_cast<int>(
      std::count_if(s.frozen_from_step.begin(), s.frozen_from_step.end(),
                    [](int64_t step) { return step >= 0; }));

  if (!contents.epochs.empty()) {
    s.final_test_accuracy = contents.epochs.back().test_accuracy();
    s.final_accuracy_epoch = contents.epochs.back().epoch();
  }
  if (contents.footer.has_value()) {
    s.final_test_accuracy = contents.footer->final_test_accuracy();
  }
  return s;
}

}  // namespace freezing::trace
