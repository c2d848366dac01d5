// Baseline codecs for `cosae eval`, each where this build has it:
// - jpeg, webp: through OpenCV (baselines_opencv.cpp, COSAE_WITH_OPENCV): JPEG with libjpeg's
//   defaults (4:2:0 chroma, baseline Huffman) and lossy WebP;
// - avif: libavif (baselines_avif.cpp, COSAE_WITH_AVIF), 4:2:0, encoder speed 6, as
//   `avifenc -s 6 -y 420`;
// - jxl: libjxl (baselines_jxl.cpp, COSAE_WITH_JXL), effort 7, as `cjxl -e 7`.
// Each takes a quality 1..100, mapped as the codec's own tools map it: AVIF's quantizer
// (0..63, min = max) is round((100 - q) * 63 / 100) as in libavif 1.0's `--qcolor`; JPEG XL's
// distance is libjxl's JxlEncoderDistanceFromQuality (q 90 = distance 1.0; 100 = lossless).
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

// Every baseline cosae knows, and those this build has.
const std::vector<std::string>& known_baselines();
std::vector<std::string> available_baselines();
bool baseline_available(const std::string& codec);

// The default quality sweep of a baseline (`cosae eval --baselines`).
std::vector<int> default_baseline_qualities(const std::string& codec);

// `rgb8`: 8-bit RGB; `quality` 1..100. Throws cosae::Error (usage for an unknown codec or a
// quality out of range, unavailable for one this build lacks).
BaselineCoded code_with_baseline(const std::string& codec, const Image& rgb8, int quality);

namespace detail {
// One per library; each defined only in builds with it.
BaselineCoded code_with_opencv(const std::string& codec, const Image& rgb8, int quality);
BaselineCoded code_with_avif(const Image& rgb8, int quality);
BaselineCoded code_with_jxl(const Image& rgb8, int quality);
}  // namespace detail

}  // namespace cosae::eval
