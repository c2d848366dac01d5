// Polar coding of the latent (codec/polar.hpp): phase levels, quantisation error, amplitude
// tables against the joint Cartesian prior, coder round trips, and polar bitstreams end to end.
#include <cmath>
#include <random>

#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "codec/polar.hpp"
#include "cosae/error.hpp"
#include "temp_dir.hpp"

using namespace cosae;
using codec::PolarSymbol;
using entropy::CdfTable;

namespace {

// A two-sided geometric pmf over [first, last] with its tail mass.
CdfTable geometric_table(int32_t first, int32_t last, double centre, double ratio) {
  std::vector<double> pmf;
  for (int32_t v = first; v <= last; ++v) pmf.push_back(std::pow(ratio, std::abs(v - centre)));
  return CdfTable::from_pmf(first, pmf, 0.002);
}

double probability(const CdfTable& t, int32_t value) {
  return t.frequency(value - t.offset()) / static_cast<double>(entropy::kTotalFrequency);
}

}  // namespace

TEST_CASE("phase levels grow as round(2 pi m), none at zero, capped at 2^16", "[codec][polar]") {
  CHECK(codec::phase_levels(0) == 1);
  CHECK(codec::phase_levels(1) == 6);
  CHECK(codec::phase_levels(2) == 13);
  CHECK(codec::phase_levels(10) == 63);
  CHECK(codec::phase_levels(1000) == 6283);
  CHECK(codec::phase_levels(entropy::kMaxMagnitude) == entropy::kTotalFrequency);
  for (int32_t m = 1; m < 10000; ++m) {  // (the cap takes over at 2^16 / 2 pi ~ 10430)
    REQUIRE(codec::phase_levels(m) >= codec::phase_levels(m - 1));
    REQUIRE(std::abs(static_cast<double>(codec::phase_levels(m)) - 2 * M_PI * m) <= 0.5 + 1e-6 * m);
  }
}

TEST_CASE("polar quantisation stays within half a step in radius and in arc", "[codec][polar]") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> value(-40.0f, 40.0f);
  for (int i = 0; i < 200000; ++i) {
    const float a = i % 4 == 0 ? value(rng) / 40 : value(rng), b = i % 4 == 0 ? value(rng) / 40 : value(rng);
    const PolarSymbol s = codec::polar_quantize(a, b);
    REQUIRE(s.amplitude >= 0);
    REQUIRE(s.phase < codec::phase_levels(s.amplitude));
    float ra = 0, rb = 0;
    codec::polar_reconstruct(s, ra, rb);
    const double radius = std::hypot(a, b);
    CHECK(std::abs(std::hypot(ra, rb) - s.amplitude) < 1e-4 * (1 + s.amplitude));
    CHECK(std::abs(radius - s.amplitude) <= 0.5 + 1e-5);
    // The farthest point of a cell from its centre (m, 0): radius m + 1/2, half a phase step
    // away, at distance sqrt(1/4 + 4 m (m + 1/2) sin^2(pi / 2N)); within 1/2 of 0 when m = 0.
    const double m = s.amplitude, half_step = M_PI / (2.0 * codec::phase_levels(s.amplitude));
    const double bound = std::sqrt(0.25 + 4 * m * (m + 0.5) * std::sin(half_step) * std::sin(half_step));
    CHECK(std::hypot(a - ra, b - rb) <= bound + 1e-4);
  }
  const PolarSymbol nan = codec::polar_quantize(std::nanf(""), 1.0f);
  CHECK(nan.amplitude == 0);
  CHECK(codec::polar_quantize(0.2f, -0.3f).amplitude == 0);
}

TEST_CASE("amplitude tables hold the joint Cartesian prior's mass per rounded radius", "[codec][polar]") {
  const CdfTable a = geometric_table(-12, 9, -0.3, 0.55), b = geometric_table(-7, 15, 1.2, 0.7);
  const CdfTable amplitude = codec::amplitude_table(a, b);
  CHECK(amplitude.offset() == 0);
  CHECK(amplitude.max_value() == static_cast<int32_t>(std::lround(std::hypot(12.0, 15.0))));
  std::vector<double> expected(static_cast<std::size_t>(amplitude.max_value()) + 1, 0.0);
  for (int32_t i = a.min_value(); i <= a.max_value(); ++i)
    for (int32_t j = b.min_value(); j <= b.max_value(); ++j)
      expected[static_cast<std::size_t>(std::lround(std::hypot(i, j)))] += probability(a, i) * probability(b, j);
  const double slack = (amplitude.symbol_count() + 2) / static_cast<double>(entropy::kTotalFrequency);
  double escape = 1.0;
  for (int32_t m = 0; m <= amplitude.max_value(); ++m) {
    INFO("amplitude " << m);
    CHECK(std::abs(probability(amplitude, m) - expected[static_cast<std::size_t>(m)]) <= slack);
    escape -= expected[static_cast<std::size_t>(m)];
  }
  const double coded_escape =
      amplitude.frequency(amplitude.escape_symbol()) / static_cast<double>(entropy::kTotalFrequency);
  CHECK(std::abs(coded_escape - escape) <= slack);
  // Integer arithmetic only: built twice, the same table.
  CHECK(codec::amplitude_table(a, b).cdf() == amplitude.cdf());
  CHECK(codec::amplitude_tables({a, a, b, b}).size() == 2);
  CHECK_THROWS_AS(codec::amplitude_tables({a, b, a}), Error);
}

