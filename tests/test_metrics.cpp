// Tests for the evaluation metrics: PSNR, SSIM, MS-SSIM and Bjøntegaard deltas.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "eval/bd_rate.hpp"
#include "eval/metrics.hpp"
#include "eval/ms_ssim.hpp"
#include "image_test_util.hpp"

using cosae::Image;
using cosae::eval::BdMethod;
using cosae::eval::RdPoint;
using cosae_test::expect_error;

namespace {

// Catch's Approx also allows a relative error of ~1e-5 by default: tolerances here are absolute.
Approx near(double expected, double tolerance) { return Approx(expected).epsilon(0).margin(tolerance); }

Image constant_image(int width, int height, uint16_t value, int bit_depth = 8) {
  Image image{width, height, 3, bit_depth, {}};
  image.samples.assign(image.sample_count(), value);
  return image;
}

Image astronaut() { return cosae::read_png(COSAE_TEST_SAMPLES_DIR "/astronaut.png"); }

// astronaut + ((3x + 5y + 7c) mod 31) - 15, clamped to [0, 255]: a fixed structured "noise".
Image with_pattern(const Image& source) {
  Image out = source;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) {
        auto& sample = out.samples[(static_cast<std::size_t>(y) * out.width + x) * 3 + c];
        sample = static_cast<uint16_t>(std::clamp(sample + (3 * x + 5 * y + 7 * c) % 31 - 15, 0, 255));
      }
  return out;
}

// 3x3 box blur with edge replication, rounded: (sum + 4) / 9.
Image box_blurred(const Image& source) {
  Image out = source;
  const auto at = [&](int x, int y, int c) {
    x = std::clamp(x, 0, source.width - 1);
    y = std::clamp(y, 0, source.height - 1);
    return int(source.samples[(static_cast<std::size_t>(y) * source.width + x) * 3 + c]);
  };
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) sum += at(x + dx, y + dy, c);
        out.samples[(static_cast<std::size_t>(y) * out.width + x) * 3 + c] = static_cast<uint16_t>((sum + 4) / 9);
      }
  return out;
}

Image cropped(const Image& source, int x0, int y0, int width, int height) {
  Image out{width, height, source.channels, source.bit_depth, {}};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < source.channels; ++c)
        out.samples.push_back(source.samples[(static_cast<std::size_t>(y0 + y) * source.width + x0 + x) * source.channels + c]);
  return out;
}

// Zero-mean uniform noise of +-amplitude levels, the same draws for every amplitude.
Image with_noise(const Image& source, int amplitude, uint32_t seed) {
  Image out = source;
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (auto& sample : out.samples)
    sample = static_cast<uint16_t>(std::clamp(int(std::lround(sample + amplitude * unit(generator))), 0, 255));
  return out;
}

}  // namespace

TEST_CASE("PSNR of hand-computed cases", "[metrics]") {
  // psnr() works in double on the integer samples: the exact values to ~1e-12 dB.
  const Image base = constant_image(16, 8, 100);
  // One 8-bit level everywhere: MSE = (1/255)^2, PSNR = 20 log10(255).
  CHECK(cosae::eval::psnr(base, constant_image(16, 8, 101)) == near(48.1308036087, 1e-9));
  CHECK(cosae::eval::psnr(base, constant_image(16, 8, 101)) == near(20 * std::log10(255.0), 1e-9));
  // Two levels on half the samples: MSE = 2 / 255^2, PSNR = 10 log10(255^2 / 2).
  Image half = base;
  for (std::size_t i = 0; i < half.samples.size(); i += 2) half.samples[i] += 2;
  CHECK(cosae::eval::psnr(base, half) == near(10 * std::log10(255.0 * 255.0 / 2), 1e-9));
  // 16 bits: one level of 65535.
  CHECK(cosae::eval::psnr(constant_image(4, 4, 1000, 16), constant_image(4, 4, 1001, 16)) ==
        near(20 * std::log10(65535.0), 1e-9));
  CHECK(std::isinf(cosae::eval::psnr(base, base)));
  CHECK(expect_error([&] { cosae::eval::psnr(base, constant_image(8, 8, 100)); }).kind() == cosae::ErrorKind::usage);
}

