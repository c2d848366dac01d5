// cosae convert MODEL -o OUT [--dtype f32|f16|bf16] [--supersedes OLD]: rewrites a model file
// with its weights stored at another precision (f16 halves the file). The entropy model and
// its tables are kept exactly; the converted model gets its own identity (streams name the
// model they need). --supersedes lets the new file decode OLD's streams too, when it holds
// every tensor of OLD unchanged (a conditional entropy model trained over a frozen transform).
#include <iostream>
#include <string>

#include "bitstream/sha256.hpp"
#include "codec/model_package.hpp"
#include "command.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "cosae/model_file.hpp"
#include "model/model_io.hpp"

namespace cosae::cli {
namespace {

struct ConvertOptions {
  std::string input, output, dtype = "f16";
  std::vector<std::string> supersedes;
};

class ConvertCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("model", opt_.input, "Model file (.safetensors)")->required();
    app.add_option("-o,--output", opt_.output, "Converted model file")->required();
    app.add_option("--dtype", opt_.dtype, "Weight precision: f32, f16 or bf16")->capture_default_str();
    app.add_option("--supersedes", opt_.supersedes,
                   "Earlier model file whose streams the new one decodes too (refused unless the new one holds "
                   "its every tensor unchanged)");
  }

  int run() override {
    const DType dtype = model::weight_dtype_from_name(opt_.dtype, "--dtype");
    COSAE_CHECK(opt_.input != opt_.output, usage, "convert: the output must be another file than the input");
    auto net = model::load_model(opt_.input);
    ModelFile converted = codec::export_codec_model(*net, dtype);
    for (const auto& old : opt_.supersedes) {
      const auto bytes = read_file(old);
      codec::supersede_model(converted, parse_safetensors(bytes.data(), bytes.size()), sha256(bytes.data(), bytes.size()), old);
    }
    write_safetensors(opt_.output, converted);
    std::cerr << opt_.input << " -> " << opt_.output << " (" << dtype_name(dtype) << " weights), model id "
              << converted.metadata.at("model_id") << "\n";
    return 0;
  }

 private:
  ConvertOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_convert_command() { return std::make_unique<ConvertCommand>(); }

}  // namespace cosae::cli
