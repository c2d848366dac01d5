// `cosae bench codec`: end-to-end encode and decode speed (model + entropy coding, excluding
// file I/O and model load) on a Kodak-size and a 4K image, against JPEG through OpenCV.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "codec/codec.hpp"

namespace cosae::bench {

struct CodecBenchOptions {
  torch::Device device = torch::kCPU;
  std::string model_path;             // "" = the default model, else an untrained `config`
  std::string config = "default";     // preset for an untrained model (speed does not depend on training)
  std::vector<std::string> sizes = {"kodak", "4k"};
  int quality = 0;                    // 0 = the model's default level
  int detail = codec::kDefaultDetailLevel;  // the cosae-detail row's detail level (0: no such row), as encode's default
  int warmup = 1;
  int repeats = 3;
};

struct CodecBenchRow {
  std::string size, codec;
  int width = 0, height = 0;
  std::size_t bytes = 0;
  double encode_s = 0, decode_s = 0;        // medians
  // Shares of the time (medians): rANS coding; the networks (with the latent's transfer);
  // the image's conversion to or from floats and its transfer (codec::CodecTimings).
  double encode_entropy_share = 0, decode_entropy_share = 0;
  double encode_network_share = 0, decode_network_share = 0;
  double encode_image_share = 0, decode_image_share = 0;
  double peak_mb = 0;                       // CUDA: allocator peak; CPU: process peak RSS
  double bpp() const { return 8.0 * static_cast<double>(bytes) / (static_cast<double>(width) * height); }
};

struct CodecBenchResult {
  std::string model;  // id, or "untrained <config>"
  int quality = 0;    // the level coded
  std::vector<CodecBenchRow> rows;
};

CodecBenchResult run_codec_bench(const CodecBenchOptions& options);
nlohmann::json to_json(const CodecBenchResult& result, const CodecBenchOptions& options);
std::string format_table(const CodecBenchResult& result);

// Deterministic photo-like content: smooth shading, edges and fine texture (RGB, 8 bits).
Image synthetic_photo(int width, int height);

// JPEG through OpenCV (4:2:0) at `quality`: fills bytes and median times. False without OpenCV.
bool time_jpeg(int width, int height, const std::vector<uint8_t>& rgb, int quality, int warmup, int repeats,
               CodecBenchRow& row);

}  // namespace cosae::bench
