// `cosae prepare`: folders of photos, or a corpus recipe (train/recipe.hpp), turned into a
// training set of downscaled images in shards, plus a held-out set for evaluation.
//
// Sources: every image under each source's paths (cosae::train::list_files order: sources in
// the order given, files sorted within each), and every image inside the Eet and Qt resource
// containers found there (train/containers.hpp). Each is decoded once to be fingerprinted
// (train/fingerprint.hpp), then:
// - refused when its name is a standard test image's, or its picture resembles one (the
//   built-in list, and every image under `exclude_like`): the evaluation world stays out;
// - taken once per picture: of the copies of one picture (at other sizes, re-encoded) the one
//   with the most pixels is kept, the earliest on a tie;
// - skipped when unreadable or smaller than min_side after downscaling.
// Of a source with a held-out share h, the ceil(h * n) of its n kept pictures whose source
// paths have the lowest FNV-1a hashes are held out: a fixed rule, the same on every machine
// with the same packages.
//
// Output: OUT/train/shard-0000/, shard-0001/, ... (each at most max_shard_bytes, so shards can
// be carried to another machine one at a time), OUT/heldout/, and OUT/manifest.json, written
// last and atomically, listing every image (source, split, size, factor, bytes, pixel digest)
// and every file left out with the reason.
//
// Pixels: alpha is discarded, or composited over white for sources that ask for it; 16-bit
// samples are rounded to 8 bits after averaging; grey stays grey. Downscaling averages each
// output pixel over its exact source footprint, like OpenCV's INTER_AREA, in plain C++ in every
// build so that builds with and without OpenCV agree. Files are PNG, or lossless WebP (`format`
// "webp", with OpenCV: about a quarter smaller on photos) - the same pixels either way.
//
// Determinism: the output depends only on the inputs and options, never on the thread count or
// timing: workers decode and encode ahead, results are placed in input order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cosae/image.hpp"
#include "train/recipe.hpp"

namespace cosae::train {

struct PrepareOptions {
  std::vector<std::string> inputs;     // plain folders: each a source named after the folder
  std::vector<SourceSpec> sources;     // a recipe's sources (after `inputs`)
  std::vector<std::string> exclude_like;  // folders of images nothing taken may resemble
  std::string out;                     // created if missing
  std::string format = "png";          // "png" or "webp" (lossless; needs OpenCV)
  double downscale = 2.0;              // each side divided by this, in [1, 16] (a source may set its own)
  // Images too small for `downscale` are divided by less, by the largest factor in
  // [min_downscale, downscale] that keeps their shorter side at min_side; 0 = downscale (off).
  double min_downscale = 0.0;
  int64_t max_shard_bytes = 50LL << 20;
  int min_side = 256;  // images whose shorter side ends up below this are skipped
  int threads = 0;     // worker threads; 0 = hardware concurrency
  bool overwrite = false;  // allow an OUT that already holds a prepared set
};

struct SourceSummary {
  std::string name;
  std::string kind;
  int64_t found = 0;       // image files and container entries
  int64_t train = 0;
  int64_t heldout = 0;
  int64_t unreadable = 0;
  int64_t too_small = 0;
  int64_t duplicates = 0;  // copies of a picture taken from another file
  int64_t excluded = 0;    // standard test images, or near an exclude_like image
  double megapixels = 0.0;  // written, both splits
  int64_t bytes = 0;        // written, both splits
};

struct PrepareSummary {
  int64_t sources = 0;  // image files and container entries found
  int64_t written = 0;  // both splits
  int64_t heldout = 0;
  int64_t skipped = 0;  // unreadable, too small, duplicate or excluded
  int64_t shards = 0;
  int64_t bytes = 0;  // bytes written, both splits
  std::vector<SourceSummary> per_source;
};

// What prepare reports as it goes: a file left out, and why; or a warning that leaves nothing out.
enum class Notice { unreadable, too_small, duplicate, excluded, warning };
const char* to_string(Notice notice);

using NoticeSink = std::function<void(Notice, const std::string& message)>;
using ProgressSink = std::function<void(const char* stage, int64_t done, int64_t total)>;

// Throws cosae::Error: usage for bad options, a missing source path, an existing manifest
// without `overwrite` or an OUT inside an input; unavailable when an image needs a format this
// build cannot read; bad_input when no usable image remains; io when OUT cannot be written.
// Any other file that cannot be decoded is skipped with one call to `notice`, never fatal.
PrepareSummary prepare_dataset(const PrepareOptions& options, const NoticeSink& notice,
                               const ProgressSink& progress = {});

// Side of an axis of `size` pixels after division by `factor`: rounded, at least 1.
int downscaled_size(int size, double factor);

// 8-bit image without alpha (1 or 3 channels) of width x height, each pixel the average of
// the source pixels under its footprint, weighted by the overlap (exact area averaging).
// Any channel count and bit depth in; alpha dropped, 16 bits rounded to 8 after averaging.
// Requires width <= source width and height <= source height.
Image area_downscale(const Image& source, int width, int height);

// The image with translucent pixels composited over white, alpha dropped (same bit depth);
// an image without alpha is returned as it is.
Image over_white(const Image& image);

}  // namespace cosae::train
