// Images as cosae reads and writes them: interleaved samples at their original bit depth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cosae {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;   // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
  int bit_depth = 8;  // 8 or 16
  // Row-major, channels interleaved; each sample in [0, 2^bit_depth - 1].
  std::vector<uint16_t> samples;

  bool has_alpha() const { return channels == 2 || channels == 4; }
  bool is_grey() const { return channels <= 2; }
  std::size_t sample_count() const {
    return static_cast<std::size_t>(width) * height * channels;
  }
  uint16_t max_value() const { return static_cast<uint16_t>((1u << bit_depth) - 1); }
};

// Largest image cosae accepts, per side and in total (bounds every allocation made from a
// file's header).
constexpr int64_t kMaxImageSide = 1 << 16;         // 65536
constexpr int64_t kMaxImagePixels = int64_t(1) << 30;  // ~1.07 gigapixel

// PNG (always available). Palette images are expanded to RGB/RGBA, grey below 8 bits to 8,
// and a tRNS chunk to an alpha channel; 8- and 16-bit samples are kept as they are; interlaced
// images are de-interlaced. A CRC error in any chunk, a header beyond the limits above, or a
// header claiming more pixels than the data could hold is refused before allocation.
// Throws cosae::Error (bad_input for corrupt/truncated/empty data, io for unreadable files);
// errors of the path-taking functions start with the path.
Image decode_png(const uint8_t* data, std::size_t size);
Image read_png(const std::string& path);
std::vector<uint8_t> encode_png(const Image& image);
// Written to a temporary file beside `path`, then renamed: never a half-written file.
void write_png(const std::string& path, const Image& image);

// Any supported format: PNG always; JPEG, WebP, TIFF, BMP, PPM/PGM when built with OpenCV.
// The format is recognised from the bytes, not the name. "-" reads standard input.
// Without OpenCV, a non-PNG image throws ErrorKind::unavailable.
Image read_image(const std::string& path);
// The same, from a file's bytes in memory.
Image decode_image(const uint8_t* data, std::size_t size);
// Format chosen from the extension, case-insensitively (.png always; .jpg/.jpeg/.webp/.tif/
// .tiff/.bmp/.ppm/.pgm need OpenCV; anything else is a usage error). "-" writes PNG to stdout.
void write_image(const std::string& path, const Image& image);

// Reads a whole file ("-" for stdin); a directory or unopenable path is an io error.
std::vector<uint8_t> read_file(const std::string& path);
// Writes a file atomically: a temporary file in the same directory, then rename, so a failure
// leaves the old file (or none) and no temporary. "-" is stdout; devices and pipes are written
// in place; through a symbolic link, the linked file is replaced.
void write_file_atomic(const std::string& path, const uint8_t* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::string& text);
// Creates a folder and the missing folders above it (mkdir -p); io error when one cannot be
// created or the path is a file.
void make_directories(const std::string& path);

}  // namespace cosae
