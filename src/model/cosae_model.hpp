// The CosAE network: convolutional encoder -> (a, b) coefficient maps -> harmonic
// construction with learnable frequencies -> attention-augmented decoder. Variable rate by
// per-quality gain vectors on the latent; a factorised prior gives the rate.
#pragma once

#include <torch/torch.h>

#include "model/conditional_entropy.hpp"
#include "model/config.hpp"
#include "model/entropy_bottleneck.hpp"
#include "model/layers.hpp"

namespace cosae::model {

// Image [B, 3, H, W] in [0, 1] (H, W multiples of D) -> latent [B, 2K, H/D, W/D]: channels
// [0, K) are a_k, [K, 2K) are b_k.
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& image);
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(Encoder);

// Latent [B, 2K, h, w] -> image [B, 3, hD, wD] (not clamped).
struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& latent);
  // The harmonic map [B, K, hT, wT] (or the ablation's transposed convolution of the latent).
  torch::Tensor harmonic_map(const torch::Tensor& latent);

  int64_t freqs, tile;
  bool harmonic;
  torch::Tensor frequencies;                      // [K, 2]: (u, v) in cycles per tile
  // The plain-autoencoder ablation's HCM stand-in: log2(T) learned stride-2 transposed
  // convolutions (2K -> K channels, then K -> K), GELU between, as in convolutional codecs.
  torch::nn::Sequential ablation{nullptr};
  Conv2d project{nullptr};
  torch::nn::Sequential body{nullptr}, upsample{nullptr};
};
TORCH_MODULE(Decoder);

// Frequencies in a half-plane, |u|, |v| <= T/2, denser at low frequencies: a jittered
// spiral (golden-angle steps, radius growing linearly with the index; k = 0 is DC).
torch::Tensor initial_frequencies(int64_t count, int64_t tile, uint64_t seed = 0);

struct CosAEImpl : torch::nn::Module {
  // `parts`: the networks to build (model/config.hpp); a command that runs only some of them
  // need not build, initialise and load the others. Those left out are null until build().
  explicit CosAEImpl(ModelConfig config, Parts parts = kAllParts);
  // Builds the parts not built yet (freshly initialised, in training mode).
  void build(Parts parts);
  Parts built() const { return built_; }

  struct TrainOutput {
    torch::Tensor reconstruction;  // [B, 3, H, W]; undefined when only the rate trains (forward_rate)
    torch::Tensor bits;            // [B]: estimated bits of each image's latent
    // With a conditional model: the hyper-latent's share of `bits`, and the factorised prior's
    // bits for the same latent, trained on a detached latent so that the factorised codings
    // stay usable (and comparable) on the same transform. Undefined without one.
    torch::Tensor side_bits, prior_bits;
  };
  // Noise for the rate, straight-through rounding for the decoder. `levels`: [B] int64.
  TrainOutput forward_train(const torch::Tensor& image, const torch::Tensor& levels);
  // The conditional model's rate alone, for encoder outputs `latent` [B, 2K, h, w] (unscaled):
  // training it over a frozen transform (cosae train --entropy-only). No reconstruction.
  TrainOutput forward_rate(const torch::Tensor& latent, const torch::Tensor& levels);

  // The codec's path: latent scaled for quality `level`, its integer symbols round(y - median),
  // and back.
  torch::Tensor analysis(const torch::Tensor& image, int64_t level);
  torch::Tensor centre(const torch::Tensor& scaled_latent);             // minus the prior's medians
  torch::Tensor quantize(const torch::Tensor& scaled_latent);           // round(centre) as float
  torch::Tensor dequantize(const torch::Tensor& symbols);               // -> scaled latent
  torch::Tensor synthesis(const torch::Tensor& scaled_latent, int64_t level);
  // Real rounding: reconstruction and the likelihood-based bits (what the entropy coder
  // would spend with the learned tables, to within their quantisation).
  TrainOutput forward_eval(const torch::Tensor& image, int64_t level);

  ModelConfig config;
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  EntropyBottleneck entropy{nullptr};
  ConditionalEntropy conditional{nullptr};  // only when config.conditional.enabled()
  torch::Tensor log_gains, log_inverse_gains;  // [levels, 2K]

 private:
  Parts built_ = 0;
  torch::Tensor gains_for(const torch::Tensor& levels, bool inverse);  // [B, 2K, 1, 1]
};
TORCH_MODULE(CosAE);

int64_t parameter_count(torch::nn::Module& module);

}  // namespace cosae::model
