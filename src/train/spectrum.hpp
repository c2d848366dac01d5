// Spectra through torch::fft (cuFFT on CUDA tensors) for training: the training set's mean
// tile spectrum, learnable frequencies initialised from it, and a frequency-domain loss.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace cosae::train {

// Mean power spectrum [T, T] of image tiles: `images` [N, 3, H, W] in [0, 1] (H, W multiples
// of D = T * factor) are cut into D x D tiles, each tile's luma box-averaged down to T x T
// (the harmonic map's grid), its mean removed, then |FFT|^2 averaged over all tiles.
// Centred: element [T/2 + v, T/2 + u] holds frequency (u, v) in cycles per tile.
torch::Tensor mean_tile_spectrum(const torch::Tensor& images, int64_t tile, int64_t factor);

// `count` frequencies [count, 2] (u, v) in cycles per tile for the harmonic construction:
// k = 0 is DC; the others are drawn (seeded) from the half-plane v > 0 or (v = 0, u > 0) with
// probability proportional to the amplitude sqrt(power) of their DFT bin, jittered uniformly
// within the bin and kept inside |u|, |v| <= T/2.
torch::Tensor frequencies_from_spectrum(const torch::Tensor& power, int64_t count, uint64_t seed);

// Focal frequency loss (Jiang et al., ICCV 2021) per image [B]: the mean over RGB and the
// rfft2 bins (orthonormal) of w * |F(x^ - x)|^2, where w = |F(x^ - x)| / its per-channel
// maximum, not differentiated. It weighs the frequencies reconstructed worst; with w = 1 it
// would equal the MSE (Parseval).
torch::Tensor focal_frequency_loss(const torch::Tensor& reconstruction, const torch::Tensor& target);

}  // namespace cosae::train
