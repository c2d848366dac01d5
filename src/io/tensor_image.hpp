// Conversion between cosae::Image and float tensors (RGB in [0, 1], NCHW).
//
// Policy:
// - Grey (1 channel) is replicated to R, G and B; the codec always codes three channels.
// - Samples map exactly: v / (2^bit_depth - 1) as the correctly rounded float, so 8- and 16-bit
//   images round-trip bit-exactly through image_to_tensor and tensor_to_image.
// - Alpha: cosae codes colour only. A fully opaque alpha channel is dropped silently; a
//   translucent one is refused (AlphaPolicy::reject_translucent, bad_input) unless the caller
//   asked to discard it (AlphaPolicy::discard, e.g. `cosae encode --drop-alpha`).
#pragma once

#include <torch/torch.h>

#include "cosae/image.hpp"

namespace cosae {

enum class AlphaPolicy {
  reject_translucent,  // an alpha channel that is not fully opaque is an error (default)
  discard,             // drop alpha whatever it holds
};

// [1, 3, H, W] float32 on the CPU, in [0, 1]. Throws bad_input for a malformed image or (by
// default) a translucent alpha channel.
torch::Tensor image_to_tensor(const Image& image, AlphaPolicy policy = AlphaPolicy::reject_translucent);

// From [1, 3, H, W] or [3, H, W], any floating dtype and device (copied to the CPU as float32):
// clamp to [0, 1] (NaN becomes 0), round to the nearest level of `bit_depth` (8 or 16), and
// write `channels` samples per pixel: 3 = RGB, 1 = grey, the mean of R, G and B.
Image tensor_to_image(const torch::Tensor& rgb, int channels = 3, int bit_depth = 8);

}  // namespace cosae
