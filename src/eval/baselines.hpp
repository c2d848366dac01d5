// Baseline codecs for `cosae eval`, through OpenCV's encoders (baselines_opencv.cpp, built
// only with COSAE_WITH_OPENCV): JPEG (libjpeg defaults: 4:2:0 chroma, baseline Huffman) and
// lossy WebP, both at a quality setting 1..100.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cosae/image.hpp"

namespace cosae::eval {

struct BaselineCoded {
  std::vector<uint8_t> bytes;   // the whole file
  Image decoded;                // 8-bit RGB
  double encode_s = 0, decode_s = 0;
};

// True when this build has the baselines.
bool baselines_available();
// `codec`: "jpeg" or "webp"; `rgb8`: 8-bit RGB. Throws cosae::Error (unavailable without
// OpenCV, usage for an unknown codec).
BaselineCoded code_with_baseline(const std::string& codec, const Image& rgb8, int quality);

}  // namespace cosae::eval