TEST_CASE("polar symbols round-trip through the coder, escapes and zeros included", "[codec][polar]") {
  const std::vector<CdfTable> cartesian = {geometric_table(-5, 5, 0, 0.5), geometric_table(-3, 8, 1, 0.6),
                                           geometric_table(-4, 4, 0, 0.4), geometric_table(-9, 2, -1, 0.6)};
  const auto tables = codec::amplitude_tables(cartesian);
  const int64_t K = 2, n = 3000;
  std::mt19937_64 rng(9);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> a(K * n), b(K * n);
  for (int64_t i = 0; i < K * n; ++i) {
    a[i] = normal(rng), b[i] = normal(rng);
    if (i % 97 == 0) a[i] *= 300;  // far beyond the tables: escapes
  }
  a[5] = std::nanf("");
  entropy::RansEncoder encoder;
  codec::put_polar(encoder, a.data(), b.data(), K, n, tables.data());
  const auto bytes = encoder.finish();
  std::vector<float> ra(K * n), rb(K * n);
  entropy::RansDecoder decoder(bytes);
  codec::get_polar(decoder, ra.data(), rb.data(), K, n, tables.data());
  decoder.finish();
  int zeros = 0;
  for (int64_t i = 0; i < K * n; ++i) {
    float ea = 0, eb = 0;
    const PolarSymbol s = codec::polar_quantize(a[i], b[i]);
    codec::polar_reconstruct(s, ea, eb);
    REQUIRE(ra[i] == ea);
    REQUIRE(rb[i] == eb);
    zeros += s.amplitude == 0;
  }
  CHECK(zeros > 0);
  CHECK(ra[5] == 0.0f);
}

TEST_CASE("polar bitstreams: round trips, determinism, the mode in the header, damage", "[codec][polar]") {
  cosae_test::TemporaryDirectory dir;
  torch::manual_seed(4);
  model::CosAE net(model::load_config("tiny"));
  const std::string path = dir / "tiny.safetensors";
  codec::save_codec_model(path, *net);
  auto m = codec::load_codec_model(path, torch::kCPU);
  REQUIRE(m.polar_tables().size() == static_cast<std::size_t>(net->config.frequencies));
  Image image{37, 29, 3, 8, {}};
  image.samples.resize(image.sample_count());
  for (std::size_t i = 0; i < image.samples.size(); ++i) image.samples[i] = static_cast<uint16_t>((i * 37) % 251);
  codec::EncodeOptions polar;
  polar.quality = 3;
  polar.coding = codec::Coding::polar;
  const auto bytes = codec::encode(image, m, polar);
  CHECK(bytes == codec::encode(image, m, polar));
  const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
  CHECK(decoded.header.mode == CodingMode::polar);
  CHECK(decoded.image.width == 37);
  CHECK(decoded.image.height == 29);
  for (std::size_t cut = 0; cut < bytes.size(); cut += 3) CHECK_THROWS_AS(codec::decode(bytes.data(), cut, m), Error);
  // auto codes all four and keeps the smallest stream, whichever mode that is.
  codec::EncodeOptions all = polar, cartesian = polar, adaptive = polar, cell_gains = polar;
  all.coding = codec::Coding::smaller;
  cartesian.coding = codec::Coding::cartesian;
  adaptive.coding = codec::Coding::adaptive;
  cell_gains.coding = codec::Coding::cell_gains;
  const auto cartesian_bytes = codec::encode(image, m, cartesian);
  const auto adaptive_bytes = codec::encode(image, m, adaptive);
  const auto cell_gains_bytes = codec::encode(image, m, cell_gains);
  const auto smallest = codec::encode(image, m, all);
  CHECK(smallest.size() ==
        std::min({bytes.size(), cartesian_bytes.size(), adaptive_bytes.size(), cell_gains_bytes.size()}));
  const CodingMode chosen = codec::decode(smallest.data(), smallest.size(), m).header.mode;
  CHECK(smallest == (chosen == CodingMode::polar      ? bytes
                     : chosen == CodingMode::adaptive ? adaptive_bytes
                     : chosen == CodingMode::cell_gains ? cell_gains_bytes
                                                        : cartesian_bytes));
  // The adaptive codings carry the Cartesian symbols: the same image decodes.
  const auto cartesian_image = codec::decode(cartesian_bytes.data(), cartesian_bytes.size(), m).image.samples;
  for (const auto* coded : {&adaptive_bytes, &cell_gains_bytes}) {
    const auto decoded_adaptive = codec::decode(coded->data(), coded->size(), m);
    CHECK(decoded_adaptive.header.mode == (coded == &adaptive_bytes ? CodingMode::adaptive : CodingMode::cell_gains));
    CHECK(decoded_adaptive.image.samples == cartesian_image);
    for (std::size_t cut = 0; cut < coded->size(); cut += 3) CHECK_THROWS_AS(codec::decode(coded->data(), cut, m), Error);
  }
  CHECK(codec::coding_from_name("polar") == codec::Coding::polar);
  CHECK(codec::coding_from_name("cartesian") == codec::Coding::cartesian);
  CHECK(codec::coding_from_name("adaptive") == codec::Coding::adaptive);
  CHECK(codec::coding_from_name("cell-gains") == codec::Coding::cell_gains);
  CHECK(codec::coding_from_name("factorised") == codec::Coding::smaller);
  CHECK(codec::coding_from_name("conditional") == codec::Coding::conditional);
  CHECK(codec::coding_from_name("auto") == codec::Coding::automatic);
  CHECK(std::string(codec::coding_name(codec::Coding::smaller)) == "factorised");
  CHECK_THROWS_AS(codec::coding_from_name("spherical"), Error);
}
