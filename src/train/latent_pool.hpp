// The data of `cosae train --entropy-only`: with the transform frozen, a crop's latent does not
// change during training, so each crop is encoded once and cut into many training windows.
//
// The pool holds the latents of `entries` crops of side crop + 2D (pixels), drawn by a
// BatchLoader of its own (batch `refresh`, the trainer's seed mixed with a constant, the same
// flips and downscaling). At step s it holds exactly loader steps s .. s + entries/refresh - 1:
// each step encodes one new loader step in place of the oldest, so the content at a step does
// not depend on where a run was resumed. A training window is a crop/D x crop/D square of
// cells at a random position in a random entry (torch's global generator, seeded per step by
// the trainer): 9 positions per crop. The crops are kept little larger than the windows since
// most training photos are small, and the loader enlarges what is smaller than its crop. The
// encoder runs in float32 without autocast, as the codec runs it.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "model/cosae_model.hpp"
#include "train/dataset.hpp"

namespace cosae::train {

class LatentPool {
 public:
  // loader: batch and crop are set here (refresh, window_pixels + 2D). entries must be a
  // positive multiple of refresh.
  LatentPool(model::CosAEImpl& net, std::vector<std::string> files, LoaderOptions loader, int64_t entries,
             int64_t refresh, int64_t window_pixels, torch::Device device);

  // Brings the pool to step s: the first call encodes every entry, later ones one loader step
  // per step advanced.
  void advance(int64_t step);

  // [count, 2K, c, c] float32 on the device, c = window_pixels / D: unscaled latents.
  torch::Tensor windows(int64_t count) const;

  int64_t entries() const { return entries_; }
  int64_t bytes() const { return latents_.defined() ? latents_.numel() * latents_.element_size() : 0; }

 private:
  void encode(int64_t loader_step);  // into the slots of that loader step

  model::CosAEImpl& net_;
  torch::Device device_;
  int64_t entries_, refresh_, cells_;
  int64_t next_step_ = -1;  // the first train step not yet advanced to; -1 before filling
  std::unique_ptr<BatchLoader> loader_;
  torch::Tensor latents_;  // [entries, 2K, c + 2, c + 2] float32
};

}  // namespace cosae::train
