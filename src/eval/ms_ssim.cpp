#include "eval/ms_ssim.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cosae/error.hpp"
#include "io/tensor_image.hpp"

namespace cosae::eval {
namespace {

constexpr double kSigma = 1.5;
constexpr double kK1 = 0.01;
constexpr double kK2 = 0.03;
constexpr double kDataRange = 1.0;

// Normalised 1-D Gaussian, as a [C, 1, 1, 11] depthwise kernel for the rows; its transpose
// filters the columns. The 2-D window is separable, so two 1-D passes equal one 11x11 pass.
torch::Tensor gaussian_row_kernel(int64_t channels) {
  auto taps = torch::empty({kSsimWindow}, torch::kDouble);
  auto* t = taps.data_ptr<double>();
  const int half = kSsimWindow / 2;
  double sum = 0;
  for (int i = 0; i < kSsimWindow; ++i) {
    t[i] = std::exp(-double((i - half) * (i - half)) / (2 * kSigma * kSigma));
    sum += t[i];
  }
  taps /= sum;
  return taps.view({1, 1, 1, kSsimWindow}).repeat({channels, 1, 1, 1});
}

// Valid (unpadded) Gaussian filtering of every channel on its own.
torch::Tensor gaussian_filter(const torch::Tensor& input, const torch::Tensor& row_kernel) {
  const int64_t channels = input.size(1);
  const std::vector<int64_t> unit = {1, 1}, none = {0, 0};
  auto out = torch::conv2d(input, row_kernel, {}, unit, none, unit, channels);
  return torch::conv2d(out, row_kernel.transpose(2, 3), {}, unit, none, unit, channels);
}

struct ScaleStats {
  torch::Tensor ssim;  // [N, C]: mean of the SSIM map per channel
  torch::Tensor cs;    // [N, C]: mean of the contrast-structure map per channel
};

ScaleStats ssim_stats(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& kernel) {
  const double c1 = (kK1 * kDataRange) * (kK1 * kDataRange);
  const double c2 = (kK2 * kDataRange) * (kK2 * kDataRange);
  const auto mu_x = gaussian_filter(x, kernel);
  const auto mu_y = gaussian_filter(y, kernel);
  const auto mu_xx = mu_x * mu_x;
  const auto mu_yy = mu_y * mu_y;
  const auto mu_xy = mu_x * mu_y;
  const auto var_x = gaussian_filter(x * x, kernel) - mu_xx;
  const auto var_y = gaussian_filter(y * y, kernel) - mu_yy;
  const auto cov_xy = gaussian_filter(x * y, kernel) - mu_xy;
  const auto cs_map = (2 * cov_xy + c2) / (var_x + var_y + c2);
  const auto ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map;
  return {ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)};
}

// Both tensors as [N, 3, H, W] double on the CPU, after checking shapes.
std::pair<torch::Tensor, torch::Tensor> prepare(const torch::Tensor& x, const torch::Tensor& y, const char* what) {
  COSAE_CHECK(x.defined() && y.defined(), usage, what, ": undefined tensor");
  COSAE_CHECK(x.dim() == 4 && x.size(1) == 3, usage, what, ": expected a [N, 3, H, W] tensor, got ", x.sizes());
  COSAE_CHECK(x.sizes() == y.sizes(), usage, what, ": tensors differ in shape (", x.sizes(), " and ", y.sizes(), ")");
  COSAE_CHECK(x.is_floating_point() && y.is_floating_point(), usage, what, ": expected floating-point tensors");
  const int64_t shorter = std::min(x.size(2), x.size(3));
  COSAE_CHECK(shorter >= kSsimWindow, usage, what, ": image of ", x.size(3), "x", x.size(2),
              " is smaller than the ", kSsimWindow, "x", kSsimWindow, " window");
  return {x.detach().to(torch::kCPU, torch::kDouble).contiguous(), y.detach().to(torch::kCPU, torch::kDouble).contiguous()};
}

// 2x2 average pooling; an odd side gets one zero of padding on each side, counted in the
// average, exactly as pytorch-msssim's avg_pool2d(kernel 2, padding = side % 2).
torch::Tensor downsample(const torch::Tensor& input) {
  const int64_t pad_h = input.size(2) % 2;
  const int64_t pad_w = input.size(3) % 2;
  return torch::avg_pool2d(input, {2, 2}, {2, 2}, {pad_h, pad_w});
}

void check_same_size(const Image& a, const Image& b, const char* what) {
  COSAE_CHECK(a.width == b.width && a.height == b.height, usage, what, ": images differ in size (", a.width, "x",
              a.height, " and ", b.width, "x", b.height, ")");
}

}  // namespace

int ms_ssim_scale_count(int shorter_side) {
  int scales = 0;
  int side = shorter_side;
  while (scales < static_cast<int>(kMsSsimWeights.size()) && side >= kSsimWindow) {
    ++scales;
    side = (side + 1) / 2;  // the pooled size of an odd side rounds up (see downsample)
  }
  return scales;
}

double ssim(const torch::Tensor& x, const torch::Tensor& y) {
  const auto [xd, yd] = prepare(x, y, "SSIM");
  const auto kernel = gaussian_row_kernel(xd.size(1));
  return ssim_stats(xd, yd, kernel).ssim.mean().item<double>();
}

double ms_ssim(const torch::Tensor& x, const torch::Tensor& y) {
  auto [xd, yd] = prepare(x, y, "MS-SSIM");
  const int scales = ms_ssim_scale_count(static_cast<int>(std::min(xd.size(2), xd.size(3))));
  // The published weights sum to 1.0001; they are used as they are at five scales (as
  // pytorch-msssim does) and renormalised to sum to 1 when fewer scales fit.
  double weight_sum = 1;
  if (scales < static_cast<int>(kMsSsimWeights.size())) {
    weight_sum = 0;
    for (int i = 0; i < scales; ++i) weight_sum += kMsSsimWeights[i];
  }

  const auto kernel = gaussian_row_kernel(xd.size(1));
  // Product over scales of max(cs, 0)^w (max(ssim, 0)^w at the coarsest), per image and channel.
  auto product = torch::ones({xd.size(0), xd.size(1)}, torch::kDouble);
  for (int i = 0; i < scales; ++i) {
    const auto stats = ssim_stats(xd, yd, kernel);
    const bool coarsest = i == scales - 1;
    const auto term = torch::relu(coarsest ? stats.ssim : stats.cs);
    product = product * term.pow(kMsSsimWeights[i] / weight_sum);
    if (!coarsest) {
      xd = downsample(xd);
      yd = downsample(yd);
    }
  }
  return product.mean().item<double>();
}

double ssim(const Image& a, const Image& b) {
  check_same_size(a, b, "SSIM");
  return ssim(image_to_tensor(a, AlphaPolicy::discard), image_to_tensor(b, AlphaPolicy::discard));
}

double ms_ssim(const Image& a, const Image& b) {
  check_same_size(a, b, "MS-SSIM");
  return ms_ssim(image_to_tensor(a, AlphaPolicy::discard), image_to_tensor(b, AlphaPolicy::discard));
}

}  // namespace cosae::eval
