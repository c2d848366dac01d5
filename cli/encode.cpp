// cosae encode IN... [-o OUT|DIR] [-q LEVEL] [-m MODEL] [--device] [--threads] [--json] [--quiet]
#include <string>
#include <vector>

#include "command.hpp"
#include "cosae/error.hpp"

namespace cosae::cli {
namespace {

struct EncodeOptions {
  std::vector<std::string> inputs;
  std::string output;
  int quality = 4;
  std::string model;
  std::string device = "auto";
  int threads = 0;
  bool json = false;
  bool quiet = false;
};

class EncodeCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("inputs", opt_.inputs, "Images to compress ('-' for stdin)")->required();
    app.add_option("-o,--output", opt_.output, "Output file, or a folder for several inputs ('-' for stdout)");
    app.add_option("-q,--quality", opt_.quality, "Quality level (1 = smallest ... highest level of the model)")
        ->capture_default_str();
    app.add_option("-m,--model", opt_.model, "Model file (.safetensors); default: the installed default model");
    app.add_option("--device", opt_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", opt_.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    app.add_flag("--json", opt_.json, "Print one JSON object per file on stdout");
    app.add_flag("--quiet", opt_.quiet, "No statistics on stderr");
  }
  int run() override {
    COSAE_FAIL(unavailable, "encode: no trained model is available yet (models/ holds none) and the codec "
                            "is not built in this version");
  }

 private:
  EncodeOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_encode_command() { return std::make_unique<EncodeCommand>(); }

}  // namespace cosae::cli
