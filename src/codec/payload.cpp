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

const entropy::CdfTable& adaptive_choice_table() {
  // Fixed odds: an all-zero channel 1/2, the learned table 1/10, the scales share the rest.
  static const entropy::CdfTable table = [] {
    std::vector<double> pmf{0.5, 0.1};
    for (int k = 0; k < kAdaptiveScales; ++k) pmf.push_back(0.4 / kAdaptiveScales);
    return entropy::CdfTable::from_pmf(0, pmf);
  }();
  return table;
}

const entropy::CdfTable& adaptive_laplace_table(int k) {
  COSAE_CHECK(k >= 0 && k < kAdaptiveScales, usage, "adaptive Laplace table ", k, " outside 0..", kAdaptiveScales - 1);
  static const std::vector<entropy::CdfTable> tables = [] {
    std::vector<entropy::CdfTable> out;
    for (int i = 0; i < kAdaptiveScales; ++i) {
      const double scale = std::exp2(i / 4.0 - 3.0);
      // P(v) = F(v + 1/2) - F(v - 1/2) for F the Laplace CDF; the range holds all but e^-16
      // of the mass, the rest is the escape's.
      const auto range = static_cast<int32_t>(std::ceil(16 * scale)) + 1;
      auto cdf = [scale](double x) { return x < 0 ? 0.5 * std::exp(x / scale) : 1 - 0.5 * std::exp(-x / scale); };
      std::vector<double> pmf;
      for (int32_t v = -range; v <= range; ++v) pmf.push_back(cdf(v + 0.5) - cdf(v - 0.5));
      out.push_back(entropy::CdfTable::from_pmf(-range, pmf, 2 * (1 - cdf(range + 0.5))));
    }
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
