#include "codec/adaptive.hpp"

#include <algorithm>
#include <cmath>

#include "common/parallel.hpp"
#include "cosae/error.hpp"

namespace cosae::codec {

// The tables are built from integers alone, so that every machine builds the same ones (the
// decoder must): no floating-point maths library is involved.

const entropy::CdfTable& adaptive_choice_table() {
  // Fixed odds: an all-zero channel 1/2, the learned table about 1/10, each scale about
  // 1/120 (the escape, never written, keeps the rest).
  static const entropy::CdfTable table = [] {
    std::vector<uint32_t> cdf{0, 32768, 32768 + 6552};
    for (int k = 0; k < kAdaptiveScales; ++k) cdf.push_back(cdf.back() + 544);
    cdf.push_back(entropy::kTotalFrequency);
    return entropy::CdfTable::from_cdf(0, std::move(cdf));
  }();
  return table;
}

namespace {

// Entry j: exp(-1/(2b)) in 0.32 fixed point for b = 2^(j/4 - 4) (rounded from 50-digit
// arithmetic). The Laplace table of scale index k (b = 2^(k/4 - 3)) takes exp(-1/(2b)) from
// entry k + 4 and exp(-1/b) from entry k: the tables follow from these integers.
constexpr uint64_t kHalfDecay[kAdaptiveScales + 4] = {
    1440801u, 5145013u, 15004422u, 36905875u, 78665070u, 148652826u,
    253857248u, 398132550u, 581260615u, 799036310u, 1044178424u, 1307656790u,
    1580030169u, 1852521207u, 2117713904u, 2369882518u, 2605029347u, 2820730047u,
    3015876649u, 3190386796u, 3344923893u, 3480652712u, 3599040369u, 3701703250u,
    3790295335u, 3866431115u, 3931635878u, 3987316692u, 4034748382u, 4075069962u,
    4109287957u, 4138284039u, 4162825044u, 4183574096u, 4201101925u, 4215897841u,
    4228380000u, 4238904802u, 4247775344u, 4255248918u, 4261543595u, 4266843974u,
    4271306145u, 4275061981u, 4278222805u, 4280882540u, 4283120382u, 4285003080u,
    4286586875u, 4287919135u, 4289039749u, 4289982295u,
};
// The discretised Laplace of scale b: P(0) = 1 - exp(-1/(2b)), P(+-v) = P(+-1) exp(-(v-1)/b)
// with P(+-1) = (exp(-1/(2b)) - exp(-3/(2b))) / 2, in 0.32 fixed point, over the values whose
// 16-bit frequency is at least 1; the escape takes the tail. Frequencies are rounded down,
// and what that leaves goes one unit each to the largest remainders (ties: the lower symbol).
entropy::CdfTable laplace_table(int k) {
  constexpr uint64_t kOne = uint64_t{1} << 32;
  constexpr int kShift = 32 - entropy::kPrecisionBits;
  const uint64_t r = kHalfDecay[k], h = kHalfDecay[k + 4];  // exp(-1/b), exp(-1/(2b))
  std::vector<uint64_t> side;  // 0.32 masses of v = 1, 2, ...
  for (uint64_t w = (h - ((h * r) >> 32)) >> 1; (w >> kShift) >= 1; w = (w * r) >> 32) side.push_back(w);
  const auto range = static_cast<int32_t>(side.size());
  std::vector<uint64_t> mass;  // symbols -range..range, then the escape
  for (int32_t v = range; v >= 1; --v) mass.push_back(side[static_cast<std::size_t>(v - 1)]);
  mass.push_back(kOne - h);
  mass.insert(mass.end(), side.begin(), side.end());
  uint64_t covered = 0;
  for (uint64_t m : mass) covered += m;
  mass.push_back(kOne - std::min(kOne, covered));
  std::vector<uint64_t> frequencies;
  uint64_t sum = 0;
  for (uint64_t m : mass) {
    frequencies.push_back(std::max<uint64_t>(1, m >> kShift));
    sum += frequencies.back();
  }
  std::vector<std::size_t> order(mass.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const uint64_t low_mask = (uint64_t{1} << kShift) - 1;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return (mass[a] & low_mask) > (mass[b] & low_mask); });
  for (std::size_t i = 0; sum < entropy::kTotalFrequency; ++i, ++sum) ++frequencies[order[i % order.size()]];
  COSAE_CHECK(sum == entropy::kTotalFrequency, usage, "Laplace table ", k, ": frequencies sum to ", sum);
  std::vector<uint32_t> cdf{0};
  for (uint64_t f : frequencies) cdf.push_back(cdf.back() + static_cast<uint32_t>(f));
  return entropy::CdfTable::from_cdf(-range, std::move(cdf));
}

// -log2 of v's probability under `table`, to within the coder's flush: its frequency, and for
// a value outside the table's range the escape's and the escape payload's bits.
double symbol_bits(const entropy::CdfTable& table, int32_t v) {
  if (table.in_range(v))
    return entropy::kPrecisionBits - std::log2(static_cast<double>(table.frequency(v - table.offset())));
  const int64_t d = v > table.max_value() ? int64_t(v) - table.max_value() - 1 : int64_t(table.min_value()) - v - 1;
  return entropy::kPrecisionBits - std::log2(static_cast<double>(table.frequency(table.escape_symbol()))) + 1 +
         entropy::kEscapeLengthFieldBits + std::floor(std::log2(static_cast<double>(d + 1)));
}

// symbol_bits of the Laplace tables, looked up for the values in their ranges.
class LaplaceBits {
 public:
  static const LaplaceBits& get() {
    static const LaplaceBits bits;
    return bits;
  }
  double operator()(int k, int32_t v) const {
    const auto& t = adaptive_laplace_table(k);
    const auto& b = bits_[static_cast<std::size_t>(k)];
    return t.in_range(v) ? b[static_cast<std::size_t>(v - t.offset())] : symbol_bits(t, v);
  }

