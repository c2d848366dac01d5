// cosae info [FILE...]: without files, what this build has; with files, what they hold.
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "common/device.hpp"
#include "common/torch_compat.hpp"
#include "bitstream/sha256.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/io_detail.hpp"
#include "codec/codec.hpp"
#include "cosae/model_file.hpp"
#include "model/model_io.hpp"
#include "train/distributed.hpp"

namespace cosae::cli {
namespace {

struct InfoOptions {
  std::vector<std::string> files;
  bool json = false;
};

nlohmann::json build_info() {
  nlohmann::json j;
  j["version"] = COSAE_VERSION;
  j["libtorch"] = compat::torch_version();
#ifdef COSAE_WITH_CUDA
  j["cuda_build"] = true;
#else
  j["cuda_build"] = false;
#endif
#ifdef COSAE_WITH_OPENCV
  j["opencv"] = true;
#else
  j["opencv"] = false;
#endif
  j["distributed"] = train::distributed_backends();
  j["cpu_threads"] = at::get_num_threads();
  j["cuda_devices"] = nlohmann::json::array();
  if (cuda_available())
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i)
      j["cuda_devices"].push_back(describe_device(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i))));
  return j;
}

const char* channel_name(int channels) {
  switch (channels) {
    case 1: return "grey";
    case 2: return "grey+alpha";
    case 3: return "RGB";
    case 4: return "RGBA";
  }
  return "?";
}

bool is_bitstream(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 4 && bytes[0] == 0x89 && bytes[1] == 'C' && bytes[2] == 'S' && bytes[3] == 'A';
}

bool is_model_file(const std::string& path) {
  return path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0;
}

class InfoCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("files", opt_.files, "Images, .cosae streams or model files (.safetensors) to describe");
    app.add_flag("--json", opt_.json, "Print JSON");
  }

  int run() override {
    if (opt_.files.empty()) {
      const auto j = build_info();
      if (opt_.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
      }
      std::cout << "cosae " << j["version"].get<std::string>() << "\n"
                << "  LibTorch " << j["libtorch"].get<std::string>() << (j["cuda_build"] ? " with CUDA" : " (CPU only)")
                << "\n"
                << "  OpenCV " << (j["opencv"] ? "yes (JPEG, WebP, TIFF, BMP, PPM)" : "no (PNG only)") << "\n"
                << "  distributed training " << j["distributed"].get<std::string>() << "\n"
                << "  CPU threads " << j["cpu_threads"].get<int>() << "\n";
      for (const auto& d : j["cuda_devices"]) std::cout << "  GPU " << d.get<std::string>() << "\n";
      return 0;
    }
    for (const auto& path : opt_.files) {
      if (is_model_file(path)) {
        describe_model(path);
        continue;
      }
      const std::vector<uint8_t> bytes = read_file(path);
      if (is_bitstream(bytes)) {
        describe_stream(path, bytes);
        continue;
      }
      const Image image = io_detail::with_source_name(path, [&] { return decode_image(bytes.data(), bytes.size()); });
      if (opt_.json) {
        std::cout << nlohmann::json{{"file", path},           {"width", image.width},
                                    {"height", image.height}, {"channels", image.channels},
                                    {"bit_depth", image.bit_depth}}
                         .dump()
                  << "\n";
      } else {
        std::cout << path << ": " << image.width << "x" << image.height << ", " << channel_name(image.channels)
                  << ", " << image.bit_depth << "-bit\n";
      }
    }
    return 0;
  }

  // What a .cosae file's header holds (validated whole, CRC included; no model is loaded).
  void describe_stream(const std::string& path, const std::vector<uint8_t>& bytes) {
    const ParsedBitstream parsed = io_detail::with_source_name(path, [&] { return parse_bitstream(bytes.data(), bytes.size()); });
    const BitstreamHeader& h = parsed.header;
    const std::size_t base_streams = parsed.streams.size() - static_cast<std::size_t>(h.detail_streams);
    nlohmann::json streams = nlohmann::json::array();
    std::size_t base_bytes = 0, detail_bytes = 0;
    for (std::size_t i = 0; i < parsed.streams.size(); ++i) {
      streams.push_back({{"bytes", parsed.streams[i].size}, {"part", i < base_streams ? "network" : "detail"}});
      (i < base_streams ? base_bytes : detail_bytes) += parsed.streams[i].size;
    }
    const double bpp = 8.0 * bytes.size() / (double(h.width) * h.height);
    const std::string sha = to_hex(h.model_sha256);
    if (opt_.json) {
      std::cout << nlohmann::json{{"file", path},
                                  {"format_version", h.format_version},
                                  {"width", h.width},
                                  {"height", h.height},
                                  {"channels", h.channels},
                                  {"bit_depth", h.bit_depth},
                                  {"model", h.model_id},
                                  {"model_sha256", sha},
                                  {"quality", h.quality},
                                  {"coding", coding_mode_name(h.mode)},
                                  {"detail", h.detail_level},
                                  {"bytes", bytes.size()},
                                  {"bpp", bpp},
                                  {"header_bytes", parsed.header_size + 4},
                                  {"streams", streams}}
                       .dump()
                << "\n";
      return;
    }
    std::cout << path << ": cosae stream, format " << int(h.format_version) << ", " << h.width << "x" << h.height
              << ", " << channel_name(h.channels) << ", " << h.bit_depth << "-bit\n"
              << "  model " << h.model_id << " (SHA-256 " << sha.substr(0, 16) << "...)\n"
              << "  quality q" << int(h.quality) << ", " << coding_mode_name(h.mode) << " coding, detail layer "
              << (h.detail_level ? "d" + std::to_string(h.detail_level) : std::string("off")) << "\n"
              << "  " << bytes.size() << " bytes (" << std::fixed << std::setprecision(4) << bpp
              << std::defaultfloat << " bpp): header and CRC " << parsed.header_size + 4
              << ", network " << base_bytes << " in " << base_streams << " streams";
    if (h.detail_streams) std::cout << ", detail layer " << detail_bytes << " in " << h.detail_streams << " streams";
    std::cout << "\n";
  }

  void describe_model(const std::string& path) {
    const ModelFile file = read_safetensors(path);
    auto net = model::import_model(file, path);
    const auto& c = net->config;
    const int64_t params = model::parameter_count(*net);
    nlohmann::json supersedes = nlohmann::json::array();
    for (const auto& m : codec::superseded_models(file, path)) supersedes.push_back(m.id);
    if (opt_.json) {
      std::cout << nlohmann::json{{"file", path},
                                  {"format_version", file.metadata.at("format_version")},
                                  {"config", model::to_json(c)},
                                  {"parameters", params},
                                  {"quality_levels", c.quality_levels()},
                                  {"default_quality", codec::default_quality(c, codec::kDefaultDetailLevel)},
                                  {"default_quality_without_detail", c.default_quality()},
                                  {"decodes_streams_of", supersedes}}
                       .dump()
                << "\n";
      return;
    }
    std::cout << path << ": cosae model " << c.name << ", format " << file.metadata.at("format_version") << "\n"
              << "  " << params << " parameters; D = " << c.downsampling << ", U = " << c.upsampling
              << ", T = " << c.tile() << ", K = " << c.frequencies << (c.harmonic ? "" : " (ablation: no HCM)") << "\n"
              << "  decoder: " << c.decoder_channels << " channels, " << c.decoder_blocks << " blocks, "
              << c.attention << " attention (" << c.heads << " heads, " << c.kv_heads << " kv heads)\n"
              << "  " << c.quality_levels() << " quality levels, lambda:";
    // The levels `cosae encode` uses without -q: under the detail layer, and with -d 0.
    const int base = codec::default_quality(c, codec::kDefaultDetailLevel), alone = codec::default_quality(c, 0);
    for (int q = 1; q <= c.quality_levels(); ++q)
      std::cout << " q" << q << " " << c.lambdas[q - 1] << (q == base ? " (default)" : "")
                << (q == alone ? " (default with -d 0)" : "");
    std::cout << "\n";
    if (!supersedes.empty()) std::cout << "  also decodes the streams of " << supersedes.dump() << "\n";
  }

 private:
  InfoOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_info_command() { return std::make_unique<InfoCommand>(); }

}  // namespace cosae::cli
