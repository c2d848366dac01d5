// cosae decode IN... [-o OUT|DIR] [-m MODEL] [--device] [--threads] [--json] [--quiet] [--reference IMG]
//              [--preview-slices N]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/codec.hpp"
#include "codec/model_search.hpp"
#include "command.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "eval/metrics.hpp"
#include "codec_run.hpp"

namespace cosae::cli {
namespace {

struct DecodeOptions : CodecRunOptions {
  std::string reference;
  int preview_slices = 0;
};

class DecodeCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("inputs", opt_.inputs, ".cosae files to decompress ('-' for stdin)")->required();
    app.add_option("-o,--output", opt_.output,
                   "Output image ('-' for PNG on stdout; the extension picks the format), or a folder (created if "
                   "missing) for several inputs or when it ends with '/'; default: IN with .png. Never an input");
    add_codec_run_options(app, opt_,
                          "Model file the stream was encoded with; default: the default model, or for a stream of "
                          "an earlier one, <its model id>.safetensors from the model folders");
    app.add_option("--reference", opt_.reference, "Original image: also report PSNR against it (one input)");
    app.add_option("--preview-slices", opt_.preview_slices,
                   "Conditional-coded streams: a coarse image from the first N frequency slices only (the rest at "
                   "their predicted means, no detail layer); reports the bytes those slices take")
        ->check(CLI::PositiveNumber);
  }

  int run() override {
    COSAE_CHECK(opt_.reference.empty() || opt_.inputs.size() == 1, usage, "--reference goes with one input");
    auto run = start_codec_run(opt_, ".png", model::kDecoderPart, {opt_.reference});
    const auto& outputs = run.outputs;
    auto& model = run.model;
    // Without -m, a stream the default model cannot decode decodes with the model it names,
    // where a model folder holds it (an earlier default; codec/model_search.hpp).
    std::map<std::string, codec::CodecModel> named;  // by path
    auto coder_for = [&](const std::vector<uint8_t>& bytes) -> codec::CodecModel& {
      if (!opt_.model.empty()) return model;
      const auto header = parse_bitstream(bytes.data(), bytes.size()).header;
      if (codec::decodes_streams_of(header, model)) return model;
      const auto path = codec::find_model_for_stream(header);
      auto found = named.find(path);
      if (found == named.end())
        found = named.emplace(path, codec::load_codec_model(path, model.device, model::kDecoderPart)).first;
      return found->second;
    };
    return for_each_input(opt_.inputs, [&](std::size_t i) {
      const auto& in = opt_.inputs[i];
      const auto bytes = read_file(in);
      auto& coder = coder_for(bytes);
      const auto start = std::chrono::steady_clock::now();
      const auto decoded = codec::decode(bytes.data(), bytes.size(), coder, nullptr, opt_.preview_slices);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      write_image(outputs[i], decoded.image);
      const auto& img = decoded.image;
      const double pixels = static_cast<double>(img.width) * img.height;
      const double bpp = 8.0 * static_cast<double>(bytes.size()) / pixels;
      double psnr = 0;
      if (!opt_.reference.empty()) psnr = eval::psnr(read_image(opt_.reference), img);
      char line[512];
      std::snprintf(line, sizeof line, "%s: %zu bytes -> %dx%d, %.4f bpp, %.3f s, %.2f MP/s", in.c_str(), bytes.size(),
                    img.width, img.height, bpp, seconds, pixels / 1e6 / seconds);
      std::string text = line;
      nlohmann::json j{{"input", in},        {"output", outputs[i]}, {"width", img.width},
                       {"height", img.height}, {"bytes", bytes.size()}, {"bpp", bpp},
                       {"seconds", seconds},  {"quality", decoded.header.quality},
                       {"detail", decoded.header.detail_level}, {"load_seconds", run.load_seconds}};
      if (opt_.preview_slices > 0) {  // the bytes a reader needs: header and the first slices' streams
        const auto parsed = parse_bitstream(bytes.data(), bytes.size());
        std::size_t needed = parsed.header_size;
        for (int g = 0; g < opt_.preview_slices; ++g) needed += parsed.streams[static_cast<std::size_t>(g)].size;
        std::snprintf(line, sizeof line, ", preview of %d slices from %zu bytes (%.1f%%)", opt_.preview_slices, needed,
                      100.0 * static_cast<double>(needed) / static_cast<double>(bytes.size()));
        text += line;
        j["preview_slices"] = opt_.preview_slices;
        j["preview_bytes"] = needed;
      }
      if (!opt_.reference.empty()) {
        std::snprintf(line, sizeof line, ", PSNR %.3f dB", psnr);
        text += line;
        j["psnr"] = psnr;
      }
      report_file(opt_, text, j);
    });
  }

 private:
  DecodeOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_decode_command() { return std::make_unique<DecodeCommand>(); }

}  // namespace cosae::cli
