// Eet and Qt resource readers; formats in containers.hpp.
#include "train/containers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "cosae/error.hpp"
#include "io/io_detail.hpp"

namespace cosae::train {
namespace {

constexpr uint32_t kEetMagic = 0x1ee70f42;
constexpr uint32_t kEetFlagCompressed = 0x1;
constexpr uint32_t kEetFlagCiphered = 0x2;
constexpr uint16_t kQtFlagZlib = 0x1;
constexpr uint16_t kQtFlagDirectory = 0x2;
constexpr uint16_t kQtFlagZstd = 0x4;
// A tree deeper than this, or a qCompress'd entry claiming more than this, is refused.
constexpr int kMaxTreeDepth = 64;
constexpr uint32_t kMaxUnpackedBytes = 1u << 30;

// Bounds-checked big-endian reads over the container.
class Reader {
 public:
  Reader(const std::vector<uint8_t>& bytes, const char* format) : bytes_(bytes), format_(format) {}
  std::size_t size() const { return bytes_.size(); }
  void need(uint64_t offset, uint64_t length) const {
    COSAE_CHECK(offset <= bytes_.size() && length <= bytes_.size() - offset, bad_input, format_, ": ", length,
                " bytes at offset ", offset, " lie past the end of the file (", bytes_.size(), " bytes)");
  }
  uint16_t u16(uint64_t offset) const {
    need(offset, 2);
    return static_cast<uint16_t>(bytes_[offset] << 8 | bytes_[offset + 1]);
  }
  uint32_t u32(uint64_t offset) const {
    need(offset, 4);
    return uint32_t(bytes_[offset]) << 24 | uint32_t(bytes_[offset + 1]) << 16 | uint32_t(bytes_[offset + 2]) << 8 |
           uint32_t(bytes_[offset + 3]);
  }
  const uint8_t* at(uint64_t offset) const { return bytes_.data() + offset; }