 private:
  LaplaceBits() {
    for (int k = 0; k < kAdaptiveScales; ++k) {
      const auto& t = adaptive_laplace_table(k);
      bits_.emplace_back();
      for (int32_t v = t.min_value(); v <= t.max_value(); ++v) bits_.back().push_back(symbol_bits(t, v));
    }
  }
  std::vector<std::vector<double>> bits_;
};

// The Laplace table of a symbol of scale index k in a cell of gain `gain`.
int gained_scale_index(int k, int32_t gain) {
  return static_cast<int>(std::clamp<int64_t>(int64_t(k) + gain, 0, kAdaptiveScales - 1));
}

// The scale index nearest the maximum-likelihood scale of symbols whose mean magnitude (each
// divided by its cell's gain) is `mean`: b = mean |s| for a Laplace.
int scale_index_of_mean(double mean) {
  return std::clamp(static_cast<int>(std::lround(4 * (std::log2(std::max(mean, 1e-3)) + 3))), 0, kAdaptiveScales - 1);
}

double mean_magnitude(const int32_t* symbols, int64_t n, const int32_t* gains) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::abs(static_cast<double>(symbols[i])) * (gains ? std::exp2(-0.25 * gains[i]) : 1.0);
  return sum / static_cast<double>(std::max<int64_t>(n, 1));
}

// Bits of symbols under Laplace scale index k (with the cells' gains when given).
double laplace_bits(const int32_t* symbols, int64_t n, int k, const int32_t* gains) {
  const auto& bits = LaplaceBits::get();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += bits(gains ? gained_scale_index(k, gains[i]) : k, symbols[i]);
  return sum;
}

struct Choice {
  int32_t choice;
  double bits;  // the choice's and the symbols'
};

// The cheapest way to code a channel that is not all zero: its learned table (when given), or
// one of the five Laplace scales around the maximum-likelihood one.
Choice best_choice(const int32_t* symbols, int64_t n, const entropy::CdfTable* learned, const int32_t* gains) {
  const auto& choices = adaptive_choice_table();
  Choice best{-1, HUGE_VAL};
  if (learned) {
    double bits = symbol_bits(choices, 1);
    for (int64_t i = 0; i < n; ++i) bits += symbol_bits(*learned, symbols[i]);
    best = {1, bits};
  }
  const int centre = scale_index_of_mean(mean_magnitude(symbols, n, gains));
  for (int k = std::max(0, centre - 2); k <= std::min(kAdaptiveScales - 1, centre + 2); ++k) {
    const double bits = symbol_bits(choices, 2 + k) + laplace_bits(symbols, n, k, gains);
    if (bits < best.bits) best = {2 + k, bits};
  }
  return best;
}

bool all_zero(const int32_t* symbols, int64_t n) {
  return std::all_of(symbols, symbols + n, [](int32_t v) { return v == 0; });
}

}  // namespace

const entropy::CdfTable& adaptive_laplace_table(int k) {
  COSAE_CHECK(k >= 0 && k < kAdaptiveScales, usage, "adaptive Laplace table ", k, " outside 0..", kAdaptiveScales - 1);
  static const std::vector<entropy::CdfTable> tables = [] {
    std::vector<entropy::CdfTable> out;
    for (int i = 0; i < kAdaptiveScales; ++i) out.push_back(laplace_table(i));
    return out;
  }();
  return tables[static_cast<std::size_t>(k)];
}

int32_t laplace_choice(const int32_t* symbols, int64_t n) {
  return all_zero(symbols, n) ? 0 : best_choice(symbols, n, nullptr, nullptr).choice;
}

