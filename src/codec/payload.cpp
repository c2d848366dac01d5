#include "codec/payload.hpp"

#include "common/parallel.hpp"

#include <algorithm>

#include "codec/adaptive.hpp"
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

void check_tables(const PayloadShape& s, CodingMode mode, const std::vector<entropy::CdfTable>& tables) {
  const int64_t expected = mode == CodingMode::polar ? s.frequencies : 2 * s.frequencies;
  COSAE_CHECK(static_cast<int64_t>(tables.size()) == expected, usage, "payload: ", tables.size(), " tables, expected ",
              expected);
}

bool is_adaptive(CodingMode mode) { return mode == CodingMode::adaptive || mode == CodingMode::cell_gains; }

}  // namespace

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
  // The Cartesian symbols, once for every coding that codes them; the gains for the cell-gains
  // coding.
  const bool any_cartesian =
      std::any_of(codings.begin(), codings.end(), [](const PayloadCoding& c) { return c.mode != CodingMode::polar; });
  std::vector<int32_t> symbols(any_cartesian ? static_cast<std::size_t>(2 * K * n) : 0);
  parallel_for(0, static_cast<int64_t>(symbols.size()), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) symbols[static_cast<std::size_t>(i)] = cartesian_symbol(centred[i]);
  });
  const bool any_gains = std::any_of(codings.begin(), codings.end(),
                                     [](const PayloadCoding& c) { return c.mode == CodingMode::cell_gains; });
  const auto gains = any_gains ? fit_cell_gains(symbols.data(), 2 * K, n) : std::vector<int32_t>{};

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
            coder.put(symbols[static_cast<std::size_t>(channel * n + i)], tables[static_cast<std::size_t>(channel)]);
        });
      } else if (is_adaptive(coding.mode)) {
        const bool with_gains = coding.mode == CodingMode::cell_gains;
        if (with_gains && g == 0) put_cell_gains(coder, gains);
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          put_adaptive_channel(coder, symbols.data() + channel * n, n, &tables[static_cast<std::size_t>(channel)],
                               with_gains ? gains.data() : nullptr);
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
  std::vector<entropy::RansDecoder> coders;
  for (const ByteSpan& bytes : streams) coders.emplace_back(bytes.data, bytes.size);
  // The cell gains lead stream 0, and every stream needs them.
  const auto gains = mode == CodingMode::cell_gains ? get_cell_gains(coders[0], n) : std::vector<int32_t>{};
  parallel_for(0, S, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> channel_symbols(static_cast<std::size_t>(n));
    for (int64_t g = begin; g < end; ++g) {
      const Range r = stream_range(K, S, g);
      auto& coder = coders[static_cast<std::size_t>(g)];
      if (mode == CodingMode::cartesian) {
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          for (int64_t i = 0; i < n; ++i)
            symbols[channel * n + i] = static_cast<float>(coder.get(tables[static_cast<std::size_t>(channel)]));
        });
      } else if (is_adaptive(mode)) {
        for_each_cartesian_channel(K, r, [&](int64_t channel) {
          get_adaptive_channel(coder, channel_symbols.data(), n, &tables[static_cast<std::size_t>(channel)],
                               gains.empty() ? nullptr : gains.data());
          std::copy(channel_symbols.begin(), channel_symbols.end(), symbols + channel * n);
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
