// CacheStepStats: what the activation cache did for one step, as the cache
// reports it (activation_cache.h) and the trace records it (trace.proto
// CacheStep, through trace_recorder.h). In its own header so that the trace
// side does not include libtorch.
#ifndef FREEZING_TRAIN_CACHE_STEP_STATS_H_
#define FREEZING_TRAIN_CACHE_STEP_STATS_H_

#include <cstdint>

namespace freezing::train {

// CacheStepStats: what the cache did for one step (trace.proto CacheStep).
struct CacheStepStats {
  int64_t hits = 0;      // samples whose prefix output came from the cache
  int64_t extended = 0;  // of the hits: read at an older boundary, carried on
  int64_t misses = 0;    // samples whose prefix ran from the image
  int64_t bytes_read = 0;
  int64_t bytes_written = 0;
  // Start-up profile's no-grad forward time of the units the hits skipped.
  int64_t forward_saved_ns = 0;
  int boundary_unit = -1;  // the step used (or filled) this unit's output
  bool disabled = false;   // the cache is off (it failed)
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_CACHE_STEP_STATS_H_
