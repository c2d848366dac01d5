// The codec's payload: the latent as S rANS streams by frequency range; round trips for every
// S and every coding, S = 1 is the single-stream layout, bad stream counts are refused; the
// adaptive coding's tables and choices; the cell gains.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "codec/payload.hpp"
#include "codec/polar.hpp"
#include "cosae/error.hpp"
#include "entropy/rans.hpp"

using cosae::CodingMode;
using cosae::Error;
using cosae::ErrorKind;
using cosae::entropy::CdfTable;
namespace codec = cosae::codec;

namespace {

std::vector<CdfTable> cartesian_tables(int64_t channels) {
  std::vector<CdfTable> tables;
  for (int64_t c = 0; c < channels; ++c) {
    std::vector<double> pmf;
    const double ratio = 0.4 + 0.05 * static_cast<double>(c % 7);
    for (int32_t v = -6; v <= 6; ++v) pmf.push_back(std::pow(ratio, std::abs(v - 0.3 * static_cast<double>(c % 3))));
    tables.push_back(CdfTable::from_pmf(-6, pmf, 0.002));
  }
  return tables;
}

std::vector<cosae::ByteSpan> spans(const codec::Payload& payload) {
  std::vector<cosae::ByteSpan> out;
  for (const auto& stream : payload) out.push_back({stream.data(), stream.size()});
  return out;
}

std::size_t total_bytes(const codec::Payload& payload) {
  std::size_t bytes = 0;
  for (const auto& stream : payload) bytes += stream.size();
  return bytes;
}

// Bits of the adaptive coding's choice "the learned table" (its fixed odds, 1/10).
double entropy_bits_of_choice_one() { return std::log2(10.0); }

}  // namespace

TEST_CASE("payload streams: every stream count round-trips, both codings", "[codec][payload]") {
  const codec::PayloadShape shape{5, 301};  // K = 5 frequencies, odd cell count
  const int64_t values = 2 * shape.frequencies * shape.cells;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> centred(static_cast<std::size_t>(values));
  for (auto& v : centred) v = normal(rng);
  centred[17] = 4000.0f;  // an escape
  const auto cartesian = cartesian_tables(2 * shape.frequencies);
  const auto amplitude = codec::amplitude_tables(cartesian);
  for (int64_t streams = 1; streams <= shape.frequencies; ++streams) {
    INFO("streams " << streams);
    const auto payloads = codec::encode_payloads(
        centred.data(), shape, {{CodingMode::cartesian, &cartesian}, {CodingMode::polar, &amplitude}}, streams);
    REQUIRE(payloads.size() == 2);
    REQUIRE(static_cast<int64_t>(payloads[0].size()) == streams);
    std::vector<float> symbols(centred.size());
    codec::decode_payload(spans(payloads[0]), shape, CodingMode::cartesian, cartesian, symbols.data());
    for (std::size_t i = 0; i < centred.size(); ++i) REQUIRE(symbols[i] == std::nearbyint(centred[i]));
    codec::decode_payload(spans(payloads[1]), shape, CodingMode::polar, amplitude, symbols.data());
    const int64_t half = shape.frequencies * shape.cells;
    for (int64_t i = 0; i < half; ++i) {
      float a = 0, b = 0;
      codec::polar_reconstruct(codec::polar_quantize(centred[i], centred[half + i]), a, b);
      REQUIRE(symbols[i] == a);
      REQUIRE(symbols[half + i] == b);
    }
  }
}

