#include "model/cosae_model.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include "common/torch_compat.hpp"
#include "cosae/error.hpp"
#include "synthesis/synthesis.hpp"

namespace cosae::model {

namespace nn = torch::nn;

EncoderImpl::EncoderImpl(const ModelConfig& c) {
  layers = nn::Sequential();
  int64_t in = 3;
  for (int out : c.encoder_channels) {
    layers->push_back(Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
    layers->push_back(nn::GELU());
    layers->push_back(ResBlock(out));
    in = out;
  }
  layers->push_back(Conv2d(nn::Conv2dOptions(in, c.latent_channels(), 1)));
  register_module("layers", layers);
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& image) { return layers->forward(image - 0.5); }

torch::Tensor initial_frequencies(int64_t count, int64_t tile, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const double golden_angle = M_PI * (3.0 - std::sqrt(5.0));
  const double max_radius = 0.5 * static_cast<double>(tile);
  auto f = torch::zeros({count, 2}, torch::kFloat);
  auto jitter = torch::rand({count, 2}, gen, torch::kDouble);
  for (int64_t k = 1; k < count; ++k) {
    const double radius = max_radius * (static_cast<double>(k) + jitter[k][0].item<double>() - 0.5) /
                          static_cast<double>(count);
    const double angle = std::fmod(static_cast<double>(k) * golden_angle + 0.3 * jitter[k][1].item<double>(), M_PI);
    f[k][0] = std::clamp(radius * std::cos(angle), -max_radius, max_radius);
    f[k][1] = std::clamp(radius * std::sin(angle), -max_radius, max_radius);
  }
  return f;
}

DecoderImpl::DecoderImpl(const ModelConfig& c)
    : freqs(c.frequencies), tile(c.tile()), harmonic(c.harmonic) {
  if (harmonic) {
    frequencies = register_parameter("frequencies", initial_frequencies(freqs, tile));
  } else {
    // One transposed convolution with a T x T kernel would hold 2K * K * T^2 weights (33M at
    // the default size), four times the whole model; a stride-2 stack holds ~5M.
    ablation = nn::Sequential();
    int64_t in = 2 * freqs;
    for (int64_t t = tile; t > 1; t /= 2) {
      if (in != 2 * freqs) ablation->push_back(nn::GELU());
      ablation->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, freqs, 4).stride(2).padding(1)));
      in = freqs;
    }
    register_module("ablation", ablation);
  }
  const int64_t C = c.decoder_channels;
  project = register_module("project", Conv2d(nn::Conv2dOptions(freqs, C, 1)));
  body = nn::Sequential();
  for (int i = 0; i < c.decoder_blocks; ++i) {
    body->push_back(ResBlock(C));
    if (c.attention == "window")
      body->push_back(WindowAttentionBlock(C, c.heads, c.kv_heads, c.window, /*shifted=*/i % 2 == 1));
    else if (c.attention == "latent")
      body->push_back(LatentAttentionBlock(C, c.heads, c.kv_heads, c.latents));
  }
  register_module("body", body);
  upsample = nn::Sequential();
  int64_t ch = C;
  for (int u = c.upsampling; u > 1; u /= 2) {
    const int64_t next = std::max<int64_t>(ch / 2, 16);
    append_subpixel_upsample(upsample, ch, next);
    upsample->push_back(nn::GELU());
    ch = next;
  }
  upsample->push_back(Conv2d(nn::Conv2dOptions(ch, 3, 3).padding(1)));
  register_module("upsample", upsample);
}

torch::Tensor DecoderImpl::harmonic_map(const torch::Tensor& latent) {
  if (!harmonic) return ablation->forward(latent);
  const auto full = widen(latent);  // the synthesis runs in float32 (or float64) only
  auto a = full.narrow(1, 0, freqs), b = full.narrow(1, freqs, freqs);
  return synthesis::harmonic_synthesis_linear(a, b, frequencies.to(full.scalar_type()), tile);
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& latent) {
  auto x = project(harmonic_map(latent));
  if (!body->is_empty()) x = body->forward(x);
  return upsample->forward(x) + 0.5;
}

CosAEImpl::CosAEImpl(ModelConfig c, Parts parts) : config(std::move(c)) {
  config.validate();
  // In this order, so that a seed draws the same initial weights as it always has.
  if (parts & kEncoderPart) encoder = register_module("encoder", Encoder(config));
  if (parts & kDecoderPart) decoder = register_module("decoder", Decoder(config));
  entropy = register_module("entropy", EntropyBottleneck(config.latent_channels(), config.entropy_filters));
  if (config.conditional.enabled())
    conditional = register_module("conditional", ConditionalEntropy(config.frequencies, config.conditional,
                                                                    config.entropy_filters, parts));
  // (A model loaded without its decoder reads its slice order from the file.)
  if (conditional && config.harmonic && decoder) conditional->order_frequencies(decoder->frequencies);
  built_ = parts & kAllParts;
  const int64_t L = config.quality_levels(), C = config.latent_channels();
  // Higher quality, finer quantisation: start the gains spread by sqrt(lambda) ratios.
  auto init = torch::empty({L, 1});
  for (int64_t q = 0; q < L; ++q)
    init[q][0] = 0.5 * std::log(config.lambdas[q] / config.lambdas[L - 1]) + std::log(4.0);
  log_gains = register_parameter("log_gains", init.repeat({1, C}));
  log_inverse_gains = register_parameter("log_inverse_gains", (-init).repeat({1, C}));
}

