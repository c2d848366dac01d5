// Image <-> tensor conversion; policy in tensor_image.hpp.
#include "io/tensor_image.hpp"

#include <torch/torch.h>

#include <cstring>
#include <vector>

#include "cosae/error.hpp"
#include "common/parallel.hpp"
#include "io/io_detail.hpp"

namespace cosae {
namespace {

constexpr int64_t kParallelGrain = 1 << 15;  // pixels per task: small images stay single-threaded

// Nearest level of [0, max_level] for x, clamped to [0, 1] first; NaN fails both comparisons
// and becomes 0.
inline uint16_t quantise(float x, float max_level) {
  const float clamped = x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f;
  return static_cast<uint16_t>(clamped * max_level + 0.5f);
}

void check_convertible(const Image& image, AlphaPolicy policy) {
  io_detail::check_image_for_encoding(image, "cannot convert image to a tensor");
  COSAE_CHECK(policy == AlphaPolicy::discard || io_detail::alpha_is_opaque(image), bad_input,
              "image has a translucent alpha channel, and cosae codes colour only; flatten it onto a "
              "background first, or pass `cosae encode --drop-alpha` to discard it");
}

// An image of the given shape with its samples allocated, for the conversions to fill.
Image blank_image(int64_t width, int64_t height, int channels, int bit_depth) {
  Image image{static_cast<int>(width), static_cast<int>(height), channels, bit_depth, {}};
  image.samples.resize(image.sample_count());
  return image;
}

void check_rgb_tensor(const torch::Tensor& rgb, int channels, int bit_depth) {
  COSAE_CHECK(channels == 1 || channels == 3, usage, "output images have 1 (grey) or 3 (RGB) channels, not ",
              channels);
  COSAE_CHECK(bit_depth == 8 || bit_depth == 16, usage, "output bit depth must be 8 or 16, not ", bit_depth);
  COSAE_CHECK(rgb.defined(), internal, "tensor_to_image: undefined tensor");
  const bool batched = rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3;
  const bool unbatched = rgb.dim() == 3 && rgb.size(0) == 3;
  COSAE_CHECK(batched || unbatched, internal, "tensor_to_image: expected [1, 3, H, W] or [3, H, W], got ",
              rgb.sizes());
  COSAE_CHECK(rgb.is_floating_point(), internal, "tensor_to_image: expected a floating tensor, got ",
              rgb.scalar_type());
  io_detail::check_image_dimensions(rgb.size(-1), rgb.size(-2));
}

}  // namespace

torch::Tensor image_to_tensor(const Image& image, AlphaPolicy policy, const torch::Device& device) {
  if (device.is_cpu()) return image_to_tensor(image, policy);
  return image_to_tensor_ops(image, policy, device);
}

torch::Tensor image_to_tensor_ops(const Image& image, AlphaPolicy policy, const torch::Device& device) {
  check_convertible(image, policy);
  // The samples as they are (8-bit ones narrowed to bytes), in pinned memory for a GPU.
  const bool eight = image.bit_depth == 8;
  const auto host_options =
      torch::TensorOptions().dtype(eight ? torch::kByte : torch::kShort).pinned_memory(device.is_cuda());
  auto samples = torch::empty({image.height, image.width, image.channels}, host_options);
  const int64_t count = samples.numel();
  const uint16_t* src = image.samples.data();
  if (eight) {
    uint8_t* dst = samples.data_ptr<uint8_t>();
    parallel_for(0, count, 4 * kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<uint8_t>(src[i]);
    });
  } else {
    std::memcpy(samples.data_ptr<int16_t>(), src, static_cast<std::size_t>(count) * sizeof(uint16_t));
  }
  // On the device: 16-bit levels reinterpreted as unsigned, colour channels first, and a true
  // division by a device scalar (a CPU scalar would become a multiply by its reciprocal),
  // so every value is the same float as the host's level table gives.
  auto levels = samples.to(device);
  if (!eight) levels = levels.to(torch::kInt32).bitwise_and(0xFFFF);
  levels = levels.slice(2, 0, image.is_grey() ? 1 : 3).permute({2, 0, 1}).to(torch::kFloat32);
  if (image.is_grey()) levels = levels.expand({3, image.height, image.width});
  const auto divisor =
      torch::full({}, static_cast<float>(image.max_value()), torch::TensorOptions().dtype(torch::kFloat32).device(device));
  return levels.div(divisor).unsqueeze(0).contiguous();
}

