#include "freeze/window_norms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace freezing::freeze {
namespace {

constexpr int64_t kBlock = 512;
constexpr int64_t kChunk = int64_t{1} << 16;

struct Sums {
  double local_l2[kMaxWindowSums] = {};
  double local_l1[kMaxWindowSums] = {};
  double global_l2[kMaxWindowSums] = {};
  double global_l1[kMaxWindowSums] = {};
  double dot[kMaxWindowSums] = {};
};

// One rank: the local window sums only; the global ones are copied after.
void SameBlock(const float* l, int64_t n, float* sl, int w, Sums& out) {
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
}

void BothBlock(const float* l, const float* g, int64_t n, float* sl, float* sg,
               int w, Sums& out) {
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

// One chunk [begin, end) of the last `k` interval sums. Blocks keep the
// running window sums in L1 cache; each interval buffer is read once.
void Chunk(const float* const* local, const float* const* global, int k,
           int64_t begin, int64_t end, bool same, Sums& out) {
  alignas(64) float sl[kBlock];
  alignas(64) float sg[kBlock];
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t n = std::min(kBlock, end - b);
    std::memset(sl, 0, sizeof(float) * n);
    if (!same) std::memset(sg, 0, sizeof(float) * n);
    for (int w = 0; w < k; ++w) {
      if (same) {
        SameBlock(local[w] + b, n, sl, w, out);
      } else {
        BothBlock(local[w] + b, global[w] + b, n, sl, sg, w, out);
      }
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
                          int64_t begin, int64_t end, bool same,
                          const ChunkRunner& run) {
  const int k =
      static_cast<int>(std::min<size_t>(local.size(), kMaxWindowSums));
  std::vector<const float*> g = same ? local : global;
  g.resize(local.size(), nullptr);
  const int64_t chunks = end > begin ? (end - begin + kChunk - 1) / kChunk : 0;
  std::vector<Sums> part(static_cast<size_t>(chunks));
  auto fn = [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      const int64_t b = begin + c * kChunk;
      Chunk(local.data(), g.data(), k, b, std::min(end, b + kChunk), same,
            part[static_cast<size_t>(c)]);
    }
  };
  if (run && chunks > 1) {
    run(chunks, fn);
  } else {
    fn(0, chunks);
  }
  // Chunks in order, whatever thread computed them.
  Sums out;
  for (const Sums& p : part) {
    for (int w = 0; w < k; ++w) {
      out.local_l2[w] += p.local_l2[w];
      out.local_l1[w] += p.local_l1[w];
      out.global_l2[w] += p.global_l2[w];
      out.global_l1[w] += p.global_l1[w];
      out.dot[w] += p.dot[w];
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

}  // namespace freezing::freeze