void CosAEImpl::build(Parts parts) {
  if ((parts & kEncoderPart) && !encoder) encoder = register_module("encoder", Encoder(config));
  if ((parts & kDecoderPart) && !decoder) decoder = register_module("decoder", Decoder(config));
  if (conditional) conditional->build(parts);
  built_ |= parts & kAllParts;
}

torch::Tensor CosAEImpl::gains_for(const torch::Tensor& levels, bool inverse) {
  const auto& table = inverse ? log_inverse_gains : log_gains;
  return torch::exp(table.index_select(0, levels.to(table.device()))).unsqueeze(2).unsqueeze(3);
}

CosAEImpl::TrainOutput CosAEImpl::forward_rate(const torch::Tensor& latent, const torch::Tensor& levels) {
  COSAE_CHECK(conditional, usage, "forward_rate: the model has no conditional entropy model");
  auto coded = conditional(latent * gains_for(levels, false));
  return {{}, coded.bits, coded.side_bits, {}};
}

CosAEImpl::TrainOutput CosAEImpl::forward_train(const torch::Tensor& image, const torch::Tensor& levels) {
  // Under autocast the convolutions may run in bfloat16; the latent, the prior and the
  // harmonic synthesis stay float32.
  auto y = widen(encoder(image)) * gains_for(levels, false);
  if (conditional) {
    auto coded = conditional(y);
    torch::Tensor prior_bits;
    {
      compat::AutocastScope full_precision(y.device(), false);
      const auto detached = y.detach();
      prior_bits = -torch::log2(entropy->likelihood(detached + torch::empty_like(detached).uniform_(-0.5, 0.5)))
                        .flatten(1)
                        .sum(1);
    }
    auto reconstruction = widen(decoder(coded.y_hat * gains_for(levels, true)));
    return {reconstruction, coded.bits, coded.side_bits, prior_bits};
  }
  auto noisy = y + torch::empty_like(y).uniform_(-0.5, 0.5);
  torch::Tensor likelihood;
  {
    compat::AutocastScope full_precision(y.device(), false);
    likelihood = entropy->likelihood(noisy);
  }
  auto medians = entropy->medians().detach().view({1, -1, 1, 1});
  auto rounded = torch::round(y - medians) + medians;
  auto y_hat = y + (rounded - y).detach();  // straight-through
  auto reconstruction = widen(decoder(y_hat * gains_for(levels, true)));
  auto bits = -torch::log2(likelihood).flatten(1).sum(1);
  return {reconstruction, bits, {}, {}};
}

torch::Tensor CosAEImpl::analysis(const torch::Tensor& image, int64_t level) {
  COSAE_CHECK(level >= 0 && level < config.quality_levels(), usage, "quality level out of range");
  auto levels = torch::full({image.size(0)}, level, torch::kLong);
  return encoder(image) * gains_for(levels, false);
}

torch::Tensor CosAEImpl::centre(const torch::Tensor& scaled_latent) {
  return scaled_latent - entropy->medians().view({1, -1, 1, 1});
}

torch::Tensor CosAEImpl::quantize(const torch::Tensor& scaled_latent) { return torch::round(centre(scaled_latent)); }

torch::Tensor CosAEImpl::dequantize(const torch::Tensor& symbols) {
  return symbols + entropy->medians().view({1, -1, 1, 1});
}

torch::Tensor CosAEImpl::synthesis(const torch::Tensor& scaled_latent, int64_t level) {
  COSAE_CHECK(level >= 0 && level < config.quality_levels(), usage, "quality level out of range");
  auto levels = torch::full({scaled_latent.size(0)}, level, torch::kLong);
  return decoder(scaled_latent * gains_for(levels, true));
}

CosAEImpl::TrainOutput CosAEImpl::forward_eval(const torch::Tensor& image, int64_t level) {
  if (conditional) {
    auto coded = conditional(analysis(image, level));
    return {synthesis(coded.y_hat, level), coded.bits, coded.side_bits, {}};
  }
  auto y_hat = dequantize(quantize(analysis(image, level)));
  auto bits = -torch::log2(entropy->likelihood(y_hat)).flatten(1).sum(1);
  return {synthesis(y_hat, level), bits, {}, {}};
}

int64_t parameter_count(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace cosae::model