TEST_CASE("payload streams: one stream is every channel in order; the count is checked", "[codec][payload]") {
  const codec::PayloadShape shape{3, 40};
  std::vector<float> centred(2 * 3 * 40);
  for (std::size_t i = 0; i < centred.size(); ++i) centred[i] = static_cast<float>(static_cast<int>(i % 9) - 4);
  const auto tables = cartesian_tables(6);
  const auto one = codec::encode_payloads(centred.data(), shape, {{CodingMode::cartesian, &tables}}, 1)[0];
  cosae::entropy::RansEncoder coder;
  for (std::size_t i = 0; i < centred.size(); ++i) coder.put(static_cast<int32_t>(centred[i]), tables[i / 40]);
  REQUIRE(one.size() == 1);
  CHECK(one[0] == coder.finish());

  // The encoder's choice: one stream per 2^16 symbols, within 1..min(K, 16).
  CHECK(codec::payload_streams({256, 96}) == 1);
  CHECK(codec::payload_streams({256, 2040}) == 15);
  CHECK(codec::payload_streams({256, 100000}) == 16);
  CHECK(codec::payload_streams({4, 100000}) == 4);

  std::vector<float> symbols(centred.size());
  const auto three = codec::encode_payloads(centred.data(), shape, {{CodingMode::cartesian, &tables}}, 3)[0];
  auto refused = [&](std::vector<cosae::ByteSpan> streams) {
    try {
      codec::decode_payload(streams, shape, CodingMode::cartesian, tables, symbols.data());
    } catch (const Error& e) {
      return e.kind() == ErrorKind::bad_input;
    }
    return false;
  };
  CHECK(refused({}));
  auto four = spans(three);
  four.push_back(four[0]);
  CHECK(refused(four));  // more streams than frequencies
  auto swapped = spans(three);
  std::swap(swapped[0], swapped[2]);
  CHECK(refused(swapped));  // stream 2 holds fewer symbols than stream 0 expects, or bytes are left
  CHECK_THROWS_AS(codec::encode_payloads(centred.data(), shape, {{CodingMode::polar, &tables}}, 1), Error);
}

