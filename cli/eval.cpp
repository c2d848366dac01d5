// cosae eval --data DIR [-m MODEL...] [-q LIST|all] [--detail LIST] [--baselines jpeg,webp] [--anchors FILE]
//            [--unquantized] [--linear-bound N,...] [--json FILE] [--csv FILE] [--report FILE.html]
//            [--device ...] [--threads N] [--quiet]
// Prints the mean curves and the BD table on stdout; progress on stderr.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include "command.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "codec/codec.hpp"
#include "eval/baselines.hpp"
#include "eval/evaluate.hpp"

namespace cosae::cli {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

template <typename T>
std::string join(const std::vector<T>& items) {
  std::ostringstream out;
  for (std::size_t i = 0; i < items.size(); ++i) out << (i ? "," : "") << items[i];
  return items.empty() ? std::string("none") : out.str();
}

std::vector<int> parse_levels(const std::string& text, const std::string& what) {
  std::vector<int> levels;
  for (const auto& item : split_list(text)) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    COSAE_CHECK(used == item.size() && used > 0, usage, what, ": '", item, "' is not a number");
    levels.push_back(v);
  }
  COSAE_CHECK(!levels.empty(), usage, what, ": empty list");
  return levels;
}

void print_summary(const eval::EvalResults& r) {
  char line[256];
  for (const auto& c : r.curves) {
    std::printf("%s (%s)\n  %-8s %8s %8s %8s %9s %9s\n", c.codec.c_str(), c.kind.c_str(), "setting", "bpp", "PSNR",
                "MS-SSIM", "enc s", "dec s");
    for (const auto& p : c.points) {
      std::snprintf(line, sizeof line, "  %-8s %8.4f %8.2f %8.4f %9.3f %9.3f", p.setting.c_str(), p.bpp, p.psnr,
                    p.ms_ssim, p.encode_s, p.decode_s);
      std::printf("%s\n", line);
    }
  }
  std::map<std::string, std::vector<eval::Sample>> unquantized;  // by model
  for (const auto& s : r.unquantized) unquantized[s.codec].push_back(s);
  for (const auto& [codec, samples] : unquantized)
    for (const auto& p : eval::mean_curve(samples))
      std::printf("%s at %s: PSNR %.2f dB, MS-SSIM %.4f (mean of %d images)\n", codec.c_str(), p.setting.c_str(),
                  p.psnr, p.ms_ssim, p.images);
  std::vector<eval::CurvePoint> bound = eval::mean_curve(r.linear_bound);
  std::sort(bound.begin(), bound.end(), [](const auto& a, const auto& b) { return std::stoi(a.setting) < std::stoi(b.setting); });
  for (const auto& p : bound)
    std::printf("%s, keeping N = %s per block: PSNR %.2f dB, MS-SSIM %.4f (mean of %d images)\n",
                r.linear_bound.front().codec.c_str(), p.setting.c_str(), p.psnr, p.ms_ssim, p.images);
  if (!r.bd.empty()) std::printf("BD (PCHIP, mean curves)\n  %-28s %-12s %10s %10s\n", "cosae", "against", "BD-rate", "BD-PSNR");
  for (const auto& e : r.bd) {
    char rate[32] = "       n/a", psnr[32] = "       n/a";
    if (e.bd_rate) std::snprintf(rate, sizeof rate, "%9.2f%%", *e.bd_rate);
    if (e.bd_psnr) std::snprintf(psnr, sizeof psnr, "%7.3f dB", *e.bd_psnr);
    std::printf("  %-28s %-12s %10s %10s%s%s\n", e.test.c_str(), e.anchor.c_str(), rate, psnr,
                e.error.empty() ? "" : "  ", e.error.c_str());
  }
}

struct EvalCliOptions {
  std::string qualities;  // "": the codec's default curve
  std::string codings, baselines, linear_bound, refine, detail;
  std::map<std::string, std::string> baseline_qualities;  // codec -> its --CODEC-qualities list
  std::string json, csv, report;
  int threads = 0;
  bool quiet = false;
};

