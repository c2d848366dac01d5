// The CosAE network's configuration: JSON-able, with named presets.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cosae::model {

// The rate-distortion trade-off of the default quality: q4 of the 6- and 8-level presets.
inline constexpr double kDefaultLambda = 0.013;

// The conditional entropy model (model/conditional_entropy.hpp): a hyper-latent on a grid
// `hyper_stride` times coarser than the cells, and the latent coded in `slices` slices of
// frequencies, each slice's Gaussian mean and scale predicted by an integer network from the
// hyper-latent and the slices before it. Off (the factorised prior only) when hyper_channels is 0.
struct ConditionalConfig {
  int hyper_channels = 0;   // channels of the hyper-latent z; 0 = no conditional model
  int hyper_stride = 2;     // 1 (z on the cell grid) or 2
  int slices = 8;           // frequency slices; must divide K
  int features = 256;       // channels of the hyper-synthesis's output, per cell
  int hidden = 192;         // hidden channels of the hyper-synthesis and of each slice's network
  bool hyper_magnitudes = false;  // the hyper-analysis sees |y| beside y (encoder side only)
  bool enabled() const { return hyper_channels > 0; }
};

struct ModelConfig {
  std::string name = "cosae-d64";   // a human-readable family name (the model id adds a hash)
  int downsampling = 64;            // D: total downsampling per side (16, 32 or 64)
  int upsampling = 4;               // U: the decoder's upsampling; tile T = D / U
  int frequencies = 256;            // K: learnable frequencies (the latent has 2K channels: a, b)
  std::vector<int> encoder_channels = {64, 96, 128, 192, 256, 320};  // one per stride-2 stage
  int decoder_channels = 128;       // C
  int decoder_blocks = 4;           // residual block + attention block pairs
  std::string attention = "window";  // "window" (shifted windows), "latent", or "none"
  int window = 8;                   // window side, in harmonic-map pixels
  int heads = 4;                    // query heads
  int kv_heads = 2;                 // key/value heads (grouped-query when < heads)
  int latents = 64;                 // N latents of latent attention
  bool harmonic = true;             // false: the ablation, HCM replaced by learned stride-2 transposed convs
  std::vector<double> lambdas = {0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483};  // one per quality
  std::vector<int> entropy_filters = {3, 3, 3};  // hidden widths of the factorised prior's CDF network
  ConditionalConfig conditional;    // off unless the JSON has a "conditional" object

  int tile() const { return downsampling / upsampling; }
  int stages() const;  // log2(D)
  int quality_levels() const { return static_cast<int>(lambdas.size()); }
  // The level (1-based) whose lambda is nearest `lambda`, in log.
  int nearest_quality(double lambda) const;
  // The level used when none is asked for: the one nearest kDefaultLambda, so that models with
  // more or fewer levels default to the same trade-off.
  int default_quality() const { return nearest_quality(kDefaultLambda); }
  // `quality`, or the default level for 0 (options that were not given).
  int quality_or_default(int quality) const { return quality != 0 ? quality : default_quality(); }
  int latent_channels() const { return 2 * frequencies; }

  // Throws cosae::Error (usage) with the first problem found.
  void validate() const;
};

// The networks of a model that a command may leave out when it does not run them (a decode
// never runs the encoder, which holds most of the parameters). The gains, the factorised prior,
// and the conditional model's hyper-prior and slice order are small and always there.
using Parts = unsigned;
inline constexpr Parts kEncoderPart = 1;  // the encoder and the conditional model's hyper-analysis
inline constexpr Parts kDecoderPart = 2;  // the decoder
inline constexpr Parts kRatePart = 4;     // the float mirror of the conditional model's integer layers
                                          // (training and the encoder's --refine; the codec runs the
                                          // integer layers themselves)
inline constexpr Parts kAllParts = kEncoderPart | kDecoderPart | kRatePart;
// The part a parameter belongs to, by its name: 0 for those always there.
Parts parameter_part(const std::string& name);

nlohmann::json to_json(const ModelConfig& config);
// Unknown keys are an error (a typo must not silently fall back to a default).
ModelConfig config_from_json(const nlohmann::json& j);

// "default" (D=64, K=256), "wide" (K=512; the shipped transform has its encoder and twelve
// levels), "ablation" (default without the HCM), "tiny" (for tests),
// or a path to a JSON file.
ModelConfig load_config(const std::string& preset_or_path);
std::vector<std::string> config_presets();
// The same, as "default, wide, ..." for help texts and errors.
std::string config_preset_list();

}  // namespace cosae::model
