#include "codec/payload.hpp"

#include "common/parallel.hpp"

#include <algorithm>
#include <cmath>

#include "codec/polar.hpp"
#include "cosae/error.hpp"
#include "entropy/rans.hpp"

namespace cosae::codec {
namespace {

constexpr int64_t kSymbolsPerStream = int64_t(1) << 16;

// Frequencies [first, last) of stream g.
struct Range {
  int64_t first, last;
};
Range stream_range(int64_t K, int64_t S, int64_t g) { return {K * g / S, K * (g + 1) / S}; }

// A Cartesian stream's channels in coding order: the a channels of its frequencies, then
// their b channels.
template <typename F>
void for_each_cartesian_channel(int64_t K, Range r, const F& f) {
  for (int64_t c = r.first; c < r.last; ++c) f(c);
  for (int64_t c = K + r.first; c < K + r.last; ++c) f(c);
}

// round(y - median), clamped to the coder's range; non-finite values become 0.
int32_t cartesian_symbol(float v) {
  if (!std::isfinite(v)) return 0;
  const float limit = static_cast<float>(entropy::kMaxMagnitude);
  return static_cast<int32_t>(std::nearbyint(std::min(std::max(v, -limit), limit)));
}

void check_tables(const PayloadShape& s, CodingMode mode, const std::vector<entropy::CdfTable>& tables) {
  const int64_t expected = mode == CodingMode::polar ? s.frequencies : 2 * s.frequencies;
  COSAE_CHECK(static_cast<int64_t>(tables.size()) == expected, usage, "payload: ", tables.size(), " tables, expected ",
              expected);
}

// Bits `table` spends on `symbols` (to within the coder's flush): -log2 of each frequency,
// and the escape payload of the values outside its range.
double table_bits(const entropy::CdfTable& table, const int32_t* symbols, int64_t n) {
  double bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = symbols[i];
    if (table.in_range(v)) {
      bits += entropy::kPrecisionBits - std::log2(static_cast<double>(table.frequency(v - table.offset())));
    } else {
      const int64_t d = v > table.max_value() ? int64_t(v) - table.max_value() - 1 : int64_t(table.min_value()) - v - 1;
      bits += entropy::kPrecisionBits - std::log2(static_cast<double>(table.frequency(table.escape_symbol()))) + 1 +
              entropy::kEscapeLengthFieldBits + std::floor(std::log2(static_cast<double>(d + 1)));
    }
  }
  return bits;
}

// One channel of the adaptive coding: its choice symbol, then its symbols.
void put_adaptive_channel(entropy::RansEncoder& coder, const float* centred, int64_t n,
                          const entropy::CdfTable& learned, std::vector<int32_t>& symbols) {
  symbols.resize(static_cast<std::size_t>(n));
  double mean_magnitude = 0;
  bool all_zero = true;
  for (int64_t i = 0; i < n; ++i) {
    symbols[static_cast<std::size_t>(i)] = cartesian_symbol(centred[i]);
    all_zero = all_zero && symbols[static_cast<std::size_t>(i)] == 0;
    mean_magnitude += std::abs(static_cast<double>(symbols[static_cast<std::size_t>(i)])) / static_cast<double>(n);
  }
  const auto& choices = adaptive_choice_table();
  if (all_zero) {
    coder.put(0, choices);
    return;
  }
  // The learned table, or the Laplace scales next to the maximum-likelihood one (mean |s|).
  auto cost = [&](int32_t choice, const entropy::CdfTable& table) {
    return table_bits(choices, &choice, 1) + table_bits(table, symbols.data(), n);
  };
  int32_t best = 1;
  double best_bits = cost(1, learned);
  const int centre = std::clamp(static_cast<int>(std::lround(4 * (std::log2(std::max(mean_magnitude, 1e-3)) + 3))), 0,
                                kAdaptiveScales - 1);
  for (int k = std::max(0, centre - 2); k <= std::min(kAdaptiveScales - 1, centre + 2); ++k) {
    const double bits = cost(2 + k, adaptive_laplace_table(k));
    if (bits < best_bits) best_bits = bits, best = 2 + k;
  }
  coder.put(best, choices);
  const auto& table = best == 1 ? learned : adaptive_laplace_table(best - 2);
  for (int64_t i = 0; i < n; ++i) coder.put(symbols[static_cast<std::size_t>(i)], table);
}

void get_adaptive_channel(entropy::RansDecoder& coder, float* symbols, int64_t n, const entropy::CdfTable& learned) {
  const int32_t choice = coder.get(adaptive_choice_table());
  COSAE_CHECK(choice >= 0 && choice < 2 + kAdaptiveScales, bad_input, "adaptive payload: table choice ", choice,
              " outside 0..", 1 + kAdaptiveScales);
  if (choice == 0) {
    std::fill(symbols, symbols + n, 0.0f);
    return;
  }
  const auto& table = choice == 1 ? learned : adaptive_laplace_table(choice - 2);
  for (int64_t i = 0; i < n; ++i) symbols[i] = static_cast<float>(coder.get(table));
}

}  // namespace

