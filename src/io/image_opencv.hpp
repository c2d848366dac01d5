// Formats other than PNG, through OpenCV (image_opencv.cpp, built only with COSAE_WITH_OPENCV).
// No OpenCV header here, so image.cpp compiles without OpenCV installed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cosae/image.hpp"

namespace cosae::opencv_io {

// Decodes JPEG, WebP, TIFF, BMP, PPM/PGM, ... (whatever this OpenCV reads). 8- and 16-bit,
// 1/3/4 channels; other sample types are refused. Throws bad_input for corrupt data.
Image decode_image(const uint8_t* data, std::size_t size);

// Encodes for `extension` (".jpg", ".webp", ".tif", ".bmp", ".ppm", ...). Formats limited to
// 8 bits get 16-bit samples rounded to 8 bits; formats without alpha refuse a translucent
// alpha channel (an opaque one is dropped).
std::vector<uint8_t> encode_image(const Image& image, const std::string& extension);

}  // namespace cosae::opencv_io