TEST_CASE("SSIM and MS-SSIM of identical images are exactly 1", "[metrics]") {
  const Image image = cosae_test::random_image(200, 180, 3, 8, 7);
  CHECK(cosae::eval::ssim(image, image) == 1.0);
  CHECK(cosae::eval::ms_ssim(image, image) == 1.0);
  const Image small = cosae_test::random_image(40, 23, 3, 8, 8);  // fewer scales, odd sides
  CHECK(cosae::eval::ms_ssim(small, small) == 1.0);
}

TEST_CASE("SSIM and MS-SSIM of constant images follow the luminance term", "[metrics]") {
  // Flat images have no variance: contrast-structure is 1 and SSIM is the luminance term
  // (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) at every scale.
  // Means as image_to_tensor stores them: v / 255 rounded to float.
  const double mu_a = 128.0f / 255.0f, mu_b = 64.0f / 255.0f, c1 = 0.01 * 0.01;
  const double luminance = (2 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1);
  const Image a = constant_image(64, 64, 128), b = constant_image(64, 64, 64);
  CHECK(cosae::eval::ssim(a, b) == near(luminance, 1e-12));
  // 64 px fits three scales (64, 32, 16; 8 is under the window): the weights of those three
  // are renormalised, so the coarsest scale's luminance gets weight w3 / (w1 + w2 + w3).
  REQUIRE(cosae::eval::ms_ssim_scale_count(64) == 3);
  const double w3 = 0.3001 / (0.0448 + 0.2856 + 0.3001);
  CHECK(cosae::eval::ms_ssim(a, b) == near(std::pow(luminance, w3), 1e-12));
  // 192 px fits all five scales (192 ... 12): the published fifth weight, unchanged.
  const Image big_a = constant_image(192, 192, 128), big_b = constant_image(192, 192, 64);
  CHECK(cosae::eval::ms_ssim(big_a, big_b) == near(std::pow(luminance, 0.1333), 1e-12));
}

TEST_CASE("MS-SSIM scale count for small images", "[metrics]") {
  using cosae::eval::ms_ssim_scale_count;
  CHECK(ms_ssim_scale_count(10) == 0);
  CHECK(ms_ssim_scale_count(11) == 1);
  CHECK(ms_ssim_scale_count(20) == 1);  // 20 -> 10
  CHECK(ms_ssim_scale_count(21) == 2);  // 21 -> 11 (odd sides round up)
  CHECK(ms_ssim_scale_count(160) == 4);
  CHECK(ms_ssim_scale_count(161) == 5);  // pytorch-msssim's minimum
  CHECK(ms_ssim_scale_count(4096) == 5);

  // One scale: MS-SSIM is SSIM (clamped at 0).
  const Image a = cosae_test::random_image(18, 15, 3, 8, 1);
  const Image b = box_blurred(a);
  const double single = cosae::eval::ssim(a, b);
  REQUIRE(single > 0);
  CHECK(cosae::eval::ms_ssim(a, b) == near(single, 1e-12));

  // No 11x11 window fits: a usage error, not a silent number.
  const Image tiny = cosae_test::random_image(10, 40, 3, 8, 2);
  CHECK(expect_error([&] { cosae::eval::ms_ssim(tiny, tiny); }).kind() == cosae::ErrorKind::usage);
  CHECK(expect_error([&] { cosae::eval::ssim(tiny, tiny); }).kind() == cosae::ErrorKind::usage);
  CHECK(expect_error([&] { cosae::eval::ms_ssim(a, tiny); }).kind() == cosae::ErrorKind::usage);
}

