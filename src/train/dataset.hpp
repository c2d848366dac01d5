// Training data: a folder of images turned into batches of random crops, prepared ahead of the
// trainer by a pool of worker threads.
//
// Determinism: the batch of a step depends only on (seed, step, rank, world_size, batch, crop,
// max_downscale, flips, rotations, dead_leaves, files) - not on the thread count, the cache,
// the prefetch depth or timing - so a run resumed from a checkpoint at step s with the same
// options sees exactly the batches it would have seen. Sample j of step s on rank r has the
// global index g = (s * world_size + r) * batch + j, and an RNG seeded from a hash of (seed, g)
// picks, in this order: the file, the downscale factor, the crop position, a left-right flip, a
// top-bottom flip and a transpose (a coin drawn whether or not rotations are on, so turning
// them on changes no other draw). Ranks therefore draw independent samples. Whether a file
// decodes is a property of the file, so redrawing past unreadable ones keeps batches
// deterministic.
//
// Each sample: an s x s square of the image, s = round(crop * f) with f uniform in
// [1, max_downscale], clamped to the image's shorter side, is resampled to crop x crop. A
// larger square is reduced by exact area averaging (as OpenCV's INTER_AREA); a smaller one -
// an image smaller than the crop - is enlarged bilinearly (pixel centres aligned), so every
// sample is exactly crop x crop without padding borders. Flips mirror left-right and
// top-bottom, each with probability 1/2 (flips = false keeps the natural orientation);
// rotations = true also transposes with probability 1/2, so that with the flips all eight
// rotations and mirrorings of the square are equally likely.
//
// With dead_leaves = p > 0, a second RNG stream seeded from (seed, g) decides whether sample g
// is a synthetic dead-leaves image (probability p) and draws that image; the other samples are
// exactly the crops they would be with p = 0, so the option adds images without moving the
// real ones. Synthetic samples are drawn at the crop size, neither resampled nor flipped.
//
// Pixels: grey is replicated to RGB, alpha is discarded whatever it holds (as
// AlphaPolicy::discard), 16-bit samples are rounded to 8 bits; decoded images are cached as
// 8-bit RGB, least recently used evicted first, so several-megapixel photos are decoded once
// and cut many times.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "train/dead_leaves.hpp"

namespace cosae::train {

// Image files under `dir`, recursively, sorted by path (byte order). Extensions, compared
// case-insensitively: .png; with OpenCV also .jpg .jpeg .webp .tif .tiff .bmp .ppm .pgm.
// Symbolic links are followed, each directory is entered once (no loops), names starting with
// '.' are skipped (e.g. macOS "._x.jpg" resource forks). A missing `dir` or a non-directory
// is a usage error, an unreadable directory an io error, no image at all bad_input.
std::vector<std::string> list_images(const std::string& dir);

// Files under `dir` whose name (without its folder) `wanted` accepts, by the same walk and
// order as list_images; an empty result is no error.
using FileNameFilter = std::function<bool(const std::string& name)>;
std::vector<std::string> list_files(const std::string& dir, const FileNameFilter& wanted);

struct LoaderOptions {
  int batch = 16;               // samples per step (per rank)
  int crop = 256;               // side of each square sample, pixels
  int threads = 0;              // worker threads; 0 = hardware concurrency (with several ranks
                                // on one host, give each its share of the cores)
  uint64_t seed = 0;
  double max_downscale = 1.0;   // random downscale factor in [1, max_downscale]; 1 = off
  bool flips = true;            // random left-right and top-bottom mirroring
  bool rotations = false;       // random transposes too: with flips, every multiple of 90 degrees
  double dead_leaves = 0.0;     // share of samples that are synthetic dead-leaves images instead
                                // (train/dead_leaves.hpp), in [0, 1]
  DeadLeavesShapes dead_leaves_shapes = DeadLeavesShapes::discs;  // their leaves' outlines
  int prefetch = 4;             // steps prepared ahead of the one asked for
  bool pinned = false;          // batches in page-locked memory (needs CUDA), for asynchronous
                                // copies to a GPU
  int rank = 0;                 // this process among world_size data-parallel ranks
  int world_size = 1;
  int64_t cache_bytes = 2LL << 30;  // decoded-image cache (8-bit RGB); 0 = decode every time
};

class BatchLoader {
 public:
  // Checks the options (usage errors) and starts the workers; decodes nothing yet.
  BatchLoader(std::vector<std::string> files, LoaderOptions options);
  // Stops the workers: samples being prepared are finished, the rest are dropped.
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // [batch, 3, crop, crop] float32 in [0, 1] on the CPU, contiguous; schedules the next
  // `prefetch` steps. Rethrows what a worker threw while preparing this step, e.g. bad_input
  // "no readable images in DIR" once every file has failed to decode. Meant for one calling
  // thread; steps may be asked for in any order.
  torch::Tensor batch(int64_t step);

  // Messages about skipped files since the last call (one per file), oldest first.
  std::vector<std::string> take_warnings();
  // Files not (yet) found unreadable.
  int64_t usable_files() const;
  int64_t total_files() const { return static_cast<int64_t>(files_.size()); }
  int worker_threads() const { return static_cast<int>(workers_.size()); }

 private:
  struct RgbImage;
  class SampleRng;
  class ImageCache;
  struct StepWork;

  void work();
  void prepare_sample(const StepWork& work, int index_in_batch);
  // Decoded image of a file drawn with `rng`, redrawing past unreadable files.
  std::shared_ptr<const RgbImage> choose_image(SampleRng& rng);
  void mark_unreadable(int64_t file, const std::string& message);
  bool is_unreadable(int64_t file) const;
  std::shared_ptr<StepWork> schedule_locked(int64_t step);
  void cancel_outside_locked(int64_t first, int64_t last);

  const std::vector<std::string> files_;
  const LoaderOptions options_;
  const std::string source_name_;  // folder named in "no readable images in ..."
  std::unique_ptr<ImageCache> cache_;

  mutable std::mutex unreadable_mutex_;
  std::vector<bool> unreadable_;
  int64_t unreadable_count_ = 0;
  std::vector<std::string> warnings_;

  std::mutex schedule_mutex_;
  std::condition_variable work_available_;
  std::condition_variable step_finished_;
  std::map<int64_t, std::shared_ptr<StepWork>> scheduled_;  // by step; workers take the lowest
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace cosae::train
