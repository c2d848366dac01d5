// cosae train --data DIR --out RUN_DIR [...]
#include <string>

#include "command.hpp"
#include "cosae/error.hpp"

namespace cosae::cli {
namespace {

struct TrainOptions {
  std::string data;
  std::string val;
  std::string out;
  std::string config = "default";
  int64_t steps = 100000;
  int batch = 16;
  int crop = 256;
  double lr = 1e-4;
  std::string device = "auto";
  int threads = 0;
  bool resume = false;
  uint64_t seed = 0;
};

class TrainCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("--data", opt_.data, "Folder of training images (searched recursively)")->required();
    app.add_option("--val", opt_.val, "Folder of validation images");
    app.add_option("--out", opt_.out, "Run folder: checkpoints, metrics.jsonl, exported model")->required();
    app.add_option("--config", opt_.config, "Model config: a JSON file or a preset name")->capture_default_str();
    app.add_option("--steps", opt_.steps, "Training steps")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", opt_.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--crop", opt_.crop, "Random crop side in pixels")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--lr", opt_.lr, "Peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--device", opt_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", opt_.threads, "Loader threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    app.add_flag("--resume", opt_.resume, "Continue from the run folder's last checkpoint");
    app.add_option("--seed", opt_.seed, "Random seed")->capture_default_str();
  }
  int run() override { COSAE_FAIL(unavailable, "train: training is not built in this version"); }

 private:
  TrainOptions opt_;
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace cosae::cli
