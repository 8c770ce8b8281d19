#include "train/data/partition.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "train/data/seeded_random.h"

namespace freezing::train {
namespace {

constexpr uint64_t kIidTag = 0x494944ULL;                // "IID"
constexpr uint64_t kDirichletTag = 0x4449524943484cULL;  // "DIRICHL"
constexpr int kMaxDraws = 1000;

struct ParsedSpec {
  enum Kind { kIid, kSorted, kDirichlet } kind = kIid;
  double alpha = 0;
  int64_t min_size = 0;
};

absl::Status BadSpec(const std::string& spec, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad partition spec '", spec, "': ", why,
                   "; valid: ", ValidPartitionSpecs()));
}

absl::StatusOr<ParsedSpec> Parse(const std::string& spec) {
  ParsedSpec parsed;
  if (spec == "iid") return parsed;
  if (spec == "sorted") {
    parsed.kind = ParsedSpec::kSorted;
    return parsed;
  }
  std::pair<std::string, std::string> p =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  if (p.first != "dirichlet") return BadSpec(spec, "unknown scheme");
  parsed.kind = ParsedSpec::kDirichlet;
  bool have_alpha = false;
  for (absl::string_view kv : absl::StrSplit(p.second, ',')) {
    std::pair<absl::string_view, absl::string_view> o =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (o.first == "alpha") {
      if (!absl::SimpleAtod(o.second, &parsed.alpha) || !(parsed.alpha > 0) ||
          !std::isfinite(parsed.alpha)) {
        return BadSpec(spec, "alpha must be a number > 0");
      }
      have_alpha = true;
    } else if (o.first == "min_size") {
      if (!absl::SimpleAtoi(o.second, &parsed.min_size) ||
          parsed.min_size < 0) {
        return BadSpec(spec, "min_size must be an integer >= 0");
      }
    } else {
      return BadSpec(spec, absl::StrCat("unknown option '", o.first, "'"));
    }
  }
  if (!have_alpha) return BadSpec(spec, "dirichlet needs alpha=A");
  return parsed;
}

// Cuts `order` into `ranks` contiguous pieces whose sizes differ by <= 1.
std::vector<std::vector<int64_t>> Cut(const std::vector<int64_t>& order,
                                      int ranks) {
  std::vector<std::vector<int64_t>> shards(ranks);
  const int64_t n = order.size();
  for (int r = 0; r < ranks; ++r) {
    const int64_t begin = n * r / ranks, end = n * (r + 1) / ranks;
    shards[r].assign(order.begin() + begin, order.begin() + end);
  }
  return shards;
}

std::vector<std::vector<int64_t>> DirichletDraw(
    const std::vector<std::vector<int64_t>>& by_class, int ranks, double alpha,
    SeededRandom& rng) {
  std::vector<std::vector<int64_t>> shards(ranks);
  for (const std::vector<int64_t>& members : by_class) {
    std::vector<int64_t> shuffled = members;
    rng.Shuffle(shuffled);
    const std::vector<double> p = rng.Dirichlet(ranks, alpha);
    const int64_t n = shuffled.size();
    double cumulative = 0;
    int64_t begin = 0;
    for (int r = 0; r < ranks; ++r) {
      cumulative += p[r];
      const int64_t end =
          r + 1 == ranks ? n
                         : std::min<int64_t>(n, std::llround(cumulative * n));
      for (int64_t k = begin; k < std::max(begin, end); ++k) {
        shards[r].push_back(shuffled[k]);
      }
      begin = std::max(begin, end);
    }
  }
  return shards;
}

}  // namespace

const char* ValidPartitionSpecs() {
  return "iid, sorted, dirichlet:alpha=A[,min_size=M] (A > 0)";
}

absl::Status ValidatePartitionSpec(const std::string& spec) {
  return Parse(spec).status();
}

absl::StatusOr<Partition> MakePartition(const std::vector<int32_t>& labels,
                                        int num_classes, int num_ranks,
                                        const std::string& spec,
                                        uint64_t seed) {
  ASSIGN_OR_RETURN(const ParsedSpec parsed, Parse(spec));
  if (num_ranks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_ranks must be >= 1, got ", num_ranks));
  }
  const int64_t n = labels.size();
  Partition partition;
  partition.spec = spec;
  switch (parsed.kind) {
    case ParsedSpec::kIid: {
      std::vector<int64_t> order(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
      SeededRandom rng(MixSeed({seed, kIidTag}));
      rng.Shuffle(order);
      partition.shards = Cut(order, num_ranks);
      break;
    }
    case ParsedSpec::kSorted: {
      std::vector<int64_t> order(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return labels[a] < labels[b];
      });
      partition.shards = Cut(order, num_ranks);
      break;
    }
    case ParsedSpec::kDirichlet: {
      std::vector<std::vector<int64_t>> by_class(num_classes);
      for (int64_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= num_classes) {
          return absl::InvalidArgumentError(
              absl::StrCat("sample ", i, " has label ", labels[i],
                           " outside 0..", num_classes - 1));
        }
        by_class[labels[i]].push_back(i);
      }
      SeededRandom rng(MixSeed({seed, kDirichletTag}));
      int draw = 0;
      for (;; ++draw) {
        partition.shards =
            DirichletDraw(by_class, num_ranks, parsed.alpha, rng);
        int64_t smallest = n;
        for (const auto& s : partition.shards) {
          smallest = std::min<int64_t>(smallest, s.size());
        }
        if (smallest >= parsed.min_size) break;
        if (draw + 1 == kMaxDraws) {
          return absl::InvalidArgumentError(absl::StrCat(
              "partition '", spec,
              "': no shard assignment with every shard >= ", parsed.min_size,
              " samples in ", kMaxDraws,
              " draws; use a larger alpha or a smaller min_size"));
        }
      }
      break;
    }
  }
  for (auto& shard : partition.shards) std::sort(shard.begin(), shard.end());
  return partition;
}

std::vector<int64_t> ShardSizes(const Partition& partition) {
  std::vector<int64_t> sizes;
  for (const auto& s : partition.shards) sizes.push_back(s.size());
  return sizes;
}

std::vector<std::vector<int64_t>> LabelHistograms(
    const Partition& partition, const std::vector<int32_t>& labels,
    int num_classes) {
  std::vector<std::vector<int64_t>> histograms(
      partition.shards.size(), std::vector<int64_t>(num_classes, 0));
  for (size_t r = 0; r < partition.shards.size(); ++r) {
    for (int64_t i : partition.shards[r]) ++histograms[r][labels[i]];
  }
  return histograms;
}

int64_t StepsPerEpoch(const Partition& partition, int batch_size) {
  if (partition.shards.empty() || batch_size < 1) return 0;
  int64_t smallest = partition.shards[0].size();
  for (const auto& s : partition.shards) {
    smallest = std::min<int64_t>(smallest, s.size());
  }
  return smallest / batch_size;
}

}  // namespace freezing::train
