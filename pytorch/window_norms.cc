#include "pytorch/window_norms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace freezing::pytorch {
namespace {

constexpr int kMaxWindow = 16;
constexpr int64_t kBlock = 512;
constexpr int64_t kChunk = int64_t{1} << 16;

struct Sums {
  double local_l2[kMaxWindow] = {};
  double local_l1[kMaxWindow] = {};
  double global_l2[kMaxWindow] = {};
  double global_l1[kMaxWindow] = {};
  double dot[kMaxWindow] = {};
};

// train/grad_stats.cc's WindowNormsSerial.
void Serial(const float* const* local, const float* const* global, int k,
            int64_t begin, int64_t end, bool same, Sums& out) {
  alignas(64) float sl[kBlock];
  alignas(64) float sg[kBlock];
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t n = std::min(kBlock, end - b);
    std::memset(sl, 0, sizeof(float) * n);
    if (!same) std::memset(sg, 0, sizeof(float) * n);
    for (int w = 0; w < k; ++w) {
      const float* l = local[w] + b;
      if (same) {
        float l2 = 0, l1 = 0;
#pragma omp simd reduction(+ : l2, l1)
        for (int64_t j = 0; j < n; ++j) {
          const float x = sl[j] + l[j];
          sl[j] = x;
          l2 += x * x;
          l1 += std::fabs(x);
        }
        out.local_l2[w] += l2;
        out.local_l1[w] += l1;
        continue;
      }
      const float* g = global[w] + b;
      float l2 = 0, l1 = 0, g2 = 0, g1 = 0, d = 0;
#pragma omp simd reduction(+ : l2, l1, g2, g1, d)
      for (int64_t j = 0; j < n; ++j) {
        const float x = sl[j] + l[j];
        const float y = sg[j] + g[j];
        sl[j] = x;
        sg[j] = y;
        l2 += x * x;
        l1 += std::fabs(x);
        g2 += y * y;
        g1 += std::fabs(y);
        d += x * y;
      }
      out.local_l2[w] += l2;
      out.local_l1[w] += l1;
      out.global_l2[w] += g2;
      out.global_l1[w] += g1;
      out.dot[w] += d;
    }
  }
  if (same) {
    for (int w = 0; w < k; ++w) {
      out.global_l2[w] = out.local_l2[w];
      out.global_l1[w] = out.local_l1[w];
      out.dot[w] = out.local_l2[w];
    }
  }
}

}  // namespace

WindowSums WindowNormSums(const std::vector<const float*>& local,
                          const std::vector<const float*>& global,
                          int64_t begin, int64_t end, bool same) {
  const int k = static_cast<int>(std::min<size_t>(local.size(), kMaxWindow));
  std::vector<const float*> g = same ? local : global;
  g.resize(local.size(), nullptr);
  Sums out;
  // Chunks in order, each with its own accumulators (FusedWindowNorms).
  for (int64_t c = begin; c < end; c += kChunk) {
    Sums part;
    Serial(local.data(), g.data(), k, c, std::min(end, c + kChunk), same, part);
    for (int w = 0; w < k; ++w) {
      out.local_l2[w] += part.local_l2[w];
      out.local_l1[w] += part.local_l1[w];
      out.global_l2[w] += part.global_l2[w];
      out.global_l1[w] += part.global_l1[w];
      out.dot[w] += part.dot[w];
    }
  }
  WindowSums s;
  s.local_l2.assign(out.local_l2, out.local_l2 + k);
  s.local_l1.assign(out.local_l1, out.local_l1 + k);
  s.global_l2.assign(out.global_l2, out.global_l2 + k);
  s.global_l1.assign(out.global_l1, out.global_l1 + k);
  s.dot.assign(out.dot, out.dot + k);
  return s;
}

}  // namespace freezing::pytorch
