// The conditional entropy model: a hyperprior with channel-conditional slices (Ballé et al.
// 2018; Minnen & Singh 2020), its parameter path an integer network (entropy/integer_network.hpp)
// so that the decoder recomputes the encoder's CDF choices exactly on any device.
//
//   z     = hyper_analysis(y, or y and |y|)   float, encoder only; coded with a factorised prior
//   F     = hyper_synthesis(round(z - med))   integer: [features] per cell
//   slice g of the latent (frequencies order[gK/S .. (g+1)K/S): their a channels, then their b;
//   `order` sorts the frequencies from low to high when the model is made):
//     (index, mean16) = slice_net_g(F, round(y_hat) of slices 0..g-1)   integer
//     scale = kScaleTable[index], mean = mean16 / 16
//     symbol = round(y - mean), y_hat = symbol + mean    coded with the Gaussian table of `index`
//
// The trainer runs a float mirror of the integer layers (weights and activations rounded with
// straight-through gradients), so the network it trains is the one the codec runs.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "entropy/integer_network.hpp"
#include "model/config.hpp"
#include "model/entropy_bottleneck.hpp"

namespace cosae::model {

// The Gaussian scales a slice network can select: kScaleCount values from kScaleMin to
// kScaleMax, equally spaced in log (in units of the quantisation step).
constexpr int kScaleCount = 64;
constexpr double kScaleMin = 0.11;
constexpr double kScaleMax = 256.0;
double scale_of_index(int index);
// Means are predicted in 1/kMeanUnits of a step, within +-kMaxMean16.
constexpr int kMeanUnits = 16;
constexpr int32_t kMaxMean16 = 1 << 15;
// Symbols and decoded values enter the integer network clamped to +-kMaxContext.
constexpr int32_t kMaxContext = 127;

// A convolution trained as the integer layer it exports to: weights rounded to 8 bits with a
// power-of-two scale per output channel, bias on the same scale, outputs rounded to integers
// and clamped; straight-through gradients.
struct QuantizedConvImpl : torch::nn::Module {
  QuantizedConvImpl(int64_t inputs, int64_t outputs, int64_t kernel, int32_t low, int32_t high, double init_gain);
  torch::Tensor forward(const torch::Tensor& x);  // x holds integers (as float32)
  // Per output channel, the exponent of the weights' scale: floor(log2(127 / max |w|)), 0..24.
  torch::Tensor shifts() const;
  entropy::IntegerConv to_integer(const std::string& name) const;

  int64_t kernel;
  int32_t low, high;
  torch::Tensor weight, bias;
};
TORCH_MODULE(QuantizedConv);

struct ConditionalEntropyImpl : torch::nn::Module {
  // `parts`: kEncoderPart builds the hyper-analysis, kRatePart the float integer layers; the
  // others are always built.
  ConditionalEntropyImpl(int64_t frequencies, ConditionalConfig config, std::vector<int> hyper_filters,
                         Parts parts = kAllParts);
  // Builds the parts not built yet (freshly initialised).
  void build(Parts parts);

  struct Output {
    torch::Tensor y_hat;       // [B, 2K, h, w]: the dequantised latent (straight-through)
    torch::Tensor bits;        // [B]: latent and hyper-latent bits
    torch::Tensor side_bits;   // [B]: of which the hyper-latent's
  };
  // y: the scaled latent [B, 2K, h, w]. Training adds uniform noise for the rate; otherwise the
  // rate is the likelihood of the rounded symbols (what the codec spends, to within its tables).
  Output forward(const torch::Tensor& y);

  // The hyper-latent's integer symbols round(z - medians) for y, [B, Cz, ceil(h/s), ceil(w/s)].
  torch::Tensor hyper_symbols(const torch::Tensor& y);

  // The integer layers, in the order of integer_layer_names().
  std::vector<entropy::IntegerConv> integer_layers() const;
  std::vector<std::string> integer_layer_names() const { return integer_layer_names(config); }
  static std::vector<std::string> integer_layer_names(const ConditionalConfig& config);

  // The latent channels of slice g, in slice order: its a channels, then its b channels.
  std::vector<int64_t> slice_channels(int64_t g) const;
  std::vector<int64_t> slice_channels(int64_t g, const std::vector<int64_t>& frequency_order) const;
  // The frequencies in slice order: by |(u, v)|, low to high (ties by index). Set when the
  // model is made (or a conditional model is added to a trained one) and fixed after it.
  std::vector<int64_t> frequency_order() const;
  void order_frequencies(const torch::Tensor& frequencies);  // [K, 2]

  int64_t frequencies;
  ConditionalConfig config;
  Parts built = 0;
  torch::Tensor order;  // [K] frequency indices as float32 (a parameter without gradient, so it is saved)
  torch::nn::Sequential hyper_analysis{nullptr};
  EntropyBottleneck hyper_prior{nullptr};
  QuantizedConv hs0{nullptr}, hs1{nullptr}, hs2{nullptr};  // hs1 only with hyper_stride 2
  std::vector<QuantizedConv> slice_in, slice_mid, slice_scale, slice_mean;

 private:
  torch::Tensor analyse(const torch::Tensor& y);  // z before rounding
  torch::Tensor features(const torch::Tensor& z_symbols, int64_t h, int64_t w);
  // frequency_order() reads `order` back once per change of it (its version counter), not per step.
  mutable int64_t order_version_ = -1;
  mutable std::vector<int64_t> order_cache_;
};
TORCH_MODULE(ConditionalEntropy);

}  // namespace cosae::model
