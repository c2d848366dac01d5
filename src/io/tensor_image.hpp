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

// The same tensor on `device`. For a GPU the samples travel as 8- or 16-bit integers (a
// quarter or a half of the float bytes, through pinned memory) and become floats there
// (image_to_tensor_ops); on the CPU this is image_to_tensor.
torch::Tensor image_to_tensor(const Image& image, AlphaPolicy policy, const torch::Device& device);

// From [1, 3, H, W] or [3, H, W], any floating dtype and device: clamp to [0, 1] (NaN becomes
// 0), round to the nearest level of `bit_depth` (8 or 16), and write `channels` samples per
// pixel: 3 = RGB, 1 = grey, the mean of R, G and B. A GPU tensor is rounded on its device and
// only the integer samples travel (tensor_to_image_ops); others are copied to the CPU as float32.
Image tensor_to_image(const torch::Tensor& rgb, int channels = 3, int bit_depth = 8);

// The conversions above as tensor operations on any device, the same values bit for bit:
// what GPU tensors use, callable on the CPU so that tests can compare the two forms there.
torch::Tensor image_to_tensor_ops(const Image& image, AlphaPolicy policy, const torch::Device& device);
Image tensor_to_image_ops(const torch::Tensor& rgb, int channels, int bit_depth);

}  // namespace cosae
