// Randomness behind an interface, so that protocol code (gossip target choice, timer staggers,
// shuffles) replays exactly from a seed in simulations. A Random is a plain object owned by the
// code that uses it; like the state it serves it belongs to one loop and is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <random>
#include <utility>

namespace gangway {

class Random {
 public:
  virtual ~Random() = default;
  // 64 uniformly distributed bits.
  virtual uint64_t Next() = 0;
};

// Uniform in [0, n); n must be > 0. Rejection sampling, so there is no modulo bias.
inline uint64_t Uniform(Random& r, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do {
    v = r.Next();
  } while (v >= limit);
  return v % n;
}

// Uniform in [0, 1) with 53 bits of precision.
inline double UniformDouble(Random& r) { return static_cast<double>(r.Next() >> 11) * 0x1.0p-53; }

// True with probability p (p <= 0: never, p >= 1: always).
inline bool Bernoulli(Random& r, double p) { return UniformDouble(r) < p; }

// Uniform in [0, max); zero when max <= 0.
inline std::chrono::nanoseconds UniformDuration(Random& r, std::chrono::nanoseconds max) {
  if (max.count() <= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(
      static_cast<int64_t>(Uniform(r, static_cast<uint64_t>(max.count()))));
}

// Fisher-Yates shuffle of [first, last).
template <typename It>
void Shuffle(Random& r, It first, It last) {
  const auto n = static_cast<uint64_t>(std::distance(first, last));
  for (uint64_t i = n; i > 1; --i) {
    using std::swap;
    swap(first[i - 1], first[Uniform(r, i)]);
  }
}

// xoshiro256** seeded through splitmix64: small, fast, and the same sequence on every platform
// and standard library (std::mt19937 distributions are not portable), which replays need.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) {
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t Next() override {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// A seed from the operating system, for production code that wants a SeededRandom.
inline uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace gangway
