#include "train/spectrum.hpp"

#include <cmath>

#include "cosae/error.hpp"

namespace cosae::train {

torch::Tensor mean_tile_spectrum(const torch::Tensor& images, int64_t tile, int64_t factor) {
  COSAE_CHECK(images.dim() == 4 && images.size(1) == 3, usage, "mean_tile_spectrum: images must be [N, 3, H, W]");
  COSAE_CHECK(tile >= 2 && factor >= 1, usage, "mean_tile_spectrum: bad tile ", tile, " or factor ", factor);
  const int64_t side = tile * factor;
  COSAE_CHECK(images.size(2) % side == 0 && images.size(3) % side == 0, usage, "mean_tile_spectrum: ",
              images.size(2), "x", images.size(3), " is not a multiple of ", side);
  torch::NoGradGuard no_grad;
  const auto x = images.to(torch::kFloat);
  // BT.601 luma, then the harmonic map's grid (one pixel per factor x factor block).
  auto luma = (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
  if (factor > 1) luma = torch::avg_pool2d(luma, factor);
  // [N, 1, hT, wT] -> tiles [N * h * w, T, T]
  const int64_t n = luma.size(0), h = luma.size(2) / tile, w = luma.size(3) / tile;
  auto tiles = luma.reshape({n, h, tile, w, tile}).permute({0, 1, 3, 2, 4}).reshape({n * h * w, tile, tile});
  tiles = tiles - tiles.mean({1, 2}, /*keepdim=*/true);
  const auto spectrum = torch::fft::fft2(tiles, c10::nullopt, {-2, -1}, "ortho");
  const auto power = spectrum.abs().pow(2).mean(0);
  return torch::fft::fftshift(power, {0, 1}).to(torch::kCPU);
}

torch::Tensor frequencies_from_spectrum(const torch::Tensor& power, int64_t count, uint64_t seed) {
  COSAE_CHECK(power.dim() == 2 && power.size(0) == power.size(1) && power.size(0) % 2 == 0, usage,
              "frequencies_from_spectrum: power must be [T, T] with T even");
  COSAE_CHECK(count >= 1, usage, "frequencies_from_spectrum: count must be positive");
  const int64_t T = power.size(0), half = T / 2;
  const auto p = power.to(torch::kCPU, torch::kDouble).contiguous();
  // The half-plane's bins (DC and its mirror images excluded) and their weights.
  std::vector<double> weights;
  std::vector<std::pair<int64_t, int64_t>> bins;  // (u, v)
  for (int64_t v = 0; v < half; ++v)
    for (int64_t u = -half; u < half; ++u) {
      if (v == 0 && u <= 0) continue;
      weights.push_back(std::sqrt(std::max(0.0, p[half + v][half + u].item<double>())));
      bins.emplace_back(u, v);
    }
  auto w = torch::tensor(weights, torch::kDouble);
  COSAE_CHECK(w.sum().item<double>() > 0 && torch::isfinite(w).all().item<bool>(), bad_input,
              "frequencies_from_spectrum: the spectrum is flat zero or not finite (are the images constant?)");
  auto gen = at::detail::createCPUGenerator(seed);
  auto f = torch::zeros({count, 2}, torch::kFloat);
  if (count == 1) return f;
  const auto drawn = torch::multinomial(w, count - 1, /*replacement=*/true, gen);
  const auto jitter = torch::rand({count - 1, 2}, gen, torch::kDouble) - 0.5;
  for (int64_t k = 1; k < count; ++k) {
    const auto& [u, v] = bins[static_cast<std::size_t>(drawn[k - 1].item<int64_t>())];
    const double ju = static_cast<double>(u) + jitter[k - 1][0].item<double>();
    const double jv = static_cast<double>(v) + jitter[k - 1][1].item<double>();
    f[k][0] = std::clamp(ju, -static_cast<double>(half), static_cast<double>(half));
    f[k][1] = std::clamp(jv, 0.0, static_cast<double>(half));
  }
  return f;
}

torch::Tensor focal_frequency_loss(const torch::Tensor& reconstruction, const torch::Tensor& target) {
  COSAE_CHECK(reconstruction.sizes() == target.sizes() && reconstruction.dim() == 4, usage,
              "focal_frequency_loss: two [B, C, H, W] tensors of one shape");
  const auto error = (reconstruction - target).to(torch::kFloat);
  const auto spectrum = torch::fft::rfft2(error, c10::nullopt, {-2, -1}, "ortho");
  const auto magnitude = spectrum.abs();
  const auto weight = (magnitude / magnitude.amax({-2, -1}, /*keepdim=*/true).clamp_min(1e-12)).detach();
  // The half spectrum holds about half the error's energy in about half the bins, so with
  // w = 1 this mean is about the MSE (Parseval): w only redistributes the weight.
  return (weight * magnitude.pow(2)).flatten(1).mean(1);
}

}  // namespace cosae::train
