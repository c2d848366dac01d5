// cosae encode IN... [-o OUT|DIR] [-q LEVEL] [-d DETAIL] [-m MODEL]
//              [--refine N] [--device] [--threads] [--json] [--quiet]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/codec.hpp"
#include "command.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "codec_run.hpp"

namespace cosae::cli {
namespace {

struct EncodeOptions : CodecRunOptions {
  int quality = 0;  // 0: the model's default level
  bool drop_alpha = false;
  int refine_steps = 0;
  int detail = codec::kDefaultDetailLevel;
};

class EncodeCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("inputs", opt_.inputs, "Images to compress ('-' for stdin)")->required();
    app.add_option("-o,--output", opt_.output,
                   "Output file ('-' for stdout), or a folder (created if missing) for several inputs or when it ends "
                   "with '/'; default: IN with .cosae. Never one of the inputs");
    app.add_option("-q,--quality", opt_.quality,
                   "Quality level of the network, 1 (smallest) to the model's highest (`cosae info MODEL` lists "
                   "them); default: the level nearest lambda = 0.0018 (q5 of the shipped model), or with -d 0 the one "
                   "nearest lambda = 0.013 (q8)")
        ->check(CLI::Range(1, 64));
    add_codec_run_options(app, opt_, "Model file (.safetensors); default: the installed default model");
    app.add_flag("--drop-alpha", opt_.drop_alpha, "Discard a translucent alpha channel instead of refusing it");
    app.add_option("--refine", opt_.refine_steps,
                   "Encoder effort: gradient steps on the latent before coding, for a better rate-distortion "
                   "trade-off with the same decoder (0 = off; each step runs the decoder forward and back)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100000));
    app.add_option("-d,--detail", opt_.detail,
                   "Detail layer over the network's reconstruction, for quality past the network's ceiling: 1 "
                   "(coarsest) to " + std::to_string(kMaxDetailLevel) +
                       " (finest; each step of 4 halves the quantiser step), or 0 for the network alone. The encoder "
                       "also decodes, so it takes longer")
        ->capture_default_str()
        ->check(CLI::Range(0, kMaxDetailLevel));
  }

  int run() override {
    // The encoder; with a detail layer also the decoder (the encoder decodes its own base), and
    // to refine the latent the whole model.
    const model::Parts parts = opt_.refine_steps != 0 ? model::kAllParts
                               : opt_.detail != 0     ? model::kEncoderPart | model::kDecoderPart
                                                      : model::kEncoderPart;
    auto run = start_codec_run(opt_, ".cosae", parts);
    const auto& outputs = run.outputs;
    auto& model = run.model;
    codec::EncodeOptions options;
    options.quality = opt_.quality != 0 ? opt_.quality : codec::default_quality(model.net->config, opt_.detail);
    options.refine_steps = opt_.refine_steps;
    options.detail_level = opt_.detail;
    options.alpha = opt_.drop_alpha ? AlphaPolicy::discard : AlphaPolicy::reject_translucent;
    return for_each_input(opt_.inputs, [&](std::size_t i) {
      const auto& in = opt_.inputs[i];
      const Image image = read_image(in);
      const auto start = std::chrono::steady_clock::now();
      const auto bytes = codec::encode(image, model, options);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      write_file_atomic(outputs[i], bytes.data(), bytes.size());
      const double pixels = static_cast<double>(image.width) * image.height;
      const double bpp = 8.0 * static_cast<double>(bytes.size()) / pixels;
      char line[512];
      std::snprintf(line, sizeof line, "%s: %dx%d -> %zu bytes, %.4f bpp, %.3f s, %.2f MP/s", in.c_str(),
                    image.width, image.height, bytes.size(), bpp, seconds, pixels / 1e6 / seconds);
      report_file(opt_, line,
                  {{"input", in}, {"output", outputs[i]}, {"width", image.width}, {"height", image.height},
                   {"bytes", bytes.size()}, {"bpp", bpp}, {"quality", options.quality}, {"detail", options.detail_level}, {"coding", coding_mode_name(codec::peek_header(bytes.data(), bytes.size()).mode)}, {"seconds", seconds},
                   {"model", model.id}, {"load_seconds", run.load_seconds}});
    });
  }

 private:
  EncodeOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_encode_command() { return std::make_unique<EncodeCommand>(); }

}  // namespace cosae::cli
