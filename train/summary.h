// RunSummary: what a training run measured, in the layout of the study's
// Table 1 (average forward, backward, optimizer and communication time per
// epoch; total time), printed at the end of a run and written to
// OUT/summary.json; and OUT/config.json, the run's resolved configuration.
//
// summary.json, the one description of its schema (base::JsonWriter,
// pretty-printed; every non-integer number with six decimals, "%.6f";
// times in seconds):
//   policy                 the spec as given (string)
//   ranks, threads, epochs, steps                              (integers)
//   total_time_s           wall time of the training steps (sum of step
//                          totals; start-up and evaluation excluded)
//   startup_s, eval_s      start-up (data, model, profile) and evaluation
//   images_per_s           trained images (all ranks) / total_time_s
//   phase_avg_s            {data, forward, backward, comm_exposed, optimizer,
//                          stats, comm_total, total}: average per step
//   phase_per_epoch_s      the same phases summed per epoch, averaged over
//                          epochs (the study's Table 1)
//   final_test_accuracy    the last epoch's (0 before the first epoch ends)
//   test_accuracy_per_epoch, test_loss_per_epoch               (arrays)
//   freeze_events          [{unit, name, step, epoch, unfreeze}] (step and
//                          epoch counted from 0, as in the trace; the
//                          printed table counts epochs from 1)
//   bytes_allreduced       gradient bytes sent by each rank, all steps
//                          (an integer)
//   cache                  {hits, misses (integers, all ranks),
//                          forward_saved_s (rank 0's), disabled (any rank)}
// For example:
//   {
//     "policy": "static:2",
//     "ranks": 2,
//     ...
//     "phase_avg_s": {"data": 0.000000, "forward": 1.000000, ...},
//     ...
//     "freeze_events": [
//       {"unit": 0, "name": "conv1", "step": 0, "epoch": 0, "unfreeze": false}
//     ],
//     "bytes_allreduced": 1234,
//     "cache": {"hits": 0, "misses": 0, "forward_saved_s": 0.000000, ...}
//   }
//
// config.json is trace::RunConfig (trace/trace.proto) by base::ProtoToJson:
// the .proto's field names, 64-bit integers as numbers, every field printed.
#ifndef FREEZING_TRAIN_SUMMARY_H_
#define FREEZING_TRAIN_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "trace/trace.pb.h"

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

// SummaryJson: the summary.json document described above.
std::string SummaryJson(const RunSummary& summary);

// The human-readable table printed at the end of a run.
std::string SummaryTable(const RunSummary& summary);

// WriteSummary: SummaryJson to `path`, durably (base::WriteFileAtomically).
absl::Status WriteSummary(const RunSummary& summary, const std::string& path);

// WriteRunConfigJson: `config` as config.json (see above) to `path`, durably
// (base::WriteFileAtomically).
absl::Status WriteRunConfigJson(const trace::RunConfig& config,
                                const std::string& path);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_SUMMARY_H_
