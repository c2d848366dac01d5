// CRC-32 with the IEEE 802.3 polynomial, bit-reflected, as in zlib, PNG and gzip
// (check value: "123456789" -> 0xCBF43926).
#pragma once

#include <cstddef>
#include <cstdint>

namespace cosae {

// CRC of data[0, size). To checksum in pieces, pass the previous result as `crc`:
// crc32(b, nb, crc32(a, na)) == crc32 of a followed by b.
uint32_t crc32(const uint8_t* data, std::size_t size, uint32_t crc = 0);

}  // namespace cosae