int32_t cartesian_symbol(float v) {
  if (!std::isfinite(v)) return 0;
  const float limit = static_cast<float>(entropy::kMaxMagnitude);
  return static_cast<int32_t>(std::nearbyint(std::min(std::max(v, -limit), limit)));
}

void put_adaptive_channel(entropy::RansEncoder& coder, const int32_t* symbols, int64_t n,
                          const entropy::CdfTable* learned, const int32_t* gains) {
  const auto& choices = adaptive_choice_table();
  if (all_zero(symbols, n)) {
    coder.put(0, choices);
    return;
  }
  const int32_t choice = best_choice(symbols, n, learned, gains).choice;
  coder.put(choice, choices);
  for (int64_t i = 0; i < n; ++i) {
    const auto& table =
        choice == 1 ? *learned : adaptive_laplace_table(gains ? gained_scale_index(choice - 2, gains[i]) : choice - 2);
    coder.put(symbols[i], table);
  }
}

void get_adaptive_channel(entropy::RansDecoder& coder, int32_t* symbols, int64_t n, const entropy::CdfTable* learned,
                          const int32_t* gains) {
  const int32_t choice = coder.get(adaptive_choice_table());
  const bool known = choice == 0 || (choice == 1 && learned) || (choice >= 2 && choice < 2 + kAdaptiveScales);
  COSAE_CHECK(known, bad_input, "adaptive payload: table choice ", choice,
              learned ? " outside 0.." : " outside 0 and 2..", 1 + kAdaptiveScales);
  if (choice == 0) {
    std::fill(symbols, symbols + n, 0);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const auto& table =
        choice == 1 ? *learned : adaptive_laplace_table(gains ? gained_scale_index(choice - 2, gains[i]) : choice - 2);
    symbols[i] = coder.get(table);
  }
}

std::vector<int32_t> fit_cell_gains(const int32_t* symbols, int64_t channels, int64_t n) {
  std::vector<int32_t> gains(static_cast<std::size_t>(n), 0);
  std::vector<const int32_t*> active;  // the channels that are not all zero
  std::vector<int> scale;              // each one's maximum-likelihood scale index
  for (int64_t c = 0; c < channels; ++c) {
    const int32_t* s = symbols + c * n;
    if (all_zero(s, n)) continue;
    active.push_back(s);
    scale.push_back(scale_index_of_mean(mean_magnitude(s, n, nullptr)));
  }
  if (active.empty()) return gains;
  const auto& bits = LaplaceBits::get();
  parallel_for(0, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto cost = [&](int32_t g) {
        double sum = 0;
        for (std::size_t a = 0; a < active.size(); ++a) sum += bits(gained_scale_index(scale[a], g), active[a][i]);
        return sum;
      };
      // Gains in order of magnitude, 0 first: ties go to the smaller, cheaper to send.
      int32_t best = 0;
      double best_bits = cost(0);
      for (int32_t m = 1; m <= std::max(-kMinCellGain, kMaxCellGain); ++m) {
        for (int32_t g : {-m, m}) {
          if (g < kMinCellGain || g > kMaxCellGain) continue;
          const double b = cost(g);
          if (b < best_bits) best_bits = b, best = g;
        }
      }
      gains[static_cast<std::size_t>(i)] = best;
    }
  });
  // Keep the gains only when they pay for themselves: every channel recoded at its best scale
  // with them, and the map's own bits, against the channels without them.
  double with = all_zero(gains.data(), n) ? HUGE_VAL : best_choice(gains.data(), n, nullptr, nullptr).bits;
  double without = symbol_bits(adaptive_choice_table(), 0);
  for (const int32_t* s : active) {
    with += best_choice(s, n, nullptr, gains.data()).bits;
    without += best_choice(s, n, nullptr, nullptr).bits;
  }
  if (!(with < without)) std::fill(gains.begin(), gains.end(), 0);
  return gains;
}

void put_cell_gains(entropy::RansEncoder& coder, const std::vector<int32_t>& gains) {
  put_adaptive_channel(coder, gains.data(), static_cast<int64_t>(gains.size()), nullptr, nullptr);
}

std::vector<int32_t> get_cell_gains(entropy::RansDecoder& coder, int64_t n) {
  std::vector<int32_t> gains(static_cast<std::size_t>(n));
  get_adaptive_channel(coder, gains.data(), n, nullptr, nullptr);
  for (int32_t g : gains)
    COSAE_CHECK(std::abs(int64_t(g)) < kAdaptiveScales, bad_input, "cell gain ", g, " outside -",
                kAdaptiveScales - 1, "..", kAdaptiveScales - 1);
  return gains;
}

}  // namespace cosae::codec