// Expected values from an independent float64 numpy implementation written for this test
// (separable valid Gaussian filter with 11 normalised taps, sigma 1.5; per-channel SSIM and cs
// map means; five scales of 2x2 mean pooling; prod(max(cs_i, 0)^w_i) * max(ssim_5, 0)^w_5,
// averaged over R, G, B; the weights renormalised only when fewer than five scales fit),
// fed the same modified astronaut.png samples converted to [0, 1] as
// float32 v / 255f like image_to_tensor. Its SSIM also matches skimage 0.19's
// structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=1, channel_axis=0) to 1e-14. The PSNRs come from numpy in float64 on the integer
// samples (mean of ((u - v) / 255)^2), as eval::psnr computes them.
TEST_CASE("SSIM and MS-SSIM match a reference implementation on astronaut.png", "[metrics]") {
  const Image original = astronaut();
  REQUIRE(original.width == 512);
  REQUIRE(original.height == 512);
  REQUIRE(original.channels == 3);

  const Image pattern = with_pattern(original);
  CHECK(cosae::eval::psnr(original, pattern) == near(29.511746945376945, 1e-9));
  CHECK(cosae::eval::ssim(original, pattern) == near(0.663925308169481, 1e-9));
  CHECK(cosae::eval::ms_ssim(original, pattern) == near(0.940431280983190, 1e-9));

  const Image blurred = box_blurred(original);
  CHECK(cosae::eval::psnr(original, blurred) == near(29.907010601237815, 1e-9));
  CHECK(cosae::eval::ssim(original, blurred) == near(0.926779312075404, 1e-9));
  CHECK(cosae::eval::ms_ssim(original, blurred) == near(0.991346944233508, 1e-9));

  // Symmetric in its arguments.
  CHECK(cosae::eval::ms_ssim(blurred, original) == near(0.991346944233508, 1e-9));

  // 300x245: odd sides at several scales, pooled with pytorch-msssim's zero padding (the
  // reference pads each odd side with one zero row/column on both sides, averaging by 4).
  const Image odd_a = cropped(original, 50, 100, 300, 245), odd_b = cropped(pattern, 50, 100, 300, 245);
  CHECK(cosae::eval::ssim(odd_a, odd_b) == near(0.693782282260997, 1e-9));
  CHECK(cosae::eval::ms_ssim(odd_a, odd_b) == near(0.938211794920928, 1e-9));

  // 100x70: three scales (70, 35, 18) with their weights renormalised to sum to 1.
  const Image small_a = cropped(original, 150, 200, 100, 70), small_b = cropped(blurred, 150, 200, 100, 70);
  CHECK(cosae::eval::ssim(small_a, small_b) == near(0.919812827493034, 1e-9));
  CHECK(cosae::eval::ms_ssim(small_a, small_b) == near(0.984993827275721, 1e-9));
}

TEST_CASE("MS-SSIM falls as noise grows", "[metrics]") {
  const Image original = astronaut();
  double previous = 1.0;
  for (int amplitude : {2, 8, 24, 64}) {
    const double score = cosae::eval::ms_ssim(original, with_noise(original, amplitude, 42));
    CHECK(score < previous);
    CHECK(score > 0);
    previous = score;
  }
}

TEST_CASE("MS-SSIM tensor version checks shapes", "[metrics]") {
  const auto x = torch::rand({1, 3, 32, 32}, torch::kFloat);
  CHECK(cosae::eval::ms_ssim(x, x) == 1.0);
  CHECK(cosae::eval::ms_ssim(x, (x * 0.9).to(torch::kDouble)) < 1.0);
  CHECK(expect_error([&] { cosae::eval::ms_ssim(x, torch::rand({1, 3, 32, 31})); }).kind() ==
        cosae::ErrorKind::usage);
  CHECK(expect_error([&] { cosae::eval::ms_ssim(torch::rand({1, 1, 32, 32}), torch::rand({1, 1, 32, 32})); })
            .kind() == cosae::ErrorKind::usage);
}

namespace {

const std::vector<RdPoint> kAnchor = {{0.1, 30.0}, {0.2, 32.5}, {0.4, 35.0}, {0.8, 37.2}, {1.6, 39.0}};

std::vector<RdPoint> scaled_rates(std::vector<RdPoint> curve, double factor) {
  for (auto& point : curve) point.bpp *= factor;
  return curve;
}

std::vector<RdPoint> shifted_psnr(std::vector<RdPoint> curve, double shift) {
  for (auto& point : curve) point.psnr += shift;
  return curve;
}

}  // namespace

