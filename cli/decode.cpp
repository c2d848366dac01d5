// cosae decode IN... [-o OUT|DIR] [--device] [--threads] [--json] [--quiet] [--reference IMG]
#include <string>
#include <vector>

#include "command.hpp"
#include "cosae/error.hpp"

namespace cosae::cli {
namespace {

struct DecodeOptions {
  std::vector<std::string> inputs;
  std::string output;
  std::string model;
  std::string device = "auto";
  int threads = 0;
  bool json = false;
  bool quiet = false;
  std::string reference;
};

class DecodeCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("inputs", opt_.inputs, ".cosae files to decompress ('-' for stdin)")->required();
    app.add_option("-o,--output", opt_.output, "Output image, or a folder for several inputs ('-' for stdout)");
    app.add_option("-m,--model", opt_.model, "Model file, when not found from the bitstream's model id");
    app.add_option("--device", opt_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", opt_.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    app.add_flag("--json", opt_.json, "Print one JSON object per file on stdout");
    app.add_flag("--quiet", opt_.quiet, "No statistics on stderr");
    app.add_option("--reference", opt_.reference, "Original image: also report PSNR against it");
  }
  int run() override {
    COSAE_FAIL(unavailable, "decode: the codec is not built in this version");
  }

 private:
  DecodeOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_decode_command() { return std::make_unique<DecodeCommand>(); }

}  // namespace cosae::cli
