#include "eval/metrics.hpp"

#include <cmath>
#include <limits>

#include "cosae/error.hpp"

namespace cosae::eval {

namespace {
// Sample `c` (0..2) of pixel `i` as RGB in [0, 1]: grey replicated, alpha ignored.
double rgb_sample(const Image& image, std::size_t pixel, int c) {
  const std::size_t base = pixel * static_cast<std::size_t>(image.channels);
  const uint16_t v = image.is_grey() ? image.samples[base] : image.samples[base + static_cast<std::size_t>(c)];
  return static_cast<double>(v) / static_cast<double>(image.max_value());
}
}  // namespace

double psnr(const Image& a, const Image& b) {
  COSAE_CHECK(a.width == b.width && a.height == b.height, usage, "PSNR: images differ in size (", a.width, "x",
              a.height, " and ", b.width, "x", b.height, ")");
  COSAE_CHECK(a.samples.size() == a.sample_count() && b.samples.size() == b.sample_count(), usage,
              "PSNR: inconsistent image");
  const std::size_t pixels = static_cast<std::size_t>(a.width) * static_cast<std::size_t>(a.height);
  COSAE_CHECK(pixels > 0, usage, "PSNR: empty image");
  double sum = 0;  // in double, from the integer samples: exact enough for any image size
  for (std::size_t p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c) {
      const double d = rgb_sample(a, p, c) - rgb_sample(b, p, c);
      sum += d * d;
    }
  const double mse = sum / static_cast<double>(3 * pixels);
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(1.0 / mse);
}

}  // namespace cosae::eval
