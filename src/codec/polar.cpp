#include "codec/polar.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cosae/error.hpp"

namespace cosae::codec {

namespace {

using entropy::CdfTable;
using entropy::kMaxMagnitude;
using entropy::kMaxSymbols;
using entropy::kTotalFrequency;

// round(sqrt(r2)) exactly, for 0 <= r2 < 2^62: m with (2m - 1)^2 <= 4 r2 < (2m + 1)^2.
int64_t rounded_radius(uint64_t r2) {
  auto m = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(r2))));
  auto below = [&](int64_t v) { return static_cast<uint64_t>((2 * v + 1) * (2 * v + 1)) <= 4 * r2; };
  while (below(m)) ++m;
  while (m > 0 && !below(m - 1)) --m;
  return m;
}

uint64_t square(int64_t v) { return static_cast<uint64_t>(v * v); }

// Integer weights (summing to `total`) to 16-bit frequencies: one slot each, the rest
// shared in proportion, the leftover slots to the largest remainders (then the lowest index).
std::vector<uint32_t> quantise_weights(const std::vector<uint64_t>& weights, uint64_t total) {
  const auto count = static_cast<uint64_t>(weights.size());
  const uint64_t spare = kTotalFrequency - count;
  std::vector<uint32_t> frequency(weights.size(), 1);
  std::vector<uint64_t> remainder(weights.size());
  uint64_t given = 0;
  for (std::size_t s = 0; s < weights.size(); ++s) {
    const uint64_t share = weights[s] * spare;  // < 2^32 * 2^16
    frequency[s] += static_cast<uint32_t>(share / total);
    given += share / total;
    remainder[s] = share % total;
  }
  std::vector<std::size_t> order(weights.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return remainder[x] > remainder[y]; });
  for (uint64_t i = 0; i < spare - given; ++i) ++frequency[order[i]];
  return frequency;
}

}  // namespace

uint32_t phase_levels(int32_t amplitude) {
  if (amplitude <= 0) return 1;
  // round(2 pi m) with 2 pi ~ 710 / 113 (exact in integers, so the same on every machine).
  const uint64_t levels = (uint64_t{710} * static_cast<uint64_t>(amplitude) + 56) / 113;
  return static_cast<uint32_t>(std::min<uint64_t>(levels, kTotalFrequency));
}

CdfTable amplitude_table(const CdfTable& a, const CdfTable& b) {
  COSAE_CHECK(!a.empty() && !b.empty(), usage, "amplitude_table: empty Cartesian table");
  const int64_t a_first = a.min_value(), a_last = a.max_value();
  const int64_t b_first = b.min_value(), b_last = b.max_value();
  const uint64_t a_reach = std::max(square(a_first), square(a_last));
  const uint64_t b_reach = std::max(square(b_first), square(b_last));
  // Amplitudes 0..top get a symbol each (and the ESCAPE symbol follows).
  const int64_t top = std::min<int64_t>(rounded_radius(a_reach + b_reach), kMaxSymbols - 2);
  std::vector<uint64_t> weights(static_cast<std::size_t>(top) + 2, 0);
  uint64_t inside = 0;
  for (int64_t i = a_first; i <= a_last; ++i) {
    const uint64_t fa = a.frequency(static_cast<int32_t>(i - a_first));
    for (int64_t j = b_first; j <= b_last; ++j) {
      const uint64_t w = fa * b.frequency(static_cast<int32_t>(j - b_first));
      const int64_t m = rounded_radius(square(i) + square(j));
      if (m > top) continue;  // left to the escape
      weights[static_cast<std::size_t>(m)] += w;
      inside += w;
    }
  }
  const uint64_t total = uint64_t{kTotalFrequency} * kTotalFrequency;
  weights.back() = total - inside;  // escapes of either channel, and amplitudes beyond top
  const auto frequency = quantise_weights(weights, total);
  std::vector<uint32_t> cdf(frequency.size() + 1, 0);
  std::partial_sum(frequency.begin(), frequency.end(), cdf.begin() + 1);
  return CdfTable::from_cdf(0, std::move(cdf));
}

std::vector<CdfTable> amplitude_tables(const std::vector<CdfTable>& cartesian) {
  COSAE_CHECK(cartesian.size() % 2 == 0, usage, "amplitude_tables: ", cartesian.size(),
              " channels do not form (a, b) pairs");
  const std::size_t K = cartesian.size() / 2;
  std::vector<CdfTable> tables;
  tables.reserve(K);
  for (std::size_t k = 0; k < K; ++k) tables.push_back(amplitude_table(cartesian[k], cartesian[k + K]));
  return tables;
}

PolarSymbol polar_quantize(float a, float b) {
  if (!std::isfinite(a) || !std::isfinite(b)) return {};
  const double radius = std::hypot(static_cast<double>(a), static_cast<double>(b));
  const auto m = static_cast<int32_t>(std::min<double>(std::round(radius), kMaxMagnitude));
  if (m == 0) return {};
  const int64_t levels = phase_levels(m);
  const double turn = std::atan2(static_cast<double>(b), static_cast<double>(a)) / (2 * M_PI);
  const int64_t j = static_cast<int64_t>(std::llround(turn * static_cast<double>(levels)));
  return {m, static_cast<uint32_t>(((j % levels) + levels) % levels)};
}

void polar_reconstruct(const PolarSymbol& symbol, float& a, float& b) {
  if (symbol.amplitude == 0) {
    a = b = 0;
    return;
  }
  const double angle = 2 * M_PI * static_cast<double>(symbol.phase) / phase_levels(symbol.amplitude);
  a = static_cast<float>(symbol.amplitude * std::cos(angle));
  b = static_cast<float>(symbol.amplitude * std::sin(angle));
}

void put_polar(entropy::RansEncoder& coder, const float* a, const float* b, int64_t K, int64_t n,
               const CdfTable* tables) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < n; ++i) {
      const PolarSymbol s = polar_quantize(a[k * n + i], b[k * n + i]);
      coder.put(s.amplitude, tables[k]);
      if (s.amplitude > 0) coder.put_uniform(s.phase, phase_levels(s.amplitude));
    }
}

void get_polar(entropy::RansDecoder& coder, float* a, float* b, int64_t K, int64_t n, const CdfTable* tables) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < n; ++i) {
      PolarSymbol s;
      s.amplitude = coder.get(tables[k]);
      COSAE_CHECK(s.amplitude >= 0, bad_input, "polar stream: negative amplitude ", s.amplitude);
      if (s.amplitude > 0) s.phase = coder.get_uniform(phase_levels(s.amplitude));
      polar_reconstruct(s, a[k * n + i], b[k * n + i]);
    }
}

}  // namespace cosae::codec
