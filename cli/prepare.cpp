// cosae prepare --in DIR... --out DIR [--downscale F] [--min-downscale F] [--max-shard-mb N] [--min-side N] ...
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "command.hpp"
#include "cosae/error.hpp"
#include "train/prepare.hpp"

namespace cosae::cli {
namespace {

class PrepareCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    auto& o = opt_;
    app.add_option("--in", o.inputs, "Folder of photos, searched recursively (repeat for several)")->required();
    app.add_option("--out", o.out, "Output folder: shard-0000/, shard-0001/, ... and manifest.json")->required();
    app.add_option("--downscale", o.downscale, "Divide each side by this factor (area averaging), 1 to 16")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 16.0));
    app.add_option("--min-downscale", o.min_downscale,
                   "Divide images too small for --downscale by less, down to this factor, to keep them at "
                   "--min-side (default: off)")
        ->check(CLI::Range(1.0, 16.0));
    app.add_option("--max-shard-mb", max_shard_mb_, "Most PNG data per shard, MiB (a larger image gets its own)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    app.add_option("--min-side", o.min_side, "Skip images whose shorter side is below this after downscaling")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--threads", o.threads, "Worker threads (0 = all cores); the output does not depend on it")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--force", o.overwrite, "Replace a data set already prepared in --out");
    app.add_flag("-q,--quiet", quiet_, "Print only warnings and errors");
  }

  int run() override {
    opt_.max_shard_bytes = max_shard_mb_ << 20;
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    bool progress_line_open = false;
    auto end_progress_line = [&] {
      if (progress_line_open) std::cerr << "\n";
      progress_line_open = false;
    };
    auto warn = [&](const std::string& message) {
      end_progress_line();
      std::cerr << "warning: " << message << "\n";
    };
    // On a terminal one line redrawn in place; otherwise a line every 100 images.
    auto progress = [&](int64_t done, int64_t total) {
      if (quiet_) return;
      if (terminal) {
        std::cerr << "\rprepare: " << done << "/" << total << std::flush;
        progress_line_open = true;
      } else if (done % 100 == 0 || done == total) {
        std::cerr << "prepare: " << done << "/" << total << "\n";
      }
    };
    const auto start = std::chrono::steady_clock::now();
    const train::PrepareSummary summary = train::prepare_dataset(opt_, warn, progress);
    end_progress_line();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet_) {
      char line[256];
      std::snprintf(line, sizeof line, "prepared %lld images (%lld skipped) in %lld shards, %.1f MiB, %.1f s\n",
                    static_cast<long long>(summary.written), static_cast<long long>(summary.skipped),
                    static_cast<long long>(summary.shards), summary.bytes / 1048576.0, seconds);
      std::cerr << line;
    }
    return 0;
  }

 private:
  train::PrepareOptions opt_;
  int64_t max_shard_mb_ = 50;
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_prepare_command() { return std::make_unique<PrepareCommand>(); }

}  // namespace cosae::cli
