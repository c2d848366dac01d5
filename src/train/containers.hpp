// Images stored inside container files that Debian packages ship photos in, read without the
// programs that made them:
//
// - Eet (".edj", ".eet", Enlightenment): magic 0x1ee70f42, then the entry count and the
//   dictionary size, then per entry six big-endian 32-bit words (data offset, stored size,
//   unpacked size, name offset, name size, flags), the names elsewhere in the file. An edje
//   theme's "edje/images/N" entries hold lossy images as plain JPEG files; entries flagged as
//   compressed or ciphered (lossless images in Eet's own pixel format) are passed over.
// - Qt resource bundles (".rcc", formats 1 to 3): "qres", the format, then the offsets of the
//   tree, the data and the names (format 3 adds a flags word). Tree nodes are 14 bytes (18 + 8
//   from format 2: a modification time): name offset, flags (1 zlib, 2 folder, 4 zstd), then a
//   folder's child count and first child, or a file's locale and data offset. Each datum is a
//   32-bit length and the bytes; zlib data is Qt's qCompress (a 32-bit unpacked length, then
//   a zlib stream). zstd data is passed over (Qt 6; no package here uses it for images).
//
// Only entries whose bytes are an image file (PNG, JPEG or WebP by their signature) are
// returned. Every offset and length is checked against the file before it is used: a
// truncated or forged container is refused with bad_input, never read out of bounds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cosae::train {

// Where an image file lies in its container.
struct EmbeddedImage {
  std::string name;      // the entry's name inside the container ("edje/images/0", "/a/b.webp")
  uint64_t offset = 0;   // of the stored bytes in the container
  uint64_t length = 0;   // stored bytes
  bool zlib = false;     // stored as Qt's qCompress: unpacked by the readers below
};

enum class ContainerFormat { none, eet, qt_resources };

// What the first bytes say the file is.
ContainerFormat container_format(const uint8_t* data, std::size_t size);

// The image files inside a container, in the order of its directory (Eet) or its tree, depth
// first (Qt). Throws bad_input for a malformed container, and for data that is no container.
std::vector<EmbeddedImage> list_embedded_images(const std::vector<uint8_t>& container);

// The image file itself, from the container's bytes or from the container file (reading only
// its part of the file). Throws bad_input when the entry does not fit the container, io when
// the file cannot be read.
std::vector<uint8_t> embedded_image_bytes(const std::vector<uint8_t>& container, const EmbeddedImage& image);
std::vector<uint8_t> read_embedded_image(const std::string& container_path, const EmbeddedImage& image);

// PNG, JPEG or WebP, by the signature.
bool is_image_file(const uint8_t* data, std::size_t size);

}  // namespace cosae::train
