// Helpers shared by the image I/O sources. Torch-free and OpenCV-free: png.cpp includes it and
// is also compiled alone into the PNG fuzzer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae::io_detail {

// How error messages name a path: "-" is a stream, not a file called "-".
inline std::string display_name(const std::string& path, bool for_output) {
  if (path == "-") return for_output ? "standard output" : "standard input";
  return path;
}

// Runs `body`; a cosae::Error escaping it is rethrown with "<name>: " in front of its message
// (same kind and origin), so that low-level decoders need not know which file they decode.
template <typename Body>
auto with_source_name(const std::string& name, Body&& body) -> decltype(body()) {
  try {
    return std::forward<Body>(body)();
  } catch (const Error& error) {
    throw Error(error.kind(), name + ": " + error.what(), error.file(), error.line());
  }
}

inline constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

inline bool has_png_signature(const uint8_t* data, std::size_t size) {
  return size >= sizeof(kPngSignature) && std::memcmp(data, kPngSignature, sizeof(kPngSignature)) == 0;
}

// Width and height a decoder may allocate for; anything else is refused before allocation.
inline void check_image_dimensions(int64_t width, int64_t height) {
  COSAE_CHECK(width > 0 && height > 0, bad_input, "image has no pixels (", width, "x", height, ")");
  COSAE_CHECK(width <= kMaxImageSide && height <= kMaxImageSide, bad_input, "image is ", width,
              "x", height, " pixels; the largest side cosae accepts is ", kMaxImageSide);
  COSAE_CHECK(width * height <= kMaxImagePixels, bad_input, "image is ", width, "x", height,
              " pixels; cosae accepts at most ", kMaxImagePixels, " pixels");
}

// True when the image has no alpha channel or its alpha is at the maximum everywhere.
inline bool alpha_is_opaque(const Image& image) {
  if (!image.has_alpha()) return true;
  const uint16_t opaque = image.max_value();
  const std::size_t step = static_cast<std::size_t>(image.channels);
  for (std::size_t i = step - 1; i < image.samples.size(); i += step) {
    if (image.samples[i] != opaque) return false;
  }
  return true;
}

// An Image handed to an encoder must be self-consistent; `what` names the operation.
inline void check_image_for_encoding(const Image& image, const char* what) {
  COSAE_CHECK(image.channels >= 1 && image.channels <= 4, bad_input, what, ": images have 1 to 4 channels, not ",
              image.channels);
  COSAE_CHECK(image.bit_depth == 8 || image.bit_depth == 16, bad_input, what,
              ": bit depth must be 8 or 16, not ", image.bit_depth);
  check_image_dimensions(image.width, image.height);
  COSAE_CHECK(image.samples.size() == image.sample_count(), bad_input, what, ": image holds ",
              image.samples.size(), " samples; ", image.width, "x", image.height, "x", image.channels,
              " needs ", image.sample_count());
  if (image.bit_depth == 8) {
    bool in_range = true;
    for (const uint16_t sample : image.samples) in_range &= sample <= 255;
    COSAE_CHECK(in_range, bad_input, what, ": an 8-bit image holds a sample above 255");
  }
}

}  // namespace cosae::io_detail
