#include "model/grow.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cosae/error.hpp"

namespace cosae::model {

namespace {

// The new channel of each old latent channel: a_k stays at k, b_k moves from K + k to K' + k.
torch::Tensor latent_channel_map(int64_t K, int64_t grown_K) {
  auto c = torch::arange(2 * K, torch::kLong);
  return torch::where(c < K, c, c + (grown_K - K));
}

// A convolution whose output and input channels may both have grown: the old block is copied,
// the weights from new inputs into old outputs are 0, the new outputs keep their fresh weights.
void grow_convolution(const torch::Tensor& old, torch::Tensor& grown) {
  auto old_outputs = grown.narrow(0, 0, old.size(0));
  if (old.dim() == 1) {  // bias
    old_outputs.copy_(old);
    return;
  }
  old_outputs.narrow(1, 0, old.size(1)).copy_(old);
  old_outputs.narrow(1, old.size(1), grown.size(1) - old.size(1)).zero_();
}

// The gains of each old level with the latent's new channels (which start at 0, so any gain
// keeps them there) at the level's mean. Every level of the grown model starts from the old
// level nearest to it in log lambda, spread by sqrt(lambda ratio) as CosAEImpl's
// initialisation spreads a fresh model's levels: an old level is its own nearest (ratio 1), so
// it keeps its gains exactly at its new number.
void grow_gains(const torch::Tensor& old, torch::Tensor& grown, const torch::Tensor& map,
                const ModelConfig& old_config, const std::vector<double>& lambdas, double sign) {
  const int64_t levels = old.size(0);
  auto rows = old.mean(1, true).expand({levels, grown.size(1)}).clone();
  rows.index_copy_(1, map, old);
  for (int64_t q = 0; q < grown.size(0); ++q) {
    const double lambda = lambdas[static_cast<std::size_t>(q)];
    const int nearest = old_config.nearest_quality(lambda);
    grown[q].copy_(rows[nearest - 1] + sign * 0.5 * std::log(lambda / old_config.lambdas[nearest - 1]));
  }
}

}  // namespace

void check_growable(const ModelConfig& a, const ModelConfig& b) {
  const char* what = "growing a model";
  COSAE_CHECK(a.harmonic && b.harmonic, usage, what, ": only CosAE models (with the harmonic construction) grow");
  auto same = [&](const char* field, auto x, auto y) {
    COSAE_CHECK(x == y, usage, what, ": ", field, " must stay the same (", x, " -> ", y, ")");
  };
  same("downsampling", a.downsampling, b.downsampling);
  same("upsampling", a.upsampling, b.upsampling);
  same("decoder_channels", a.decoder_channels, b.decoder_channels);
  same("attention", a.attention, b.attention);
  same("window", a.window, b.window);
  same("heads", a.heads, b.heads);
  same("kv_heads", a.kv_heads, b.kv_heads);
  same("latents", a.latents, b.latents);
  same("entropy_filters", a.entropy_filters.size(), b.entropy_filters.size());
  for (std::size_t i = 0; i < a.entropy_filters.size(); ++i)
    same("entropy_filters", a.entropy_filters[i], b.entropy_filters[i]);
  COSAE_CHECK(b.decoder_blocks >= a.decoder_blocks, usage, what, ": decoder blocks cannot be removed (",
              a.decoder_blocks, " -> ", b.decoder_blocks, ")");
  COSAE_CHECK(b.frequencies >= a.frequencies, usage, what, ": frequencies cannot shrink (", a.frequencies, " -> ",
              b.frequencies, ")");
  same("the number of encoder stages", a.encoder_channels.size(), b.encoder_channels.size());
  for (std::size_t i = 0; i < a.encoder_channels.size(); ++i)
    COSAE_CHECK(b.encoder_channels[i] >= a.encoder_channels[i], usage, what, ": encoder stage ", i + 1,
                " cannot shrink (", a.encoder_channels[i], " -> ", b.encoder_channels[i], " channels)");
  COSAE_CHECK(b.lambdas.size() >= a.lambdas.size(), usage, what, ": quality levels cannot be removed");
  for (std::size_t i = 0; i < a.lambdas.size(); ++i)
    COSAE_CHECK(std::find(b.lambdas.begin(), b.lambdas.end(), a.lambdas[i]) != b.lambdas.end(), usage, what,
                ": the lambdas must keep the old ones (level ", i + 1, "'s ", a.lambdas[i],
                " is missing); new levels go between, before or after them");
}

void grow_into(CosAEImpl& from, CosAEImpl& to) {
  check_growable(from.config, to.config);
  torch::NoGradGuard no_grad;
  const int64_t K = from.config.frequencies, grown_K = to.config.frequencies;
  const auto channel_map = latent_channel_map(K, grown_K).to(to.log_gains.device());
  const std::string latent_layer = "encoder.layers." + std::to_string(3 * from.config.stages()) + ".";
  auto old_parameters = from.named_parameters();
  // The conditional entropy model is kept only where the latent keeps its size: its slices,
  // contexts and hyper-analysis are all shaped by 2K, so with more frequencies it starts fresh
  // (a part-copied model would pair old layers with fresh ones that never saw them).
  const bool keep_conditional = from.conditional && grown_K == K;
  bool conditional_added = false;
  for (auto& item : to.named_parameters()) {
    const std::string& key = item.key();
    auto& grown = item.value();
    const auto* found = old_parameters.find(key);
    if (key.rfind("conditional.", 0) == 0 && (found == nullptr || !keep_conditional)) {  // added: fresh
      conditional_added = true;
      continue;
    }
    if (found == nullptr && key.rfind("decoder.body.", 0) == 0) {
      // A block appended to the decoder: the last layer of each residual branch starts at 0,
      // so the block passes its input through until training moves it.
      for (const char* last : {"conv2.", "attention.to_out.", "read.to_out.", "mlp.2."})
        if (key.find(last) != std::string::npos) grown.zero_();
      continue;
    }
    COSAE_CHECK(found != nullptr, model, "growing a model: the old model has no parameter ", key);
    const auto old = found->to(grown.device(), grown.scalar_type());
    if (key.rfind(latent_layer, 0) == 0) {
      // The latent's convolution: old rows to their channels, new rows 0 (the new a_k, b_k
      // stay exactly 0 until training moves them).
      auto shape = grown.sizes().vec();
      shape[0] = old.size(0);
      auto rows = torch::zeros(shape, grown.options());
      grow_convolution(old, rows);
      grown.zero_();
      grown.index_copy_(0, channel_map, rows);
    } else if (key.rfind("encoder.", 0) == 0) {
      grow_convolution(old, grown);
    } else if (key == "decoder.frequencies") {
      // New frequencies: a spiral of their own over the whole band (the tail of a K'-spiral
      // would hold only its highest frequencies).
      grown.narrow(0, 0, K).copy_(old);
      if (grown_K > K) grown.narrow(0, K, grown_K - K).copy_(initial_frequencies(grown_K - K, to.config.tile(), 1));
    } else if (key == "decoder.project.weight") {
      grown.narrow(1, 0, K).copy_(old);  // the new frequencies' columns keep their fresh weights
    } else if (key.rfind("entropy.", 0) == 0) {
      grown.index_copy_(0, channel_map, old);  // per latent channel; new channels keep a fresh prior
    } else if (key == "log_gains" || key == "log_inverse_gains") {
      grow_gains(old, grown, channel_map, from.config, to.config.lambdas, key == "log_gains" ? 1.0 : -1.0);
    } else {
      COSAE_CHECK(old.sizes() == grown.sizes(), model, "growing a model: ", key, " changed shape");
      grown.copy_(old);
    }
  }
  // Its slices follow the trained frequencies, low to high.
  if (conditional_added) to.conditional->order_frequencies(to.decoder->frequencies);
}

}  // namespace cosae::model
