#include "train/data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "train/data/seeded_random.h"

namespace freezing::train {
namespace {

constexpr uint64_t kPatternTag = 0x5041545445524e53ULL;  // "PATTERNS"
constexpr uint64_t kLabelTag = 0x4c4142454c53ULL;        // "LABELS"
constexpr uint64_t kNoiseTag = 0x4e4f495345ULL;          // "NOISE"

// Class patterns on the [0, 1] scale: [classes][channels * size * size].
std::vector<std::vector<float>> Patterns(const SyntheticOptions& o) {
  std::vector<std::vector<float>> patterns(o.classes);
  const int plane = o.size * o.size;
  for (int c = 0; c < o.classes; ++c) {
    SeededRandom rng(MixSeed({o.seed, kPatternTag, static_cast<uint64_t>(c)}));
    patterns[c].assign(o.channels * plane, 0.5f);
    for (int ch = 0; ch < o.channels; ++ch) {
      for (int g = 0; g < 2; ++g) {
        const double fx = 1.0 + rng.Below(4), fy = rng.Below(4);
        const double phase = 2 * M_PI * rng.Uniform01();
        const double amplitude = 0.15 + 0.1 * rng.Uniform01();
        const double sign = rng.Below(2) ? 1.0 : -1.0;
        for (int y = 0; y < o.size; ++y) {
          for (int x = 0; x < o.size; ++x) {
            const double t =
                2 * M_PI * (sign * fx * x + fy * y) / o.size + phase;
            patterns[c][ch * plane + y * o.size + x] +=
                static_cast<float>(amplitude * std::sin(t));
          }
        }
      }
    }
  }
  return patterns;
}

void Fill(const SyntheticOptions& o,
          const std::vector<std::vector<float>>& patterns, int64_t n,
          uint64_t split, ImageSet& set) {
  set.channels = o.channels;
  set.height = o.size;
  set.width = o.size;
  set.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) set.labels[i] = i % o.classes;
  SeededRandom order(MixSeed({o.seed, kLabelTag, split}));
  order.Shuffle(set.labels);
  const int64_t bytes = set.image_bytes();
  set.pixels.resize(n * bytes);
  for (int64_t i = 0; i < n; ++i) {
    SeededRandom rng(
        MixSeed({o.seed, kNoiseTag, split, static_cast<uint64_t>(i)}));
    const std::vector<float>& p = patterns[set.labels[i]];
    uint8_t* out = set.pixels.data() + i * bytes;
    for (int64_t k = 0; k < bytes; ++k) {
      const double v = (p[k] + o.noise * rng.Normal()) * 255.0;
      out[k] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
}

}  // namespace

absl::StatusOr<Dataset> MakeSynthetic(const SyntheticOptions& o) {
  if (o.n < 1 || o.test_n < 1 || o.classes < 2 || o.classes > 1000 ||
      o.channels < 1 || o.channels > 4 || o.size < 4 || o.size > 32 ||
      o.noise < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synthetic: options out of range (n=", o.n, ", test_n=", o.test_n,
        ", classes=", o.classes, ", channels=", o.channels, ", size=", o.size,
        ", noise=", o.noise,
        "); valid: n>=1, test_n>=1, classes 2..1000, channels 1..4, size "
        "4..32, noise>=0"));
  }
  Dataset data;
  data.name = "synthetic";
  data.source =
      absl::StrCat("n=", o.n, ",test_n=", o.test_n, ",classes=", o.classes,
                   ",channels=", o.channels, ",size=", o.size,
                   ",noise=", o.noise, ",seed=", o.seed);
  data.num_classes = o.classes;
  for (int c = 0; c < o.classes; ++c) {
    data.class_names.push_back(absl::StrCat("pattern", c));
    data.original_class.push_back(c);
  }
  const auto patterns = Patterns(o);
  Fill(o, patterns, o.n, 0, data.train);
  Fill(o, patterns, o.test_n, 1, data.test);
  const int64_t plane = int64_t{o.size} * o.size;
  for (int ch = 0; ch < o.channels; ++ch) {
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < data.train.size(); ++i) {
      const uint8_t* p = data.train.image(i) + ch * plane;
      for (int64_t k = 0; k < plane; ++k) {
        const double v = p[k] / 255.0;
        sum += v;
        sum2 += v * v;
      }
    }
    const double count = static_cast<double>(data.train.size() * plane);
    const double mean = sum / count;
    const double var = std::max(sum2 / count - mean * mean, 1e-6);
    data.mean.push_back(static_cast<float>(mean));
    data.stddev.push_back(static_cast<float>(std::sqrt(var)));
  }
  return data;
}

}  // namespace freezing::train