TEST_CASE("BD-rate and BD-PSNR of textbook cases", "[metrics]") {
  for (const BdMethod method : {BdMethod::cubic, BdMethod::pchip}) {
    INFO("method " << (method == BdMethod::cubic ? "cubic" : "pchip"));
    const auto cheaper = scaled_rates(kAnchor, 0.8);
    CHECK(cosae::eval::bd_rate(kAnchor, cheaper, method) == near(-20.0, 1e-9));
    CHECK(cosae::eval::bd_rate(cheaper, kAnchor, method) == near(25.0, 1e-9));  // 1 / 0.8 - 1
    CHECK(cosae::eval::bd_rate(kAnchor, kAnchor, method) == near(0.0, 1e-12));

    const auto better = shifted_psnr(kAnchor, 0.7);
    CHECK(cosae::eval::bd_psnr(kAnchor, better, method) == near(0.7, 1e-9));
    CHECK(cosae::eval::bd_psnr(better, kAnchor, method) == near(-0.7, 1e-9));

    // Point order does not matter.
    auto shuffled = cheaper;
    std::reverse(shuffled.begin(), shuffled.end());
    std::swap(shuffled[1], shuffled[3]);
    CHECK(cosae::eval::bd_rate(kAnchor, shuffled, method) == near(-20.0, 1e-9));
  }
  // The default is pchip.
  const std::vector<RdPoint> other = {{0.12, 29.8}, {0.25, 32.9}, {0.45, 35.1}, {0.9, 37.9}, {1.5, 39.3}};
  CHECK(cosae::eval::bd_rate(kAnchor, other) == cosae::eval::bd_rate(kAnchor, other, BdMethod::pchip));
}

// Expected values from numpy 1.24 / scipy (np.polyfit + np.polyint for cubic,
// scipy.interpolate.PchipInterpolator(...).integrate for pchip; natural-log rates, integrated
// over the overlap and averaged).
TEST_CASE("BD-rate and BD-PSNR match scipy on a general pair of curves", "[metrics]") {
  const std::vector<RdPoint> test = {{0.12, 29.8}, {0.25, 32.9}, {0.45, 35.1}, {0.9, 37.9}, {1.5, 39.3}};
  CHECK(cosae::eval::bd_rate(kAnchor, test, BdMethod::cubic) == near(6.169784001874823, 1e-9));
  CHECK(cosae::eval::bd_psnr(kAnchor, test, BdMethod::cubic) == near(-0.1859598982951941, 1e-9));
  CHECK(cosae::eval::bd_rate(kAnchor, test, BdMethod::pchip) == near(5.428082301284132, 1e-9));
  CHECK(cosae::eval::bd_psnr(kAnchor, test, BdMethod::pchip) == near(-0.16201134297923642, 1e-9));
}

TEST_CASE("BD-rate rejects bad curves", "[metrics]") {
  const auto usage_error = [](const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test,
                              BdMethod method = BdMethod::pchip) {
    return expect_error([&] { cosae::eval::bd_rate(anchor, test, method); }).kind() == cosae::ErrorKind::usage;
  };
  const std::vector<RdPoint> three(kAnchor.begin(), kAnchor.begin() + 3);
  CHECK(usage_error(kAnchor, three));
  CHECK(usage_error(three, kAnchor, BdMethod::cubic));

  auto zero_rate = kAnchor;
  zero_rate[0].bpp = 0;
  CHECK(usage_error(kAnchor, zero_rate));
  auto negative_rate = kAnchor;
  negative_rate[2].bpp = -0.4;
  CHECK(usage_error(kAnchor, negative_rate, BdMethod::cubic));
  auto not_finite = kAnchor;
  not_finite[1].psnr = std::nan("");
  CHECK(usage_error(kAnchor, not_finite));

  auto duplicate_rate = kAnchor;
  duplicate_rate.push_back({0.4, 35.5});
  CHECK(usage_error(kAnchor, duplicate_rate));
  CHECK(usage_error(kAnchor, duplicate_rate, BdMethod::cubic));
  auto duplicate_psnr = kAnchor;
  duplicate_psnr.push_back({3.2, 39.0});
  CHECK(usage_error(kAnchor, duplicate_psnr));
  CHECK(usage_error(kAnchor, duplicate_psnr, BdMethod::cubic));

  // PSNR falling with rate: pchip needs a monotone curve; the cubic fit takes it.
  auto non_monotone = kAnchor;
  non_monotone[3].psnr = 34.0;
  CHECK(usage_error(kAnchor, non_monotone));
  CHECK(std::isfinite(cosae::eval::bd_rate(kAnchor, non_monotone, BdMethod::cubic)));

  // Disjoint quality ranges (BD-rate) and rate ranges (BD-PSNR).
  const auto far_better = shifted_psnr(kAnchor, 20);
  CHECK(usage_error(kAnchor, far_better));
  CHECK(usage_error(kAnchor, far_better, BdMethod::cubic));
  const auto far_cheaper = scaled_rates(kAnchor, 1e-3);
  CHECK(expect_error([&] { cosae::eval::bd_psnr(kAnchor, far_cheaper); }).kind() == cosae::ErrorKind::usage);
}
