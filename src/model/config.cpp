#include "model/config.hpp"

#include <cmath>
#include <set>

#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae::model {

int ModelConfig::stages() const {
  int n = 0;
  for (int d = downsampling; d > 1; d /= 2) ++n;
  return n;
}

int ModelConfig::nearest_quality(double lambda) const {
  int best = 0;
  for (int i = 1; i < quality_levels(); ++i)
    if (std::abs(std::log(lambdas[i] / lambda)) < std::abs(std::log(lambdas[best] / lambda))) best = i;
  return best + 1;
}

void ModelConfig::validate() const {
  auto power_of_two = [](int v) { return v > 0 && (v & (v - 1)) == 0; };
  COSAE_CHECK(downsampling == 16 || downsampling == 32 || downsampling == 64, usage,
              "model config: downsampling must be 16, 32 or 64, got ", downsampling);
  COSAE_CHECK(power_of_two(upsampling) && upsampling <= downsampling / 2, usage,
              "model config: upsampling must be a power of two below downsampling, got ", upsampling);
  COSAE_CHECK(frequencies >= 1 && frequencies <= 4096, usage, "model config: frequencies must be in [1, 4096]");
  COSAE_CHECK(static_cast<int>(encoder_channels.size()) == stages(), usage, "model config: encoder_channels needs ",
              stages(), " entries (one per stride-2 stage of D = ", downsampling, "), got ", encoder_channels.size());
  for (int c : encoder_channels) COSAE_CHECK(c >= 1 && c <= 4096, usage, "model config: bad encoder channel count ", c);
  COSAE_CHECK(decoder_channels >= 1 && decoder_channels <= 4096, usage, "model config: bad decoder_channels");
  COSAE_CHECK(decoder_blocks >= 0 && decoder_blocks <= 64, usage, "model config: decoder_blocks must be in [0, 64]");
  COSAE_CHECK(attention == "window" || attention == "latent" || attention == "none", usage,
              "model config: attention must be window, latent or none, got '", attention, "'");
  COSAE_CHECK(window >= 1 && window <= 64, usage, "model config: window must be in [1, 64]");
  COSAE_CHECK(heads >= 1 && kv_heads >= 1 && heads % kv_heads == 0, usage,
              "model config: heads must be a multiple of kv_heads");
  COSAE_CHECK(decoder_channels % heads == 0, usage, "model config: decoder_channels (", decoder_channels,
              ") must be a multiple of heads (", heads, ")");
  COSAE_CHECK(latents >= 1 && latents <= 4096, usage, "model config: latents must be in [1, 4096]");
  COSAE_CHECK(!lambdas.empty() && lambdas.size() <= 64, usage, "model config: 1 to 64 quality levels (lambdas)");
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    COSAE_CHECK(lambdas[i] > 0, usage, "model config: lambdas must be positive");
    COSAE_CHECK(i == 0 || lambdas[i] > lambdas[i - 1], usage,
                "model config: lambdas must increase with the quality level");
  }
  for (int f : entropy_filters) COSAE_CHECK(f >= 1 && f <= 64, usage, "model config: bad entropy filter width");
  if (conditional.enabled()) {
    const auto& c = conditional;
    COSAE_CHECK(c.hyper_channels <= 1024, usage, "model config: conditional.hyper_channels must be in [0, 1024]");
    COSAE_CHECK(c.hyper_stride == 1 || c.hyper_stride == 2, usage, "model config: conditional.hyper_stride must be 1 or 2");
    COSAE_CHECK(c.slices >= 1 && c.slices <= 8 && frequencies % c.slices == 0, usage,
                "model config: conditional.slices must be in [1, 8] and divide frequencies (", frequencies, ")");
    COSAE_CHECK(c.features >= 1 && c.features <= 1024 && c.hidden >= 1 && c.hidden <= 1024, usage,
                "model config: conditional.features and conditional.hidden must be in [1, 1024]");
  } else {
    COSAE_CHECK(conditional.hyper_channels == 0, usage, "model config: conditional.hyper_channels must be >= 0");
  }
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"name", c.name},
          {"downsampling", c.downsampling},
          {"upsampling", c.upsampling},
          {"frequencies", c.frequencies},
          {"encoder_channels", c.encoder_channels},
          {"decoder_channels", c.decoder_channels},
          {"decoder_blocks", c.decoder_blocks},
          {"attention", c.attention},
          {"window", c.window},
          {"heads", c.heads},
          {"kv_heads", c.kv_heads},
          {"latents", c.latents},
          {"harmonic", c.harmonic},
          {"lambdas", c.lambdas},
          {"entropy_filters", c.entropy_filters}};
  if (c.conditional.enabled())  // absent otherwise: configs without one read as before
    j["conditional"] = {{"hyper_channels", c.conditional.hyper_channels},
                        {"hyper_stride", c.conditional.hyper_stride},
                        {"slices", c.conditional.slices},
                        {"features", c.conditional.features},
                        {"hidden", c.conditional.hidden}};
  if (c.conditional.hyper_magnitudes) j["conditional"]["hyper_magnitudes"] = true;  // absent when false
  return j;
}

