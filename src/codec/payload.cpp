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
  const int64_t expected = mode == CodingMode::cartesian ? 2 * s.frequencies : s.frequencies;
  COSAE_CHECK(static_cast<int64_t>(tables.size()) == expected, usage, "payload: ", tables.size(), " tables, expected ",
              expected);
}

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
      } else {
        get_polar(coder, symbols + r.first * n, symbols + (K + r.first) * n, r.last - r.first, n,
                  tables.data() + r.first);
      }
      coder.finish();
    }
  });
}

}  // namespace cosae::codec