 private:
  const std::vector<uint8_t>& bytes_;
  const char* format_;
};

std::vector<EmbeddedImage> read_eet(const std::vector<uint8_t>& bytes) {
  const Reader file(bytes, "Eet file");
  const uint32_t entries = file.u32(4);
  constexpr uint64_t kHeader = 12;
  constexpr uint64_t kEntry = 24;
  file.need(kHeader, uint64_t(entries) * kEntry);  // bounds the count before the loop
  std::vector<EmbeddedImage> images;
  for (uint32_t i = 0; i < entries; ++i) {
    const uint64_t entry = kHeader + i * kEntry;
    const uint32_t offset = file.u32(entry);
    const uint32_t stored = file.u32(entry + 4);
    const uint32_t name_offset = file.u32(entry + 12);
    const uint32_t name_size = file.u32(entry + 16);
    const uint32_t flags = file.u32(entry + 20);
    file.need(offset, stored);
    file.need(name_offset, name_size);
    if (flags & (kEetFlagCompressed | kEetFlagCiphered)) continue;
    if (!is_image_file(file.at(offset), stored)) continue;
    std::string name(reinterpret_cast<const char*>(file.at(name_offset)), name_size);
    name = name.substr(0, name.find('\0'));
    images.push_back({name, offset, stored, false});
  }
  return images;
}

// qCompress: a 32-bit big-endian unpacked length, then a zlib stream.
std::vector<uint8_t> q_uncompress(const uint8_t* data, uint64_t length, const std::string& name) {
  COSAE_CHECK(length >= 4, bad_input, "Qt resources: ", name, ": compressed entry of ", length, " bytes");
  const uint32_t unpacked = uint32_t(data[0]) << 24 | uint32_t(data[1]) << 16 | uint32_t(data[2]) << 8 | data[3];
  COSAE_CHECK(unpacked <= kMaxUnpackedBytes, bad_input, "Qt resources: ", name, ": claims ", unpacked,
              " bytes unpacked");
  std::vector<uint8_t> out(unpacked);
  uLongf out_size = unpacked;
  const int status = ::uncompress(out.data(), &out_size, data + 4, static_cast<uLong>(length - 4));
  COSAE_CHECK(status == Z_OK && out_size == unpacked, bad_input, "Qt resources: ", name,
              ": corrupt zlib data (zlib status ", status, ")");
  return out;
}

std::vector<EmbeddedImage> read_qt_resources(const std::vector<uint8_t>& bytes) {
  const Reader file(bytes, "Qt resources");
  const uint32_t version = file.u32(4);
  COSAE_CHECK(version >= 1 && version <= 3, bad_input, "Qt resources: format ", version, " (known: 1 to 3)");
  const uint64_t tree = file.u32(8);
  const uint64_t data = file.u32(12);
  const uint64_t names = file.u32(16);
  const uint64_t node_size = version == 1 ? 14 : 22;

  // A name: 16-bit length in UTF-16 units, a 32-bit hash, the UTF-16BE text. Resource names
  // are file names; anything outside ASCII becomes '?'.
  auto name_at = [&](uint64_t offset) {
    const uint64_t start = names + offset;
    const uint16_t units = file.u16(start);
    file.need(start + 6, uint64_t(units) * 2);
    std::string name;
    for (uint16_t i = 0; i < units; ++i) {
      const uint16_t unit = file.u16(start + 6 + 2 * uint64_t(i));
      name += unit >= 0x20 && unit < 0x7f ? static_cast<char>(unit) : '?';
    }
    return name;
  };

  std::vector<EmbeddedImage> images;
  std::vector<bool> visited;  // each node once: a forged tree cannot loop
  std::function<void(uint64_t, const std::string&, int)> walk = [&](uint64_t node, const std::string& parent,
                                                                    int depth) {
    COSAE_CHECK(depth <= kMaxTreeDepth, bad_input, "Qt resources: tree deeper than ", kMaxTreeDepth);
    const uint64_t at = tree + node * node_size;
    file.need(at, node_size);
    if (visited.size() <= node) visited.resize(node + 1, false);
    COSAE_CHECK(!visited[node], bad_input, "Qt resources: tree node ", node, " reached twice");
    visited[node] = true;
    const uint16_t flags = file.u16(at + 4);
    const std::string name = node == 0 ? std::string() : parent + "/" + name_at(file.u32(at));
    if (flags & kQtFlagDirectory) {
      const uint32_t children = file.u32(at + 6);
      const uint64_t first = file.u32(at + 10);
      file.need(tree + first * node_size, uint64_t(children) * node_size);
      for (uint32_t c = 0; c < children; ++c) walk(first + c, name, depth + 1);
      return;
    }
    const uint64_t datum = data + file.u32(at + 10);
    const uint32_t length = file.u32(datum);
    file.need(datum + 4, length);
    if (flags & kQtFlagZstd) return;
    if (flags & kQtFlagZlib) {
      const std::vector<uint8_t> unpacked = q_uncompress(file.at(datum + 4), length, name);
      if (is_image_file(unpacked.data(), unpacked.size())) images.push_back({name, datum + 4, length, true});
    } else if (is_image_file(file.at(datum + 4), length)) {
      images.push_back({name, datum + 4, length, false});
    }
  };
  walk(0, "", 0);
  return images;
}

}  // namespace

bool is_image_file(const uint8_t* data, std::size_t size) {
  const bool jpeg = size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff;
  const bool webp = size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0;
  return jpeg || webp || io_detail::has_png_signature(data, size);
}

ContainerFormat container_format(const uint8_t* data, std::size_t size) {
  if (size >= 12 && (uint32_t(data[0]) << 24 | uint32_t(data[1]) << 16 | uint32_t(data[2]) << 8 | data[3]) == kEetMagic)
    return ContainerFormat::eet;
  if (size >= 20 && std::memcmp(data, "qres", 4) == 0) return ContainerFormat::qt_resources;
  return ContainerFormat::none;
}

std::vector<EmbeddedImage> list_embedded_images(const std::vector<uint8_t>& container) {
  switch (container_format(container.data(), container.size())) {
    case ContainerFormat::eet:
      return read_eet(container);
    case ContainerFormat::qt_resources:
      return read_qt_resources(container);
    case ContainerFormat::none:
      break;
  }
  COSAE_FAIL(bad_input, "not an Eet file or a Qt resource bundle");
}

std::vector<uint8_t> embedded_image_bytes(const std::vector<uint8_t>& container, const EmbeddedImage& image) {
  COSAE_CHECK(image.offset <= container.size() && image.length <= container.size() - image.offset, bad_input,
              image.name, ": lies past the end of its container");
  const uint8_t* begin = container.data() + image.offset;
  if (image.zlib) return q_uncompress(begin, image.length, image.name);
  return std::vector<uint8_t>(begin, begin + image.length);
}

std::vector<uint8_t> read_embedded_image(const std::string& container_path, const EmbeddedImage& image) {
  const int fd = ::open(container_path.c_str(), O_RDONLY | O_CLOEXEC);
  COSAE_CHECK(fd >= 0, io, container_path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  std::vector<uint8_t> stored;
  const bool fits = ::fstat(fd, &st) == 0 && image.offset <= uint64_t(st.st_size) &&
                    image.length <= uint64_t(st.st_size) - image.offset && image.length <= kMaxUnpackedBytes;
  if (fits) {
    stored.resize(image.length);
    std::size_t done = 0;
    while (done < stored.size()) {
      const ssize_t got = ::pread(fd, stored.data() + done, stored.size() - done, static_cast<off_t>(image.offset + done));
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    stored.resize(done);
  }
  ::close(fd);
  COSAE_CHECK(fits, bad_input, container_path, ":", image.name, ": lies past the end of the file");
  COSAE_CHECK(stored.size() == image.length, io, container_path, ":", image.name, ": short read");
  if (image.zlib) return q_uncompress(stored.data(), stored.size(), image.name);
  return stored;
}

}  // namespace cosae::train
