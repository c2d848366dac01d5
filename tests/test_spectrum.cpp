// The training spectra (torch::fft): the mean tile spectrum finds a pattern's frequency,
// frequencies drawn from a spectrum follow it, and the focal frequency loss behaves as defined.
#include <cmath>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "train/spectrum.hpp"

namespace {

// [N, 3, H, W] grey images of 0.5 + 0.25 cos(2 pi (u x + v y) / period), any phase per image.
torch::Tensor cosine_images(int64_t n, int64_t h, int64_t w, double u, double v, double period) {
  auto y = torch::arange(h, torch::kDouble).view({h, 1});
  auto x = torch::arange(w, torch::kDouble).view({1, w});
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < n; ++i) {
    const double phase = 0.7 * static_cast<double>(i);
    auto g = 0.5 + 0.25 * torch::cos(2 * M_PI * (u * x + v * y) / period + phase);
    images.push_back(g.unsqueeze(0).expand({3, h, w}));
  }
  return torch::stack(images).to(torch::kFloat);
}

}  // namespace

TEST_CASE("the mean tile spectrum peaks at a pattern's frequency", "[spectrum]") {
  // Tiles of D = 32 pixels, factor 4: an 8x8 grid; the pattern has 3 cycles across u and 1
  // down v per tile.
  const int64_t T = 8, factor = 4;
  const auto images = cosine_images(2, 64, 96, 3, 1, T * factor);
  const auto power = cosae::train::mean_tile_spectrum(images, T, factor);
  REQUIRE(power.sizes() == torch::IntArrayRef({T, T}));
  const auto flat = power.flatten();
  const int64_t peak = flat.argmax().item<int64_t>();
  const int64_t row = peak / T - T / 2, col = peak % T - T / 2;  // (v, u) or its mirror
  CHECK(((row == 1 && col == 3) || (row == -1 && col == -3)));
  CHECK(power[T / 2][T / 2].item<double>() < 1e-10);  // each tile's mean is removed
  // The two mirror bins hold nearly all the power.
  const double both = power[T / 2 + 1][T / 2 + 3].item<double>() + power[T / 2 - 1][T / 2 - 3].item<double>();
  CHECK(both > 0.99 * flat.sum().item<double>());
  CHECK_THROWS_AS(cosae::train::mean_tile_spectrum(images, T, 5), cosae::Error);  // 64 is not a multiple of 40
}

TEST_CASE("frequencies drawn from a spectrum follow it, seeded", "[spectrum]") {
  const int64_t T = 16, K = 64;
  auto power = torch::zeros({T, T}, torch::kDouble);
  power[T / 2 + 2][T / 2 - 5] = 1.0;  // (u, v) = (-5, 2) only
  const auto f = cosae::train::frequencies_from_spectrum(power, K, 7);
  REQUIRE(f.sizes() == torch::IntArrayRef({K, 2}));
  CHECK(f[0].abs().max().item<double>() == 0.0);
  const auto rest = f.narrow(0, 1, K - 1);
  CHECK((rest.select(1, 0) + 5).abs().max().item<double>() <= 0.5);
  CHECK((rest.select(1, 1) - 2).abs().max().item<double>() <= 0.5);
  CHECK(torch::equal(f, cosae::train::frequencies_from_spectrum(power, K, 7)));
  CHECK_FALSE(torch::equal(f, cosae::train::frequencies_from_spectrum(power, K, 8)));

  // A 1/f^2 spectrum: all in the half-plane and in range, nearer DC than a flat spectrum's.
  auto v = torch::arange(T, torch::kDouble).view({T, 1}) - T / 2;
  auto u = torch::arange(T, torch::kDouble).view({1, T}) - T / 2;
  const auto natural = 1.0 / (u * u + v * v + 1.0);
  const auto g = cosae::train::frequencies_from_spectrum(natural, 512, 1);
  CHECK(g.abs().max().item<double>() <= T / 2);
  CHECK(g.select(1, 1).min().item<double>() >= 0.0);
  const double mean_radius = g.norm(2, 1).mean().item<double>();
  const double flat_radius = cosae::train::frequencies_from_spectrum(torch::ones({T, T}), 512, 1).norm(2, 1).mean().item<double>();
  INFO("mean radius " << mean_radius << " (flat spectrum: " << flat_radius << ")");
  CHECK(mean_radius < 0.9 * flat_radius);
  CHECK_THROWS_AS(cosae::train::frequencies_from_spectrum(torch::zeros({T, T}), K, 1), cosae::Error);
}

TEST_CASE("the focal frequency loss: zero when equal, the MSE for one frequency", "[spectrum]") {
  const int64_t H = 32, W = 32;
  const auto target = torch::rand({2, 3, H, W});
  CHECK(cosae::train::focal_frequency_loss(target, target).abs().max().item<double>() == 0.0);
  // An error that is one cosine: its bin has weight 1, every other bin about 0, so the loss
  // is that bin's power over the H x (W/2 + 1) bins: the MSE times W / (W + 2).
  const auto error = cosine_images(2, H, W, 3, 5, 32) - 0.5;
  const auto ffl = cosae::train::focal_frequency_loss(target + error, target);
  const auto mse = error.pow(2).flatten(1).mean(1);
  CHECK(torch::allclose(ffl, mse * (double(W) / (W + 2)), 1e-4, 1e-7));
  // Differentiable in the reconstruction.
  auto rec = (target + 0.1 * torch::randn_like(target)).requires_grad_(true);
  cosae::train::focal_frequency_loss(rec, target).sum().backward();
  CHECK(rec.grad().abs().sum().item<double>() > 0);
}
