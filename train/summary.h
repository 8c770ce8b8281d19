// RunSummary: what a training run measured, in the layout of the study's
// Table 1 (average forward, backward, optimizer and communication time per
// epoch; total time), printed at the end of a run and written to
// OUT/summary.json.
//
// summary.json fields (times in seconds):
//   total_time_s           wall time of the training steps (sum of step
//                          totals; start-up and evaluation excluded)
//   startup_s, eval_s      start-up (data, model, profile) and evaluation
//   phase_avg_s            {data, forward, backward, comm_exposed, optimizer,
//                          stats, comm_total}: average per step
//   phase_per_epoch_s      the same phases summed per epoch, averaged over
//                          epochs (the study's Table 1)
//   final_test_accuracy, test_accuracy_per_epoch, test_loss_per_epoch
//   freeze_events          [{unit, name, step, epoch, unfreeze}]
//   bytes_allreduced       gradient bytes sent by each rank, all steps
//   ranks, steps, epochs, threads, images_per_s, policy, cache{...}
#ifndef FREEZING_TRAIN_SUMMARY_H_
#define FREEZING_TRAIN_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace freezing::train {

struct PhaseSums {
  int64_t data_ns = 0;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;
  int64_t comm_exposed_ns = 0;
  int64_t comm_total_ns = 0;
  int64_t optimizer_ns = 0;
  int64_t stats_ns = 0;
  int64_t total_ns = 0;
};

struct SummaryFreezeEvent {
  int unit = 0;
  std::string name;
  int64_t step = 0;
  int epoch = 0;
  bool unfreeze = false;
};

struct RunSummary {
  std::string policy;
  int ranks = 1;
  int threads = 1;
  int epochs = 0;
  int64_t steps = 0;
  int64_t images = 0;  // trained images, all ranks
  PhaseSums phases;
  int64_t startup_ns = 0;
  int64_t eval_ns = 0;
  int64_t bytes_allreduced = 0;
  std::vector<double> test_accuracy_per_epoch;
  std::vector<double> test_loss_per_epoch;
  std::vector<SummaryFreezeEvent> freeze_events;
  int64_t cache_hits = 0;
  int64_t cache_misses = 0;
  int64_t cache_forward_saved_ns = 0;
  bool cache_disabled = false;
};

// The JSON document described above (fixed formatting, ordered keys).
std::string SummaryJson(const RunSummary& summary);

// The human-readable table printed at the end of a run.
std::string SummaryTable(const RunSummary& summary);

// Writes SummaryJson atomically (temporary file + rename) to `path`.
absl::Status WriteSummary(const RunSummary& summary, const std::string& path);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_SUMMARY_H_
