// Factorised prior (Balle et al. 2018, appendix 6.1; CompressAI's EntropyBottleneck): per
// channel, a learned monotone CDF c(y) = sigmoid(f(y)), where f is a small network whose
// matrices go through softplus so that f is increasing. The likelihood of an integer symbol
// is c(y + 1/2) - c(y - 1/2).
#pragma once

#include <vector>

#include <torch/torch.h>

namespace cosae::model {

struct EntropyBottleneckImpl : torch::nn::Module {
  EntropyBottleneckImpl(int64_t channels, std::vector<int> filters, double init_scale = 10.0);

  // y: [B, C, h, w] -> likelihoods of the same shape (>= 1e-9). Training: y already carries
  // its quantisation noise; inference: y holds integers (relative to the medians).
  torch::Tensor likelihood(const torch::Tensor& y);

  // Per-channel median of the learned density: [C].
  torch::Tensor medians() const;

  // Auxiliary loss that moves the quantiles (tail bounds and median) to where the learned
  // CDF reaches 1e-9 / 2, 1/2 and 1 - 1e-9 / 2; they bound the integer CDF tables.
  torch::Tensor aux_loss();

  // Per channel, the probability of each symbol s = round(y - median) over [-minima, maxima]
  // (from the quantiles): the learned prior as tables for the entropy coder.
  struct PmfTables {
    torch::Tensor pmf;      // [C, L] float64, zero-padded beyond each channel's length
    torch::Tensor lengths;  // [C] int64
    torch::Tensor offsets;  // [C] int64: the symbol of the first entry (-minima)
    torch::Tensor tail;     // [C] float64: probability mass outside the range
  };
  PmfTables pmf_tables();

  int64_t channels;
  std::vector<int> filters;
  std::vector<torch::Tensor> matrices, biases, factors;
  torch::Tensor quantiles;  // [C, 1, 3]

 private:
  torch::Tensor logits_cumulative(const torch::Tensor& x);  // x [C, 1, N] -> [C, 1, N]
};
TORCH_MODULE(EntropyBottleneck);

}  // namespace cosae::model
