// cosae prepare (--in DIR... | --recipe FILE) --out DIR [--exclude-like DIR] [--format png|webp]
//               [--downscale F] [--min-downscale F] [--max-shard-mb N] [--min-side N] ...
// cosae prepare --recipe FILE --packages
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "command.hpp"
#include "cosae/error.hpp"
#include "train/prepare.hpp"
#include "train/recipe.hpp"

namespace cosae::cli {
namespace {

class PrepareCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    auto& o = opt_;
    app.add_option("--in", o.inputs, "Folder of photos, searched recursively (repeat for several)");
    app.add_option("--recipe", recipe_, "Corpus recipe (JSON): sources, packages, factors, held-out shares "
                                        "(models/corpus-v2.json is the shipped models')")
        ->check(CLI::ExistingFile);
    app.add_flag("--packages", packages_, "Print the recipe's Debian packages, one line, and exit")->needs("--recipe");
    app.add_option("--out", o.out, "Output folder: train/shard-0000/, ..., heldout/ and manifest.json");
    app.add_option("--exclude-like", o.exclude_like,
                   "Folder of images (an evaluation set) that nothing taken may resemble (repeat for several)");
    app.add_option("--format", o.format, "File format: png, or webp (lossless, about a quarter smaller; needs OpenCV)")
        ->capture_default_str()
        ->check(CLI::IsMember({"png", "webp"}));
    app.add_option("--downscale", o.downscale,
                   "Divide each side by this factor (area averaging), 1 to 16; a recipe's source may set its own")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 16.0));
    app.add_option("--min-downscale", o.min_downscale,
                   "Divide images too small for --downscale by less, down to this factor, to keep them at "
                   "--min-side (default: off)")
        ->check(CLI::Range(1.0, 16.0));
    app.add_option("--max-shard-mb", max_shard_mb_, "Most image data per shard, MiB (a larger image gets its own)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    app.add_option("--min-side", o.min_side, "Skip images whose shorter side is below this after downscaling")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--threads", o.threads, "Worker threads (0 = all cores); the output does not depend on it")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--force", o.overwrite, "Replace a data set already prepared in --out");
    app.add_flag("-q,--quiet", quiet_, "Print only warnings, exclusions and errors");
  }

  int run() override {
    if (!recipe_.empty()) opt_.sources = train::read_recipe(recipe_);
    if (packages_) {
      std::string line;
      for (const auto& package : train::recipe_packages(opt_.sources)) line += (line.empty() ? "" : " ") + package;
      std::cout << line << "\n";
      return 0;
    }
    COSAE_CHECK(!opt_.inputs.empty() || !recipe_.empty(), usage, "prepare: give --in folders or a --recipe");
    COSAE_CHECK(!opt_.out.empty(), usage, "prepare: --out is required");
    opt_.max_shard_bytes = max_shard_mb_ << 20;
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    bool progress_line_open = false;
    auto end_progress_line = [&] {
      if (progress_line_open) std::cerr << "\n";
      progress_line_open = false;
    };
    // Files too small or taken already are many (icons, a wallpaper's other sizes): they are
    // counted in the summary and listed in manifest.json. What could surprise is printed.
    auto notice = [&](train::Notice kind, const std::string& message) {
      if (kind == train::Notice::too_small || kind == train::Notice::duplicate) return;
      end_progress_line();
      std::cerr << (kind == train::Notice::warning ? "warning: " : std::string(train::to_string(kind)) + ": ")
                << message << "\n";
    };
    // On a terminal one line redrawn in place; otherwise a line every 500 images.
    auto progress = [&](const char* stage, int64_t done, int64_t total) {
      if (quiet_) return;
      if (terminal) {
        std::cerr << "\rprepare: " << stage << " " << done << "/" << total << std::flush;
        progress_line_open = true;
        if (done == total) end_progress_line();
      } else if (done % 500 == 0 || done == total) {
        std::cerr << "prepare: " << stage << " " << done << "/" << total << "\n";
      }
    };
    const auto start = std::chrono::steady_clock::now();
    const train::PrepareSummary summary = train::prepare_dataset(opt_, notice, progress);
    end_progress_line();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet_) print_summary(summary, seconds);
    return 0;
  }

 private:
  void print_summary(const train::PrepareSummary& summary, double seconds) const {
    char line[512];
    if (summary.per_source.size() > 1 || !recipe_.empty()) {
      std::snprintf(line, sizeof line, "%-28s %-8s %6s %6s %7s %9s %9s | skipped: %6s %6s %6s %6s\n", "source",
                    "kind", "found", "train", "heldout", "MP", "MiB", "small", "dupl.", "excl.", "bad");
      std::cerr << line;
      for (const auto& s : summary.per_source) {
        std::snprintf(line, sizeof line, "%-28s %-8s %6lld %6lld %7lld %9.1f %9.1f | %15lld %6lld %6lld %6lld\n",
                      s.name.c_str(), s.kind.c_str(), static_cast<long long>(s.found),
                      static_cast<long long>(s.train), static_cast<long long>(s.heldout), s.megapixels,
                      s.bytes / 1048576.0, static_cast<long long>(s.too_small), static_cast<long long>(s.duplicates),
                      static_cast<long long>(s.excluded), static_cast<long long>(s.unreadable));
        std::cerr << line;
      }
    }
    double megapixels = 0.0;
    for (const auto& s : summary.per_source) megapixels += s.megapixels;
    std::snprintf(line, sizeof line,
                  "prepared %lld images (%lld held out, %lld skipped) in %lld shards, %.1f MP, %.1f MiB, %.1f s\n",
                  static_cast<long long>(summary.written), static_cast<long long>(summary.heldout),
                  static_cast<long long>(summary.skipped), static_cast<long long>(summary.shards), megapixels,
                  summary.bytes / 1048576.0, seconds);
    std::cerr << line;
  }

  train::PrepareOptions opt_;
  std::string recipe_;
  bool packages_ = false;
  int64_t max_shard_mb_ = 50;
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_prepare_command() { return std::make_unique<PrepareCommand>(); }

}  // namespace cosae::cli
