// Deterministic random numbers for data order, augmentation and partitions.
//
// Everything the data pipeline draws must be a function of (seed, purpose,
// epoch, rank, sample, ...) alone, identical across platforms and standard
// libraries, so that a run, its resume and its replay see the same samples.
// `std::shuffle` and the `<random>` distributions are implementation-defined,
// hence this small SplitMix64-based generator with its own distributions.
#ifndef FREEZING_TRAIN_DATA_SEEDED_RANDOM_H_
#define FREEZING_TRAIN_DATA_SEEDED_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace freezing::train {

// MixSeed: a well-mixed 64-bit key of an ordered list of integers (a seed, a
// purpose tag, then coordinates such as epoch and sample).
uint64_t MixSeed(std::initializer_list<uint64_t> parts);

// SeededRandom: SplitMix64 stream with platform-independent distributions.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}

  // Next: 64 uniformly random bits.
  uint64_t Next();
  // Below: uniform integer in [0, n); n > 0.
  uint64_t Below(uint64_t n);
  // Uniform01: uniform double in [0, 1).
  double Uniform01();
  // Normal: standard normal deviate (Box-Muller).
  double Normal();
  // Gamma: Gamma(shape, 1) deviate, shape > 0 (Marsaglia-Tsang).
  double Gamma(double shape);
  // Dirichlet: a point of the simplex drawn from Dirichlet(alpha, ..., alpha).
  std::vector<double> Dirichlet(int k, double alpha);

  // Shuffle: Fisher-Yates, in place.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(Below(i));
      T tmp = v[i - 1];
      v[i - 1] = v[j];
      v[j] = tmp;
    }
  }

 private:
  uint64_t state_;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_DATA_SEEDED_RANDOM_H_
