// Image quality metrics.
#pragma once

#include "cosae/image.hpp"

namespace cosae::eval {

// PSNR in dB over RGB (grey replicated, alpha ignored), on the images' own sample scale
// (peak 255 for 8-bit, 65535 for 16-bit; images of different depths compare in [0, 1]).
// Identical images give +infinity. Throws cosae::Error (usage) if the sizes differ.
double psnr(const Image& a, const Image& b);

}  // namespace cosae::eval
