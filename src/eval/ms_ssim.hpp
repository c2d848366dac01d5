// SSIM and MS-SSIM (Wang, Simoncelli & Bovik 2003) for RGB images.
//
// Conventions, chosen to match what CompressAI / pytorch-msssim report as "MS-SSIM (RGB)":
// - 11x11 Gaussian window, sigma 1.5, valid convolution (no padding); K1 = 0.01, K2 = 0.03;
//   data range 1 (images are compared as [0, 1] tensors, whatever their bit depth).
// - Each of R, G and B is scored on its own; the result is the mean over the three channels.
// - MS-SSIM uses the five weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) and 2x2 average
//   pooling between scales. An odd side is pooled as pytorch-msssim pools it (one zero row or
//   column of padding on each side, counted in the average), so that cosae's numbers can be
//   compared with published CompressAI results on any image size.
// - Negative contrast-structure values (and a negative SSIM at the coarsest scale) are clamped
//   to 0 before the weighted product, as pytorch-msssim does: a fractional power of a negative
//   number is undefined.
// - Small images: five scales need the shorter side to be at least 161 px (11 px at the fifth
//   scale; odd sides round up when pooled); pytorch-msssim refuses anything smaller. cosae
//   instead uses as many scales as fit (every scale at least 11x11) and renormalises the
//   weights of those scales to sum to 1, so one scale gives SSIM with the clamp. (At five
//   scales the published weights, which sum to 1.0001, are used unchanged.) Under 11 px
//   no window fits: usage error.
// - Grey images are replicated to RGB and alpha is ignored, as for psnr().
//
// Identical images give exactly 1. Throws cosae::Error (usage) for images or tensors of
// different sizes, a tensor not shaped [N, 3, H, W], or an image smaller than 11x11.
#pragma once

#include <torch/torch.h>

#include <array>

#include "cosae/image.hpp"

namespace cosae::eval {

inline constexpr std::array<double, 5> kMsSsimWeights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
inline constexpr int kSsimWindow = 11;

// Single-scale SSIM: the mean of the SSIM map per channel, averaged over the channels (not
// clamped; it can be negative for anti-correlated images).
double ssim(const Image& a, const Image& b);
double ssim(const torch::Tensor& x, const torch::Tensor& y);

// MS-SSIM in [0, 1].
double ms_ssim(const Image& a, const Image& b);
// x and y: [N, 3, H, W] (normally N = 1) in [0, 1], any floating dtype and device; computed in
// double on the CPU. With N > 1 the result is the mean over the batch.
double ms_ssim(const torch::Tensor& x, const torch::Tensor& y);

// How many scales ms_ssim uses for an image whose shorter side is `shorter_side` pixels
// (0 when not even one 11x11 window fits).
int ms_ssim_scale_count(int shorter_side);

}  // namespace cosae::eval
