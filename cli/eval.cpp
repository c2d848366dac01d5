// cosae eval --data DIR [-m MODEL...] [-q LIST|all] [--baselines jpeg,webp] [--json FILE] ...
#include <string>
#include <vector>

#include "command.hpp"
#include "cosae/error.hpp"

namespace cosae::cli {
namespace {

struct EvalOptions {
  std::string data;
  std::vector<std::string> models;
  std::string qualities = "all";
  std::string baselines;
  std::string json;
  std::string csv;
  std::string report;
  std::string device = "auto";
  int threads = 0;
};

class EvalCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("--data", opt_.data, "Folder of images to evaluate")->required();
    app.add_option("-m,--model", opt_.models, "Model file(s); default: the installed default model");
    app.add_option("-q,--quality", opt_.qualities, "Comma-separated quality levels, or 'all'")->capture_default_str();
    app.add_option("--baselines", opt_.baselines, "Comma-separated: jpeg, webp (needs OpenCV)");
    app.add_option("--json", opt_.json, "Write results as JSON");
    app.add_option("--csv", opt_.csv, "Write per-image results as CSV");
    app.add_option("--report", opt_.report, "Write a self-contained HTML report");
    app.add_option("--device", opt_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", opt_.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  }
  int run() override { COSAE_FAIL(unavailable, "eval: evaluation is not built in this version"); }

 private:
  EvalOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace cosae::cli
