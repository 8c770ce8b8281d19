// CacheModel: the activation cache of the frozen prefix, step by step (the
// simulator's TimingOptions::cache).
//
// The frozen prefix's output is cached per (sample, variant). Reading a
// cached activation costs read_ns_per_element × the boundary unit's output
// elements per sample × batch, and so does writing one. A step's samples hit
// with the cache's coverage c at the start of its epoch (0 in the epoch the
// boundary was set); after an epoch, c ← c + (1 − c) · f / K (K variants per
// sample, f the share of the epoch run with this boundary), i.e.
// 1 − (1 − 1/K)^e. When the boundary moves deeper, the samples the new
// boundary misses but the old one holds (the coverage it had in the epoch of
// the move, and from the next epoch on what it held at the end of that one)
// are carried through the newly frozen units (read old + forward of those
// units + write) instead of recomputed from the image; a shallower boundary
// starts again. Doubles, in a fixed order; each step's time is rounded once.
#ifndef FREEZING_SIM_CACHE_MODEL_H_
#define FREEZING_SIM_CACHE_MODEL_H_

#include <cstdint>
#include <vector>

namespace freezing::sim {

class CacheModel {
 public:
  struct Options {
    double read_ns_per_element = 0;        // copying one cached element
    std::vector<int64_t> output_elements;  // per unit, per sample
    int batch_size = 0;
    int64_t steps_per_epoch = 1;
    int variants = 1;  // K > 0: fixed augmentation variants per sample
  };
  explicit CacheModel(Options options);

  // One step's cache work.
  struct StepCache {
    bool active = false;  // the step has a frozen prefix to cache
    int64_t ns = 0;       // reads, writes and misses' forward of the prefix
    double hit_share = 0;
  };
  // Step: the next step, in `epoch`, with the frozen prefix ending at unit
  // `boundary` (-1: none) and `unit_forward_ns` its units' forward costs in
  // this step's states. Steps come in order; the first sets the epoch.
  StepCache Step(int epoch, int boundary,
                 const std::vector<int64_t>& unit_forward_ns);

  // MeanHitShare: the mean share of samples that hit over the steps so far
  // that had a frozen prefix (0 without any).
  double MeanHitShare() const;

 private:
  double ReadNs(int boundary) const;
  // The coverage after this epoch's steps so far.
  double CoverageAfterEpoch() const;
  void StartEpoch(int epoch);
  void MoveBoundary(int boundary);

  Options options_;
  double inv_variants_ = 0;
  bool started_ = false;
  int epoch_ = 0;
  int boundary_ = -1;
  double coverage_ = 0;         // at the start of the current epoch
  double hit_ = 0;              // share of this epoch's samples that hit
  int64_t steps_in_epoch_ = 0;  // steps of this epoch run with the boundary
  // The previous (shallower) boundary, whose entries are carried forward:
  // the share of this epoch's samples it holds, and what it will hold from
  // the next epoch on (its entries of the epoch it was replaced in).
  int old_boundary_ = -1;
  double old_hit_ = 0;
  double old_next_ = 0;
  double hit_sum_ = 0;
  int64_t hit_steps_ = 0;
};

}  // namespace freezing::sim

#endif  // FREEZING_SIM_CACHE_MODEL_H_
