// `cosae prepare`: folders of photos turned into a training set of downscaled PNG shards.
//
// Every image under the input folders (cosae::train::list_images, inputs in the order given,
// files sorted within each) is decoded, reduced to 8 bits, downscaled by exact area averaging
// and written as PNG into OUT/shard-0000/, OUT/shard-0001/, ... Each shard holds at most
// max_shard_bytes of PNG data, so shards can be carried to another machine one at a time.
// OUT/manifest.json, written last and atomically, lists every output and every skipped file.
// An image whose output has exactly the pixels of an earlier one (the same picture as PNG and
// as PPM, say) is skipped: it would only weigh that picture twice in training.
//
// Pixels: alpha is discarded (not composited), 16-bit samples are rounded to 8 bits after
// averaging, grey stays grey (one channel: smaller files; the loader replicates grey to RGB).
// Downscaling averages each output pixel over its exact source footprint, like OpenCV's
// INTER_AREA, in plain C++ in every build so that builds with and without OpenCV agree.
//
// Determinism: the shards and manifest depend only on the inputs and options, never on the
// thread count or timing: workers decode and encode ahead, results are placed in input order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cosae/image.hpp"

namespace cosae::train {

struct PrepareOptions {
  std::vector<std::string> inputs;  // folders searched recursively
  std::string out;                  // created if missing
  double downscale = 2.0;           // each side divided by this, in [1, 16]
  // Images too small for `downscale` are divided by less, by the largest factor in
  // [min_downscale, downscale] that keeps their shorter side at min_side; 0 = downscale (off).
  double min_downscale = 0.0;
  int64_t max_shard_bytes = 50LL << 20;
  int min_side = 256;  // images whose shorter side ends up below this are skipped
  int threads = 0;     // worker threads; 0 = hardware concurrency
  bool overwrite = false;  // allow an OUT that already holds a manifest.json or shards
};

struct PrepareSummary {
  int64_t sources = 0;  // image files found
  int64_t written = 0;
  int64_t skipped = 0;  // unreadable, too small after downscaling, or the same pixels as an earlier one
  int64_t shards = 0;
  int64_t bytes = 0;  // PNG bytes written
};

using WarningSink = std::function<void(const std::string&)>;
using ProgressSink = std::function<void(int64_t done, int64_t total)>;

// Throws cosae::Error: usage for bad options, an existing manifest without `overwrite` or an
// OUT inside an input; bad_input when no usable image remains; io when OUT cannot be written.
// A file that cannot be decoded is skipped with one call to `warn`, never fatal on its own.
PrepareSummary prepare_dataset(const PrepareOptions& options, const WarningSink& warn,
                               const ProgressSink& progress = {});

// Side of an axis of `size` pixels after division by `factor`: rounded, at least 1.
int downscaled_size(int size, double factor);

// 8-bit image without alpha (1 or 3 channels) of width x height, each pixel the average of
// the source pixels under its footprint, weighted by the overlap (exact area averaging).
// Any channel count and bit depth in; alpha dropped, 16 bits rounded to 8 after averaging.
// Requires width <= source width and height <= source height.
Image area_downscale(const Image& source, int width, int height);

}  // namespace cosae::train