class EvalCommand : public Command {
 public:
  void configure(CLI::App& app) override {
    app.add_option("--data", opt_.data, "Folder of images to evaluate (searched recursively)")->required();
    app.add_option("-m,--model", opt_.models, "Model file(s); default: the installed default model");
    app.add_option("-q,--quality", cli_.qualities,
                   "Comma-separated quality levels, or 'all'. Default: the codec's default, encode's base level with "
                   "the detail layer swept over 10,12,14,16,18,20,24,28 (with --detail: its levels over that base; "
                   "-q all: every level, the network alone)");
    app.add_option("--coding", cli_.codings, "Comma-separated: conditional, factorised, cartesian, polar, adaptive, cell-gains, auto (default: auto)");
    app.add_option("--baselines", cli_.baselines,
                   "Comma-separated peers coded for real: jpeg, webp (OpenCV), avif (libavif, speed 6, 4:2:0), "
                   "jxl (libjxl, effort 7); this build has: " + join(eval::available_baselines()));
    for (const auto& [codec, label] : {std::pair{"jpeg", "JPEG"}, {"webp", "WebP"}, {"avif", "AVIF"}, {"jxl", "JPEG XL"}})
      app.add_option(std::string("--") + codec + "-qualities", cli_.baseline_qualities[codec],
                     std::string(label) + " qualities 1..100 to sweep (default " +
                         join(eval::default_baseline_qualities(codec)) + ")");
    app.add_option("--anchors", opt_.anchors, "JSON of published curves: {\"name\": [{\"bpp\":..,\"psnr\":..}]}");
    app.add_option("--json", cli_.json, "Write every number as JSON (schema in docs/evaluation.md)");
    app.add_option("--csv", cli_.csv, "Write one CSV row per image and setting");
    app.add_option("--report", cli_.report, "Write a self-contained HTML report");
    app.add_option("--crops", opt_.crop_images, "Images shown as crops in the report")->capture_default_str();
    app.add_option("--device", opt_.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", cli_.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
    app.add_flag("--unquantized", opt_.unquantized,
                 "Also decode each image from its unquantised latent at the highest level: the PSNR finer "
                 "quantisation could at best reach");
    app.add_option("--refine", cli_.refine,
                   "Comma-separated encoder efforts: gradient steps on each latent before coding (0 = none), "
                   "each its own curves; e.g. 0,20")
        ->default_str("0");
    app.add_option("--detail", cli_.detail,
                   "Comma-separated detail levels (0 = none; `cosae encode --detail`): each quality level becomes its "
                   "own curve over them, e.g. -q 4 --detail 0,8,12,16,20");
    app.add_option("--linear-bound", cli_.linear_bound,
                   "Comma-separated numbers of coefficients N: also the PSNR of a fixed linear block transform "
                   "(DCT on the model's DxD blocks) keeping N numbers per block, one set for all the images");
    app.add_flag("--quiet", cli_.quiet, "No progress on stderr");
  }

  int run() override {
    if (!cli_.qualities.empty() && cli_.qualities != "all") opt_.qualities = parse_levels(cli_.qualities, "--quality");
    opt_.baselines = split_list(cli_.baselines);
    opt_.codings = split_list(cli_.codings);
    if (!cli_.refine.empty()) opt_.refine_steps = parse_levels(cli_.refine, "--refine");
    if (!cli_.detail.empty()) opt_.detail_levels = parse_levels(cli_.detail, "--detail");
    if (cli_.qualities.empty() && cli_.detail.empty())  // what users get from encode: the detail layer
      opt_.detail_levels.assign(std::begin(codec::kDefaultDetailSweep), std::end(codec::kDefaultDetailSweep));
    if (!cli_.linear_bound.empty()) opt_.linear_bound = parse_levels(cli_.linear_bound, "--linear-bound");
    for (const auto& [codec, list] : cli_.baseline_qualities) {
      if (list.empty()) continue;
      auto& qualities = opt_.baseline_qualities[codec] = parse_levels(list, "--" + codec + "-qualities");
      for (int q : qualities) COSAE_CHECK(q >= 1 && q <= 100, usage, "--", codec, "-qualities: ", q, " outside 1..100");
    }
    if (cli_.threads > 0) at::set_num_threads(cli_.threads);

    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    auto progress = [&](std::size_t done, std::size_t total, const std::string& label) {
      if (cli_.quiet) return;
      if (terminal) {
        const int width = 24, filled = static_cast<int>(width * done / std::max<std::size_t>(total, 1));
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r[%s] %zu/%zu %-50.50s", bar.c_str(), done, total, label.c_str());
        if (done == total) std::fprintf(stderr, "\n");
      } else if (done % 50 == 0 || done == total) {
        std::fprintf(stderr, "eval: %zu/%zu\n", done, total);
      }
    };
    const auto results = eval::evaluate(opt_, progress);
    if (!cli_.json.empty()) write_file_atomic(cli_.json, eval::results_json(results));
    if (!cli_.csv.empty()) write_file_atomic(cli_.csv, eval::results_csv(results));
    if (!cli_.report.empty()) write_file_atomic(cli_.report, eval::html_report(results));
    if (cli_.json != "-" && cli_.csv != "-" && cli_.report != "-") print_summary(results);  // stdout is taken
    return 0;
  }

 private:
  eval::EvalOptions opt_;
  EvalCliOptions cli_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace cosae::cli
