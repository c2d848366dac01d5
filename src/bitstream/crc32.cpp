#include "bitstream/crc32.hpp"

#include <array>

namespace cosae {
namespace {

// One table lookup per byte: fast enough for bitstreams, which are a few megabytes at most.
std::array<uint32_t, 256> make_crc32_table() {
  constexpr uint32_t kReflectedPolynomial = 0xEDB88320u;
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? kReflectedPolynomial ^ (crc >> 1) : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

}  // namespace

uint32_t crc32(const uint8_t* data, std::size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc32_table();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace cosae