ModelConfig config_from_json(const nlohmann::json& j) {
  COSAE_CHECK(j.is_object(), usage, "model config: expected a JSON object");
  ModelConfig c;
  const std::set<std::string> known = {"name",    "downsampling", "upsampling", "frequencies", "encoder_channels",
                                       "decoder_channels", "decoder_blocks", "attention", "window", "heads",
                                       "kv_heads", "latents", "harmonic", "lambdas", "entropy_filters",
                                       "conditional"};
  for (const auto& item : j.items())
    COSAE_CHECK(known.count(item.key()), usage, "model config: unknown key '", item.key(), "'");
  try {
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) j.at(key).get_to(field);
    };
    get("name", c.name);
    get("downsampling", c.downsampling);
    get("upsampling", c.upsampling);
    get("frequencies", c.frequencies);
    get("encoder_channels", c.encoder_channels);
    get("decoder_channels", c.decoder_channels);
    get("decoder_blocks", c.decoder_blocks);
    get("attention", c.attention);
    get("window", c.window);
    get("heads", c.heads);
    get("kv_heads", c.kv_heads);
    get("latents", c.latents);
    get("harmonic", c.harmonic);
    get("lambdas", c.lambdas);
    get("entropy_filters", c.entropy_filters);
    if (j.contains("conditional")) {
      const auto& cj = j.at("conditional");
      COSAE_CHECK(cj.is_object(), usage, "model config: conditional must be an object");
      const std::set<std::string> known_conditional = {"hyper_channels", "hyper_stride", "slices", "features", "hidden",
                                                          "hyper_magnitudes"};
      for (const auto& item : cj.items())
        COSAE_CHECK(known_conditional.count(item.key()), usage, "model config: unknown key 'conditional.", item.key(), "'");
      auto get_conditional = [&](const char* key, int& field) {
        if (cj.contains(key)) cj.at(key).get_to(field);
      };
      get_conditional("hyper_channels", c.conditional.hyper_channels);
      get_conditional("hyper_stride", c.conditional.hyper_stride);
      get_conditional("slices", c.conditional.slices);
      get_conditional("features", c.conditional.features);
      get_conditional("hidden", c.conditional.hidden);
      if (cj.contains("hyper_magnitudes")) cj.at("hyper_magnitudes").get_to(c.conditional.hyper_magnitudes);
      COSAE_CHECK(c.conditional.hyper_channels > 0, usage, "model config: conditional.hyper_channels must be >= 1");
    }
  } catch (const nlohmann::json::exception& e) {
    COSAE_FAIL(usage, "model config: ", e.what());
  }
  c.validate();
  return c;
}

Parts parameter_part(const std::string& name) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("encoder.") || starts("conditional.hyper_analysis.")) return kEncoderPart;
  if (starts("decoder.")) return kDecoderPart;
  if (starts("conditional.hs") || starts("conditional.slice")) return kRatePart;
  return 0;
}

std::vector<std::string> config_presets() { return {"default", "wide", "ablation", "tiny"}; }

std::string config_preset_list() {
  std::string list;
  for (const auto& p : config_presets()) list += (list.empty() ? "" : ", ") + p;
  return list;
}

ModelConfig load_config(const std::string& preset_or_path) {
  ModelConfig c;
  if (preset_or_path == "default") return c;
  if (preset_or_path == "ablation") {
    c.name = "cosae-d64-ablation";
    c.harmonic = false;
    return c;
  }
  if (preset_or_path == "wide") {  // the default grown (model/grow.hpp): a wider latent and top levels
    c.name = "cosae-d64-wide";
    c.frequencies = 512;
    c.encoder_channels = {64, 96, 128, 192, 384, 640};
    c.lambdas.push_back(0.0932);
    c.lambdas.push_back(0.18);
    return c;
  }
  if (preset_or_path == "tiny") {  // seconds per step on a CPU: tests and CI
    c.name = "cosae-tiny";
    c.downsampling = 16;
    c.frequencies = 8;
    c.encoder_channels = {8, 12, 16, 16};
    c.decoder_channels = 16;
    c.decoder_blocks = 1;
    c.window = 4;
    c.heads = 2;
    c.kv_heads = 1;
    c.latents = 4;
    c.entropy_filters = {3};
    return c;
  }
  const auto bytes = read_file(preset_or_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    COSAE_FAIL(usage, preset_or_path, ": not a preset (", config_preset_list(), ") nor valid JSON: ", e.what());
  }
  return config_from_json(j);
}

}  // namespace cosae::model