// The adaptive coding's tables are built from integers alone, so that every machine builds
// the same ones (the decoder must): no floating-point maths library is involved.

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

int64_t payload_streams(const PayloadShape& s) {
  const int64_t wanted = 2 * s.frequencies * s.cells / kSymbolsPerStream;
  return std::max<int64_t>(1, std::min<int64_t>({wanted, s.frequencies, static_cast<int64_t>(kMaxPayloadStreams)}));
}

std::vector<Payload> encode_payloads(const float* centred, const PayloadShape& s,
                                     const std::vector<PayloadCoding>& codings, int64_t streams) {
  for (const auto& coding : codings) check_tables(s, coding.mode, *coding.tables);
  COSAE_CHECK(streams >= 1 && streams <= std::max<int64_t>(1, s.frequencies), usage, "payload: ", streams,
              " streams for ", s.frequencies, " frequencies");
  const int64_t K = s.frequencies, n = s.cells;
  std::vector<Payload> out(codings.size(), Payload(static_cast<std::size_t>(streams)));
  const auto tasks = static_cast<int64_t>(codings.size()) * streams;
  parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const auto& coding = codings[static_cast<std::size_t>(task / streams)];
      const auto& tables = *coding.tables;
      const int64_t g = task % streams;
      const Range r = stream_range(K, streams, g);
      entropy::RansEncoder coder;
      if (coding.mode == CodingMode::cartesian) {
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          for (int64_t i = 0; i < n; ++i)
            coder.put(cartesian_symbol(centred[channel * n + i]), tables[static_cast<std::size_t>(channel)]);
        });
      } else if (coding.mode == CodingMode::adaptive) {
        std::vector<int32_t> symbols;
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          put_adaptive_channel(coder, centred + channel * n, n, tables[static_cast<std::size_t>(channel)], symbols);
        });
      } else {
        put_polar(coder, centred + r.first * n, centred + (K + r.first) * n, r.last - r.first, n,
                  tables.data() + r.first);
      }
      out[static_cast<std::size_t>(task / streams)][static_cast<std::size_t>(g)] = coder.finish();
    }
  });
  return out;
}

void decode_payload(const std::vector<ByteSpan>& streams, const PayloadShape& s, CodingMode mode,
                    const std::vector<entropy::CdfTable>& tables, float* symbols) {
  check_tables(s, mode, tables);
  const auto S = static_cast<int64_t>(streams.size());
  const int64_t K = s.frequencies, n = s.cells;
  COSAE_CHECK(S >= 1 && S <= std::max<int64_t>(1, K), bad_input, "bitstream holds ", S,
              " payload streams; this model's latent takes 1 to ", std::max<int64_t>(1, K));
  parallel_for(0, S, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const Range r = stream_range(K, S, g);
      const ByteSpan& bytes = streams[static_cast<std::size_t>(g)];
      entropy::RansDecoder coder(bytes.data, bytes.size);
      if (mode == CodingMode::cartesian) {
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          for (int64_t i = 0; i < n; ++i)
            symbols[channel * n + i] = static_cast<float>(coder.get(tables[static_cast<std::size_t>(channel)]));
        });
      } else if (mode == CodingMode::adaptive) {
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          get_adaptive_channel(coder, symbols + channel * n, n, tables[static_cast<std::size_t>(channel)]);
        });
      } else {
        get_polar(coder, symbols + r.first * n, symbols + (K + r.first) * n, r.last - r.first, n,
                  tables.data() + r.first);
      }
      coder.finish();
    }
  });
}

}  // namespace cosae::codec
