#include "synthesis/formulations.hpp"

#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis {

torch::Tensor basis_angles(const torch::Tensor& frequencies, int64_t tile) {
  const int64_t K = frequencies.size(0);
  const auto pos = torch::arange(tile, frequencies.options()) + 0.5;
  const auto u = frequencies.select(1, 0).view({K, 1, 1});
  const auto v = frequencies.select(1, 1).view({K, 1, 1});
  return (2.0 * kPi / static_cast<double>(tile)) * (u * pos.view({1, 1, tile}) + v * pos.view({1, tile, 1}));
}

torch::Tensor synthesis_naive(const torch::Tensor& amplitude, const torch::Tensor& phase,
                              const torch::Tensor& frequencies, int64_t tile) {
  const int64_t B = amplitude.size(0), K = amplitude.size(1), h = amplitude.size(2), w = amplitude.size(3);
  const auto theta = basis_angles(frequencies.to(amplitude.scalar_type()), tile).view({1, K, 1, tile, 1, tile});
  const auto A = amplitude.view({B, K, h, 1, w, 1});
  const auto P = phase.view({B, K, h, 1, w, 1});
  return (A * torch::cos(theta - P)).reshape({B, K, h * tile, w * tile});
}

namespace {
// (a, b) interleaved per frequency: [B, 2K, h, w] with channel 2k = a_k, 2k + 1 = b_k.
torch::Tensor linear_coefficients(const torch::Tensor& amplitude, const torch::Tensor& phase) {
  const int64_t B = amplitude.size(0), K = amplitude.size(1), h = amplitude.size(2), w = amplitude.size(3);
  return torch::stack({amplitude * torch::cos(phase), amplitude * torch::sin(phase)}, 2).view({B, 2 * K, h, w});
}
// [K, 2, T, T]: cos theta_k and sin theta_k.
torch::Tensor basis_images(const torch::Tensor& frequencies, int64_t tile) {
  const auto theta = basis_angles(frequencies, tile);
  return torch::stack({torch::cos(theta), torch::sin(theta)}, 1);
}
}  // namespace

torch::Tensor synthesis_transposed_conv(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                        const torch::Tensor& frequencies, int64_t tile) {
  const int64_t K = amplitude.size(1);
  const auto weight = basis_images(frequencies.to(amplitude.scalar_type()), tile).view({2 * K, 1, tile, tile});
  return torch::conv_transpose2d(linear_coefficients(amplitude, phase), weight, {}, tile, 0, 0, K);
}

torch::Tensor synthesis_fused_projection(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                         const torch::Tensor& frequencies, int64_t tile,
                                         const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t K = amplitude.size(1), C = weight.size(0);
  const auto basis = basis_images(frequencies.to(amplitude.scalar_type()), tile);  // [K, 2, T, T]
  // M[(k, s), c, y, x] = W[c, k] * basis[k, s, y, x]
  const auto fused = (weight.t().reshape({K, 1, C, 1, 1}) * basis.unsqueeze(2)).reshape({2 * K, C, tile, tile});
  return torch::conv_transpose2d(linear_coefficients(amplitude, phase), fused, bias, tile);
}

}  // namespace cosae::synthesis
