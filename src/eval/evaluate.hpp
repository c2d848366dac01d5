// `cosae eval`: rate-distortion evaluation of cosae models and baseline codecs over a folder
// of images. Every number comes from real bitstreams: bpp = all bytes of the file (header
// included) x 8 / pixels; PSNR and MS-SSIM on 8-bit RGB after rounding (grey replicated,
// alpha dropped, 16-bit rounded to 8).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cosae/image.hpp"
#include "eval/bd_rate.hpp"

namespace cosae::eval {

struct EvalOptions {
  std::string data;                      // folder of images (recursive)
  std::vector<std::string> models;       // model files ("" entries not allowed; empty = default model)
  std::vector<int> qualities;            // cosae quality levels (1-based); empty = all of each model, or
                                         // with detail_levels the default base level (encode's)
  // Latent codings to run ("conditional", "factorised", "cartesian", ..., "auto"); empty = the codec's default. With more
  // than one, each model's curves are named "<model id>/<coding>".
  std::vector<std::string> codings;
  std::vector<std::string> baselines;    // "jpeg", "webp", "avif", "jxl" (eval/baselines.hpp)
  // Each baseline's quality sweep (1..100); a baseline not listed sweeps its default
  // (default_baseline_qualities).
  std::map<std::string, std::vector<int>> baseline_qualities;
  std::string anchors;                   // JSON file: {"name": [{"bpp": x, "psnr": y}, ...], ...}
  std::string device = "auto";
  // Also decode each image from its unquantised latent at each model's highest evaluated
  // level: the PSNR that finer quantisation could at best reach (codec::reconstruct_unquantized).
  bool unquantized = false;
  // Encoder efforts (codec::EncodeOptions::refine_steps), each its own curves, named
  // "<model id>+refineN" for N > 0; empty = {0}. The BD table compares each with the first curve.
  std::vector<int> refine_steps;
  // Detail levels (codec::EncodeOptions::detail_level, 0 = none): when given, each quality level
  // is its own curve, "<...>/qN+detail", whose points ("dD") are these levels over that base.
  std::vector<int> detail_levels;
  // Also the linear bound (eval/linear_bound.hpp) keeping each of these numbers of coefficients
  // per block, with the first model's D as the block side: what a fixed linear transform with
  // as many numbers per block as the latent reaches on these images.
  std::vector<int> linear_bound;
  int crop_images = 3;                   // images shown as side-by-side crops in the report
  int crop_side = 192;                   // crop side in pixels
};

// One image coded at one setting by one codec.
struct Sample {
  std::string codec;     // "cosae-d64-<hash>" (a model id), "jpeg", "webp"
  std::string setting;   // "q3" for cosae, "75" for a baseline's quality
  std::string image;     // path relative to the data folder
  int width = 0, height = 0;
  std::size_t bytes = 0;
  double bpp = 0, psnr = 0, ms_ssim = 0;
  double encode_s = 0, decode_s = 0;
};

// Means over the images at one setting of one codec.
struct CurvePoint {
  std::string setting;
  double bpp = 0, psnr = 0, ms_ssim = 0;
  double encode_s = 0, decode_s = 0;
  int images = 0;
};

struct Curve {
  std::string codec;
  std::string kind;                 // "cosae", "baseline" or "anchor"
  std::vector<CurvePoint> points;   // sorted by bpp
};

// BD-rate / BD-PSNR of a cosae model (test) against a baseline, an anchor, or the first model
// evaluated (for the others), on the mean curves. Each is computed on its own: BD-rate needs
// the curves to share a PSNR range, BD-PSNR a rate range, so a model that is better everywhere
// may have only a BD-PSNR.
struct BdEntry {
  std::string test, anchor;
  std::optional<double> bd_rate;  // percent; negative = cosae needs fewer bits
  std::optional<double> bd_psnr;  // dB; positive = cosae is better at equal rate
  std::string error;              // why one or both are missing (no overlap, too few points, ...)
};

// Both BD figures of `test` against `anchor` (PCHIP), each present when it can be computed.
BdEntry compare_curves(const Curve& anchor, const Curve& test);

// A crop of one image as coded by each codec at the setting nearest a target bpp.
struct CropPanel {
  std::string label;              // "original", or codec and setting with bpp and PSNR
  std::vector<uint8_t> png;       // the crop, PNG-encoded
};
struct CropSet {
  std::string image;
  double target_bpp = 0;
  std::vector<CropPanel> panels;  // original first
};

struct EvalResults {
  std::string data;
  std::string device;                  // where cosae ran
  std::vector<std::string> images;     // evaluated images, relative paths
  std::vector<Sample> samples;
  // With EvalOptions::unquantized: codec "<model id>/unquantized", setting the level, bytes 0.
  std::vector<Sample> unquantized;
  // With EvalOptions::linear_bound: codec "linear-dct-<D>", setting the number of
  // coefficients kept per block, bytes 0.
  std::vector<Sample> linear_bound;
  std::vector<Curve> curves;           // cosae models, then baselines, then anchors
  std::vector<BdEntry> bd;
  std::vector<CropSet> crops;
};

// Called after each coded sample: done, total, a short label.
using EvalProgress = std::function<void(std::size_t done, std::size_t total, const std::string& label)>;

// Runs the evaluation. Throws cosae::Error: usage (bad options), unavailable (baselines
// without OpenCV), io/bad_input (no images, unreadable anchors), model.
EvalResults evaluate(const EvalOptions& options, const EvalProgress& progress = {});

// Means per setting, sorted by bpp.
std::vector<CurvePoint> mean_curve(const std::vector<Sample>& samples);

// The JSON document `--json` writes, and the CSV `--csv` writes (one row per sample).
std::string results_json(const EvalResults& results);
std::string results_csv(const EvalResults& results);
// The self-contained HTML report (inline SVG plots, BD table, per-image table, crops).
std::string html_report(const EvalResults& results);

// Anchors file: {"name": [{"bpp": x, "psnr": y, "ms_ssim": z (optional)}, ...], ...}.
std::vector<Curve> read_anchors(const std::string& path);

}  // namespace cosae::eval
