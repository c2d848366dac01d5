// cosae bench synthesis|codec|train|startup [--device cpu|cuda] ... [--json FILE]
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/codec_bench.hpp"
#include "bench/startup_bench.hpp"
#include "bench/synthesis_bench.hpp"
#include "bench/train_bench.hpp"
#include "codec/codec.hpp"
#include "command.hpp"
#include "common/device.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "train/distributed.hpp"

namespace cosae::cli {
namespace {

struct BenchSynthesisOptions {
  std::string device = "auto";
  std::vector<std::string> sizes = {"train", "4k"};
  int repeats = 0;  // 0: 50 on CUDA, 5 on the CPU
  int warmup = -1;
  int64_t projection_channels = 128;
  std::string json;
};

struct BenchCodecOptions {
  std::string device = "auto";
  std::string model;
  std::string config = "default";
  std::vector<std::string> sizes = {"kodak", "4k"};
  int quality = 0;  // 0: the model's default level
  int detail = codec::kDefaultDetailLevel;
  int repeats = 3;
  std::string json;
};

class BenchCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.require_subcommand(1);
    auto* syn = app.add_subcommand("synthesis", "Harmonic synthesis: cosae kernel vs naive LibTorch, "
                                                "transposed convolution and the fused projection");
    syn->add_option("--device", syn_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    syn->add_option("--size", syn_.sizes, "Sizes to run: train (B=16 K=256 4x4 cells T=16), 4k (60x34 cells)")
        ->delimiter(',')
        ->check(CLI::IsMember({"train", "4k"}))
        ->capture_default_str();
    syn->add_option("--repeats", syn_.repeats, "Timed runs per case (median reported; default 50 CUDA, 5 CPU)")
        ->check(CLI::NonNegativeNumber);
    syn->add_option("--warmup", syn_.warmup, "Untimed runs first (default 5 CUDA, 1 CPU)");
    syn->add_option("--channels", syn_.projection_channels, "C of the fused K->C projection comparison")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    syn->add_option("--json", syn_.json, "Also write the results as JSON to this file");
    synthesis_ = syn;

    auto* codec = app.add_subcommand("codec", "End-to-end encode/decode MP/s (model + rANS), against JPEG q90");
    codec->add_option("--device", codec_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    codec->add_option("-m,--model", codec_.model, "Model file; default: the default model, else an untrained --config");
    codec->add_option("--config", codec_.config, "Preset of the untrained model used when no model is found")
        ->capture_default_str();
    codec->add_option("--size", codec_.sizes, "Sizes: kodak (768x512), 4k (3840x2160)")
        ->delimiter(',')
        ->check(CLI::IsMember({"kodak", "4k"}))
        ->capture_default_str();
    codec->add_option("-q,--quality", codec_.quality, "Quality level; default: the model's default (as cosae encode)")
        ->check(CLI::Range(1, 64));
    codec->add_option("--detail", codec_.detail, "Detail level of the cosae-detail row, over the level encode would use (0: no such row)")
        ->capture_default_str()
        ->check(CLI::Range(0, kMaxDetailLevel));
    codec->add_option("--repeats", codec_.repeats, "Timed runs (median reported)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    codec->add_option("--json", codec_.json, "Also write the results as JSON to this file");
    codec_app_ = codec;

    auto* train = app.add_subcommand("train", "Training throughput: steps/s, images/s, data-loader wait, peak memory "
                                              "(under torchrun: all ranks)");
    train->add_option("--device", train_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    train->add_option("--config", train_.config, "Model config: preset or JSON file")->capture_default_str();
    train->add_option("--data", train_.data, "Folder of training images (default: synthetic images)");
    train->add_option("--batch", train_.batch, "Images per step (per rank)")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--crop", train_.crop, "Crop side in pixels")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--warmup", train_.warmup, "Untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
    train->add_option("--steps", train_.steps, "Timed steps")->capture_default_str()->check(CLI::PositiveNumber);
    train->add_option("--threads", train_.threads, "Loader threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    train->add_flag("--bf16", train_.bf16, "Autocast to bfloat16, as cosae train --bf16");
    train->add_option("--json", train_json_, "Also write the result as JSON to this file");
    train_app_ = train;

    auto* startup = app.add_subcommand(
        "startup", "What one small image costs from the command line: fresh `cosae encode` and `cosae decode` "
                   "processes on a 64x64 image (wall time, model load, coding, peak memory), and `cosae --version` "
                   "for the start every command pays");
    startup->add_option("-m,--model", startup_.model_path, "Model file; default: the default model");
    startup->add_option("--size", startup_.size, "Image side in pixels")->capture_default_str()->check(CLI::Range(1, 4096));
    startup->add_option("--repeats", startup_.repeats, "Runs of each command (median reported)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    startup->add_option("--program", startup_.program, "The cosae binary to run (default: this one)");
    startup->add_option("--encode-args", startup_.extra, "More arguments for encode, e.g. \"-q 3 -d 0\"")
        ->delimiter(' ');
    startup->add_option("--json", startup_json_, "Also write the results as JSON to this file");
    startup_app_ = startup;
  }

  int run() override {
    if (synthesis_->parsed()) return run_synthesis();
    if (codec_app_->parsed()) return run_codec();
    if (train_app_->parsed()) return run_train();
    if (startup_app_->parsed()) return run_startup();
    COSAE_FAIL(usage, "cosae bench: name a benchmark (synthesis, codec, train, startup)");
  }

 private:
  int run_synthesis() {
    bench::SynthesisBenchOptions opt;
    opt.device = resolve_device(syn_.device);
    const bool gpu = opt.device.is_cuda();
    opt.sizes = syn_.sizes;
    opt.repeats = syn_.repeats > 0 ? syn_.repeats : (gpu ? 50 : 5);
    opt.warmup = syn_.warmup >= 0 ? syn_.warmup : (gpu ? 5 : 1);
    opt.projection_channels = syn_.projection_channels;
    std::cerr << "cosae bench synthesis on " << describe_device(opt.device) << ", median of " << opt.repeats
              << " runs\n";
    const auto rows = bench::run_synthesis_bench(opt);
    std::cout << bench::format_table(rows);
    if (!syn_.json.empty()) {
      write_file_atomic(syn_.json, bench::to_json(rows, opt).dump(2) + "\n");
    }
    return 0;
  }

  int run_codec() {
    bench::CodecBenchOptions opt;
    opt.device = resolve_device(codec_.device);
    opt.model_path = codec_.model;
    opt.config = codec_.config;
    opt.sizes = codec_.sizes;
    opt.quality = codec_.quality;
    opt.detail = codec_.detail;
    opt.repeats = codec_.repeats;
    std::cerr << "cosae bench codec on " << describe_device(opt.device) << ", median of " << opt.repeats << " runs\n";
    const auto result = bench::run_codec_bench(opt);
    std::cout << bench::format_table(result);
    if (!codec_.json.empty()) {
      write_file_atomic(codec_.json, bench::to_json(result, opt).dump(2) + "\n");
    }
    return 0;
  }

  int run_train() {
    const bool reporter = train::distributed_env_from_environment().rank == 0;
    if (reporter)
      std::cerr << "cosae bench train: " << train_.config << ", " << train_.warmup << " warm-up + " << train_.steps
                << " timed steps\n";
    const auto result = bench::run_train_bench(train_);
    if (!reporter) return 0;
    std::cout << bench::format_table(result, train_);
    if (!train_json_.empty()) {
      write_file_atomic(train_json_, bench::to_json(result, train_).dump(2) + "\n");
    }
    return 0;
  }

  int run_startup() {
    const auto rows = bench::run_startup_bench(startup_);
    std::cout << bench::format_table(rows, startup_);
    if (!startup_json_.empty()) write_file_atomic(startup_json_, bench::to_json(rows, startup_).dump(2) + "\n");
    return 0;
  }

  BenchSynthesisOptions syn_;
  bench::TrainBenchOptions train_;
  std::string train_json_;
  CLI::App* train_app_ = nullptr;
  BenchCodecOptions codec_;
  CLI::App* synthesis_ = nullptr;
  CLI::App* codec_app_ = nullptr;
  bench::StartupBenchOptions startup_;
  std::string startup_json_;
  CLI::App* startup_app_ = nullptr;
};

}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace cosae::cli
