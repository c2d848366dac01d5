#include "eval/metrics.hpp"

#include <cmath>
#include <limits>

#include "cosae/error.hpp"
#include "io/tensor_image.hpp"

namespace cosae::eval {

double psnr(const Image& a, const Image& b) {
  COSAE_CHECK(a.width == b.width && a.height == b.height, usage, "PSNR: images differ in size (", a.width, "x",
              a.height, " and ", b.width, "x", b.height, ")");
  const auto x = image_to_tensor(a, AlphaPolicy::discard).to(torch::kDouble);
  const auto y = image_to_tensor(b, AlphaPolicy::discard).to(torch::kDouble);
  const double mse = (x - y).pow(2).mean().item<double>();
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(1.0 / mse);
}

}  // namespace cosae::eval