TEST_CASE("adaptive payload: per-channel tables round-trip and beat mismatched learned tables", "[codec][payload]") {
  // Channels of three kinds against learned tables of spread ~1: all zero, far narrower
  // (mostly zeros), and far wider (Laplace of scale 40, escapes for the learned table).
  const codec::PayloadShape shape{6, 200};
  const int64_t n = shape.cells;
  std::mt19937 rng(5);
  std::exponential_distribution<double> magnitude(1.0);
  std::vector<float> centred(static_cast<std::size_t>(2 * shape.frequencies * n));
  for (int64_t c = 0; c < 2 * shape.frequencies; ++c) {
    const double scale = c % 3 == 0 ? 0.0 : c % 3 == 1 ? 0.15 : 40.0;
    for (int64_t i = 0; i < n; ++i) {
      const double sign = rng() % 2 ? 1.0 : -1.0;
      centred[static_cast<std::size_t>(c * n + i)] = static_cast<float>(sign * scale * magnitude(rng));
    }
  }
  centred[5 * n + 3] = 90000.0f;  // beyond every Laplace range: an escape there too
  const auto tables = cartesian_tables(2 * shape.frequencies);
  for (int64_t streams : {int64_t{1}, int64_t{4}}) {
    const auto payloads = codec::encode_payloads(
        centred.data(), shape, {{CodingMode::cartesian, &tables}, {CodingMode::adaptive, &tables}}, streams);
    std::vector<float> symbols(centred.size());
    codec::decode_payload(spans(payloads[1]), shape, CodingMode::adaptive, tables, symbols.data());
    for (std::size_t i = 0; i < centred.size(); ++i) REQUIRE(symbols[i] == std::nearbyint(centred[i]));
    const std::size_t cartesian_bytes = total_bytes(payloads[0]), adaptive_bytes = total_bytes(payloads[1]);
    INFO("streams " << streams << ": cartesian " << cartesian_bytes << " bytes, adaptive " << adaptive_bytes);
    CHECK(adaptive_bytes < cartesian_bytes * 0.8);
  }
  // Data the learned tables fit: the adaptive coding costs at most its choices more.
  std::vector<float> fitted(centred.size());
  for (std::size_t i = 0; i < fitted.size(); ++i) fitted[i] = static_cast<float>(static_cast<int>(rng() % 3) - 1);
  const auto both = codec::encode_payloads(fitted.data(), shape,
                                           {{CodingMode::cartesian, &tables}, {CodingMode::adaptive, &tables}}, 1);
  const double choice_bits = 2 * shape.frequencies * (entropy_bits_of_choice_one() + 0.1);
  CHECK(both[1][0].size() <= both[0][0].size() + static_cast<std::size_t>(std::ceil(choice_bits / 8)) + 4);

  // The tables: the choice table codes 0, 1 and every scale; each Laplace table is symmetric
  // and narrower for smaller scales.
  const auto& choices = codec::adaptive_choice_table();
  CHECK(choices.min_value() == 0);
  CHECK(choices.max_value() == 1 + codec::kAdaptiveScales);
  CHECK(codec::adaptive_laplace_table(0).max_value() < codec::adaptive_laplace_table(20).max_value());
  for (int k : {0, 20, codec::kAdaptiveScales - 1}) {
    const auto& t = codec::adaptive_laplace_table(k);
    CHECK(t.min_value() == -t.max_value());
    CHECK(t.frequency(-t.min_value()) >= t.frequency(-t.min_value() + 1));  // the mode at 0
  }
  CHECK_THROWS_AS(codec::adaptive_laplace_table(codec::kAdaptiveScales), Error);
  // The tables are part of the stream format: built from integers, they must never change.
  // (Scale 1/8: P(0) = 1 - e^-4 = 0.98168; scale 2^8.75: values up to +-1863.)
  CHECK(codec::adaptive_laplace_table(0).max_value() == 1);
  CHECK(codec::adaptive_laplace_table(0).frequency(1) == 64335);
  CHECK(codec::adaptive_laplace_table(codec::kAdaptiveScales - 1).max_value() == 1863);
  CHECK(choices.frequency(0) == 32768);

  // A corrupt choice (an escaped value beyond the scales) is refused.
  cosae::entropy::RansEncoder coder;
  coder.put(2 + codec::kAdaptiveScales + 5, choices);
  const auto bad = coder.finish();
  std::vector<float> symbols(static_cast<std::size_t>(2 * n));
  try {
    codec::decode_payload({{bad.data(), bad.size()}}, {1, n}, CodingMode::adaptive, cartesian_tables(2), symbols.data());
    FAIL("a choice beyond the scales was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::bad_input);
  }
}

TEST_CASE("cell-gains payload: a gain per cell round-trips and pays where cells differ", "[codec][payload]") {
  // Every channel at its own scale, times a factor per cell: a quarter of the cells flat
  // (factor 1/16), a quarter busy (factor 4), the rest 1, as photos hold sky beside foliage.
  const codec::PayloadShape shape{32, 240};
  const int64_t n = shape.cells, channels = 2 * shape.frequencies;
  std::mt19937 rng(11);
  std::exponential_distribution<double> magnitude(1.0);
  std::vector<float> centred(static_cast<std::size_t>(channels * n));
  auto factor = [](int64_t i) { return i % 4 == 0 ? 1.0 / 16 : i % 4 == 1 ? 4.0 : 1.0; };
  for (int64_t c = 0; c < channels; ++c) {
    const double scale = c == 3 ? 0.0 : 0.5 + 0.25 * static_cast<double>(c % 5);  // channel 3: all zero
    for (int64_t i = 0; i < n; ++i) {
      const double sign = rng() % 2 ? 1.0 : -1.0;
      centred[static_cast<std::size_t>(c * n + i)] = static_cast<float>(sign * scale * factor(i) * magnitude(rng));
    }
  }
  centred[7 * n + 5] = -70000.0f;  // an escape
  const auto tables = cartesian_tables(channels);

  // The fitted gains follow the cells: flat ones below the others, busy ones above.
  std::vector<int32_t> symbols(centred.size());
  for (std::size_t i = 0; i < centred.size(); ++i) symbols[i] = codec::cartesian_symbol(centred[i]);
  const auto gains = codec::fit_cell_gains(symbols.data(), channels, n);
  REQUIRE(static_cast<int64_t>(gains.size()) == n);
  double flat = 0, busy = 0, plain = 0;
  for (int64_t i = 0; i < n; ++i) (i % 4 == 0 ? flat : i % 4 == 1 ? busy : plain) += gains[static_cast<std::size_t>(i)];
  flat /= static_cast<double>(n / 4), busy /= static_cast<double>(n / 4), plain /= static_cast<double>(n / 2);
  INFO("mean gains: flat " << flat << ", plain " << plain << ", busy " << busy);
  CHECK(flat < plain - 4);  // 1/16 is 16 steps of 2^(1/4) below; zeros cap how far it goes
  CHECK(busy > plain + 4);  // 4 is 8 steps above

  for (int64_t streams : {int64_t{1}, int64_t{3}}) {
    const auto payloads = codec::encode_payloads(
        centred.data(), shape, {{CodingMode::adaptive, &tables}, {CodingMode::cell_gains, &tables}}, streams);
    std::vector<float> decoded(centred.size());
    codec::decode_payload(spans(payloads[1]), shape, CodingMode::cell_gains, tables, decoded.data());
    for (std::size_t i = 0; i < centred.size(); ++i) REQUIRE(decoded[i] == static_cast<float>(symbols[i]));
    const std::size_t adaptive_bytes = total_bytes(payloads[0]), gains_bytes = total_bytes(payloads[1]);
    INFO("streams " << streams << ": adaptive " << adaptive_bytes << " bytes, cell gains " << gains_bytes);
    CHECK(gains_bytes < adaptive_bytes * 0.85);
  }

  // Cells all alike: the gains do not pay, and the coding costs the adaptive one's and one
  // all-zero choice (a bit) more, to within the coder's 32-bit flush.
  std::vector<float> alike(centred.size());
  for (std::size_t i = 0; i < alike.size(); ++i)
    alike[i] = static_cast<float>((rng() % 2 ? 1.0 : -1.0) * 2.0 * magnitude(rng));
  for (std::size_t i = 0; i < alike.size(); ++i) symbols[i] = codec::cartesian_symbol(alike[i]);
  const auto none = codec::fit_cell_gains(symbols.data(), channels, n);
  CHECK(std::all_of(none.begin(), none.end(), [](int32_t g) { return g == 0; }));
  const auto both = codec::encode_payloads(alike.data(), shape,
                                           {{CodingMode::adaptive, &tables}, {CodingMode::cell_gains, &tables}}, 1);
  CHECK(both[1][0].size() <= both[0][0].size() + 4);

  // Corrupt gain maps are refused: the learned table (the gains have none), a gain beyond
  // the scales.
  auto refused = [&](const std::vector<uint8_t>& stream) {
    std::vector<float> out(static_cast<std::size_t>(2 * 4));
    try {
      codec::decode_payload({{stream.data(), stream.size()}}, {1, 4}, CodingMode::cell_gains, cartesian_tables(2),
                            out.data());
    } catch (const Error& e) {
      return e.kind() == ErrorKind::bad_input;
    }
    return false;
  };
  cosae::entropy::RansEncoder coder;
  coder.put(1, codec::adaptive_choice_table());
  CHECK(refused(coder.finish()));
  coder.put(2 + 20, codec::adaptive_choice_table());
  for (int32_t g : {0, 3, codec::kAdaptiveScales, 0}) coder.put(g, codec::adaptive_laplace_table(20));
  CHECK(refused(coder.finish()));
  // The same with gains in range, and two all-zero channels, decodes.
  coder.put(2 + 20, codec::adaptive_choice_table());
  for (int32_t g : {0, 3, -codec::kAdaptiveScales + 1, 0}) coder.put(g, codec::adaptive_laplace_table(20));
  coder.put(0, codec::adaptive_choice_table());
  coder.put(0, codec::adaptive_choice_table());
  CHECK_FALSE(refused(coder.finish()));
}
