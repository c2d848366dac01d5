// Format dispatch for reading and writing images. Reading trusts the bytes (the PNG signature),
// not the file name; writing picks the format from the extension. Torch-free.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/io_detail.hpp"
#if defined(COSAE_WITH_OPENCV)
#include "io/image_opencv.hpp"
#endif

namespace cosae {
namespace {

constexpr const char* kOpenCvExtensions[] = {".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm"};

// Lower-case extension with its dot (".png"), or "" when the file name has none.
std::string lower_case_extension(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string extension = path.substr(dot);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

bool is_opencv_extension(const std::string& extension) {
  return std::any_of(std::begin(kOpenCvExtensions), std::end(kOpenCvExtensions),
                     [&](const char* known) { return extension == known; });
}

#if !defined(COSAE_WITH_OPENCV)
bool starts_with(const std::vector<uint8_t>& bytes, std::size_t offset, const char* prefix) {
  const std::size_t length = std::strlen(prefix);
  return bytes.size() >= offset + length && std::memcmp(bytes.data() + offset, prefix, length) == 0;
}

// Recognises the formats an OpenCV build would read, to tell "unsupported here" from "corrupt".
bool looks_like_other_image_format(const std::vector<uint8_t>& bytes) {
  const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
  const bool webp = starts_with(bytes, 0, "RIFF") && starts_with(bytes, 8, "WEBP");
  const bool tiff = bytes.size() >= 4 && ((bytes[0] == 'I' && bytes[1] == 'I' && bytes[2] == '*' && bytes[3] == 0) ||
                                          (bytes[0] == 'M' && bytes[1] == 'M' && bytes[2] == 0 && bytes[3] == '*'));
  const bool bmp = starts_with(bytes, 0, "BM");
  const bool pnm = bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7';
  return jpeg || webp || tiff || bmp || pnm;
}
#endif

}  // namespace

Image read_png(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return io_detail::with_source_name(io_detail::display_name(path, false),
                                     [&] { return decode_png(bytes.data(), bytes.size()); });
}

void write_png(const std::string& path, const Image& image) {
  const std::vector<uint8_t> encoded =
      io_detail::with_source_name(io_detail::display_name(path, true), [&] { return encode_png(image); });
  write_file_atomic(path, encoded.data(), encoded.size());
}

Image decode_image(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(size > 0, bad_input, "empty file (0 bytes)");
  if (io_detail::has_png_signature(data, size)) return decode_png(data, size);
#if defined(COSAE_WITH_OPENCV)
  return opencv_io::decode_image(data, size);
#else
  const std::vector<uint8_t> head(data, data + std::min<std::size_t>(size, 16));
  COSAE_CHECK(!looks_like_other_image_format(head), unavailable,
              "only PNG is supported in this build (built without OpenCV)");
  COSAE_FAIL(bad_input, "not a PNG file, and only PNG is supported in this build (built without OpenCV)");
#endif
}

Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return io_detail::with_source_name(io_detail::display_name(path, false),
                                     [&] { return decode_image(bytes.data(), bytes.size()); });
}

void write_image(const std::string& path, const Image& image) {
  const std::string name = io_detail::display_name(path, true);
  const std::string extension = path == "-" ? ".png" : lower_case_extension(path);
  std::vector<uint8_t> encoded;
  if (extension == ".png") {
    encoded = io_detail::with_source_name(name, [&] { return encode_png(image); });
  } else if (is_opencv_extension(extension)) {
#if defined(COSAE_WITH_OPENCV)
    encoded = io_detail::with_source_name(name, [&] { return opencv_io::encode_image(image, extension); });
#else
    COSAE_FAIL(unavailable, name, ": only PNG is supported in this build (built without OpenCV)");
#endif
  } else {
    const std::string found = extension.empty() ? "no extension" : "the extension '" + extension + "'";
    COSAE_FAIL(usage, name, ": cannot tell the image format from ", found,
               " (use .png, .jpg, .jpeg, .webp, .tif, .tiff, .bmp, .ppm or .pgm)");
  }
  write_file_atomic(path, encoded.data(), encoded.size());
}

}  // namespace cosae
