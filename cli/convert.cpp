// cosae convert MODEL -o OUT [--dtype f32|f16|bf16]: rewrites a model file with its weights
// stored at another precision (f16 halves the file). The entropy model and its tables are
// kept exactly; the converted model gets its own identity (streams name the model they need).
#include <cctype>
#include <iostream>
#include <string>

#include "codec/model_package.hpp"
#include "command.hpp"
#include "cosae/error.hpp"
#include "cosae/model_file.hpp"
#include "model/model_io.hpp"

namespace cosae::cli {
namespace {

struct ConvertOptions {
  std::string input, output, dtype = "f16";
};

class ConvertCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("model", opt_.input, "Model file (.safetensors)")->required();
    app.add_option("-o,--output", opt_.output, "Converted model file")->required();
    app.add_option("--dtype", opt_.dtype, "Weight precision: f32, f16 or bf16")->capture_default_str();
  }

  int run() override {
    std::string upper = opt_.dtype;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto dtype = dtype_from_name(upper);
    COSAE_CHECK(dtype && (*dtype == DType::f32 || *dtype == DType::f16 || *dtype == DType::bf16), usage,
                "--dtype must be f32, f16 or bf16, not '", opt_.dtype, "'");
    COSAE_CHECK(opt_.input != opt_.output, usage, "convert: the output must be another file than the input");
    auto net = model::load_model(opt_.input);
    codec::save_codec_model(opt_.output, *net, *dtype);
    const auto converted = codec::load_codec_model(opt_.output, torch::kCPU);
    std::cerr << opt_.input << " -> " << opt_.output << " (" << upper << " weights), model id " << converted.id
              << "\n";
    return 0;
  }

 private:
  ConvertOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_convert_command() { return std::make_unique<ConvertCommand>(); }

}  // namespace cosae::cli
