// Conversion between cosae::Image and float tensors (RGB in [0, 1], NCHW).
#pragma once

#include <torch/torch.h>

#include "cosae/image.hpp"

namespace cosae {

enum class AlphaPolicy {
  reject_translucent,  // an alpha channel that is not fully opaque is an error (default)
  discard,             // drop alpha whatever it holds
};

// [1, 3, H, W] float32 in [0, 1]. Grey is replicated to RGB; 16-bit samples map exactly
// (v / 65535). Alpha follows `policy`; a fully opaque alpha is always dropped silently.
torch::Tensor image_to_tensor(const Image& image, AlphaPolicy policy = AlphaPolicy::reject_translucent);

// From [1, 3, H, W] (or [3, H, W]) in [0, 1], any float dtype/device: clamp, round to
// `bit_depth`, and write `channels` (1: luma of the RGB values... see implementation; 3: RGB).
Image tensor_to_image(const torch::Tensor& rgb, int channels = 3, int bit_depth = 8);

}  // namespace cosae