Image tensor_to_image_ops(const torch::Tensor& rgb, int channels, int bit_depth) {
  check_rgb_tensor(rgb, channels, bit_depth);
  const int64_t height = rgb.size(-2), width = rgb.size(-1);
  const auto float_options = torch::TensorOptions().dtype(torch::kFloat32).device(rgb.device());
  auto x = rgb.detach().reshape({3, height, width}).to(torch::kFloat32);
  if (channels == 1)  // (R + G) + B, then a true division by 3 (a device tensor: no reciprocal)
    x = ((x[0] + x[1]) + x[2]).div(torch::full({}, 3.0f, float_options)).unsqueeze(0);
  // As quantise(): NaN to 0, clamp, one multiply and one add, each rounded, then truncation.
  const double max_level = bit_depth == 8 ? 255.0 : 65535.0;
  const auto levels = x.nan_to_num(0.0, 1.0, 0.0)
                          .clamp(0.0, 1.0)
                          .mul(max_level)
                          .add(0.5)
                          .to(bit_depth == 8 ? torch::kByte : torch::kInt32)
                          .permute({1, 2, 0})
                          .contiguous();
  auto host = torch::empty(levels.sizes(), levels.options().device(torch::kCPU).pinned_memory(rgb.is_cuda()));
  host.copy_(levels);

  Image image = blank_image(width, height, channels, bit_depth);
  uint16_t* samples = image.samples.data();
  const int64_t count = host.numel();
  auto widen = [&](const auto* src) {
    parallel_for(0, count, 4 * kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) samples[i] = static_cast<uint16_t>(src[i]);
    });
  };
  if (bit_depth == 8)
    widen(host.data_ptr<uint8_t>());
  else
    widen(host.data_ptr<int32_t>());
  return image;
}

torch::Tensor image_to_tensor(const Image& image, AlphaPolicy policy) {
  check_convertible(image, policy);
  // One division per level, so every sample maps to exactly the float nearest v / max.
  const uint16_t max_level = image.max_value();
  std::vector<float> level_to_float(static_cast<std::size_t>(max_level) + 1);
  for (std::size_t v = 0; v < level_to_float.size(); ++v) {
    level_to_float[v] = static_cast<float>(v) / static_cast<float>(max_level);
  }

  const int64_t pixels = int64_t(image.width) * image.height;
  torch::Tensor tensor = torch::empty({1, 3, image.height, image.width}, torch::kFloat32);
  float* red = tensor.data_ptr<float>();
  float* green = red + pixels;
  float* blue = green + pixels;
  const uint16_t* samples = image.samples.data();
  const int64_t stride = image.channels;
  const bool grey = image.is_grey();
  const float* lut = level_to_float.data();
  parallel_for(0, pixels, kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint16_t* pixel = samples + i * stride;
      red[i] = lut[pixel[0]];
      green[i] = lut[pixel[grey ? 0 : 1]];
      blue[i] = lut[pixel[grey ? 0 : 2]];
    }
  });
  return tensor;
}

Image tensor_to_image(const torch::Tensor& rgb, int channels, int bit_depth) {
  check_rgb_tensor(rgb, channels, bit_depth);
  if (rgb.is_cuda()) return tensor_to_image_ops(rgb, channels, bit_depth);
  const int64_t height = rgb.size(-2);
  const int64_t width = rgb.size(-1);

  const torch::Tensor planes =
      rgb.detach().reshape({3, height, width}).to(torch::kCPU, torch::kFloat32).contiguous();
  Image image = blank_image(width, height, channels, bit_depth);

  const int64_t pixels = width * height;
  const float* red = planes.data_ptr<float>();
  const float* green = red + pixels;
  const float* blue = green + pixels;
  uint16_t* samples = image.samples.data();
  const float max_level = static_cast<float>(image.max_value());
  parallel_for(0, pixels, kParallelGrain, [&](int64_t begin, int64_t end) {
    if (channels == 3) {
      for (int64_t i = begin; i < end; ++i) {
        samples[3 * i] = quantise(red[i], max_level);
        samples[3 * i + 1] = quantise(green[i], max_level);
        samples[3 * i + 2] = quantise(blue[i], max_level);
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        samples[i] = quantise((red[i] + green[i] + blue[i]) / 3.0f, max_level);
      }
    }
  });
  return image;
}

}  // namespace cosae
