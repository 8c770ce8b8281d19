// How the training set is split across data-parallel ranks.
//
// Specs (`--partition`): `iid` (default; a seeded shuffle cut into shards whose
// sizes differ by at most one), `sorted` (samples sorted by label, then cut
// into contiguous shards of the same sizes: each rank sees few classes), and
// `dirichlet:alpha=A[,min_size=M]` (for every class, its samples are split
// across ranks in proportions drawn from Dirichlet(A, ..., A); small A gives
// skewed label distributions; with min_size, draws are repeated until every
// shard has at least M samples). Every partition is disjoint and complete.
//
// Synchronous data parallelism needs the same number of steps on every rank:
// StepsPerEpoch = floor(smallest shard / batch size). Each epoch, a rank
// shuffles its shard and uses the first StepsPerEpoch * batch samples (the
// rest of a larger shard waits for a later epoch's shuffle).
#ifndef FREEZING_TRAIN_DATA_PARTITION_H_
#define FREEZING_TRAIN_DATA_PARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace freezing::train {

// Partition: per rank, the indices of its training samples, ascending.
struct Partition {
  std::string spec;  // canonical form, e.g. "dirichlet:alpha=0.5"
  std::vector<std::vector<int64_t>> shards;

  int num_ranks() const { return static_cast<int>(shards.size()); }
};

// ValidPartitionSpecs: the accepted forms, for error messages and --help.
const char* ValidPartitionSpecs();

// ValidatePartitionSpec: InvalidArgument (listing valid forms) unless `spec`
// parses.
absl::Status ValidatePartitionSpec(const std::string& spec);

// MakePartition: splits samples 0..labels.size()-1 across `num_ranks` ranks,
// as a function of (labels, spec, seed) only. InvalidArgument for a bad spec,
// num_ranks < 1, or a min_size no draw satisfies.
absl::StatusOr<Partition> MakePartition(const std::vector<int32_t>& labels,
                                        int num_classes, int num_ranks,
                                        const std::string& spec, uint64_t seed);

// ShardSizes: samples per rank.
std::vector<int64_t> ShardSizes(const Partition& partition);

// LabelHistograms: [rank][class] sample counts.
std::vector<std::vector<int64_t>> LabelHistograms(
    const Partition& partition, const std::vector<int32_t>& labels,
    int num_classes);

// StepsPerEpoch: floor(smallest shard / batch_size), the same on every rank
// (drop-last). 0 when some shard is smaller than a batch.
int64_t StepsPerEpoch(const Partition& partition, int batch_size);

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_PARTITION_H_
