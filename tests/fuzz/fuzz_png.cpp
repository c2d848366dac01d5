// libFuzzer target for the PNG decoder: any input must either decode to a consistent image
// or throw cosae::Error; never crash, leak or trip a sanitizer.
//
// Built alone, without CMake or LibTorch:
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc tests/fuzz/fuzz_png.cpp src/io/png.cpp src/common/error.cpp -lpng -o /tmp/fuzz_png && /tmp/fuzz_png -runs=200000 -max_len=4096 /tmp/png_corpus
// (/tmp/png_corpus: a few small PNGs of each colour type, bit depth and interlacing.)
// -fno-sanitize-recover=all makes UBSan findings crash, so libFuzzer reports them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace {

uint32_t crc32(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> entries{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      entries[n] = c;
    }
    return entries;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

// The decoder refuses any chunk with a bad CRC, so mutated inputs rarely get past the first
// chunk. A copy with every complete chunk's CRC recomputed reaches the deeper code.
std::vector<uint8_t> with_repaired_crcs(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  size_t offset = 8;
  while (offset + 12 <= bytes.size()) {
    const uint8_t* p = bytes.data() + offset;
    const size_t length = (size_t(p[0]) << 24) | (size_t(p[1]) << 16) | (size_t(p[2]) << 8) | p[3];
    if (length > bytes.size() - offset - 12) break;
    const uint32_t crc = crc32(p + 4, 4 + length);
    uint8_t* crc_bytes = bytes.data() + offset + 8 + length;
    for (int i = 0; i < 4; ++i) crc_bytes[i] = uint8_t(crc >> (24 - 8 * i));
    offset += 12 + length;
  }
  return bytes;
}

void decode_and_check(const uint8_t* data, size_t size) {
  try {
    const cosae::Image image = cosae::decode_png(data, size);
    const bool consistent = image.width > 0 && image.height > 0 && image.channels >= 1 && image.channels <= 4 &&
                            (image.bit_depth == 8 || image.bit_depth == 16) &&
                            image.samples.size() == image.sample_count();
    if (!consistent) std::abort();
    for (const uint16_t sample : image.samples) {
      if (sample > image.max_value()) std::abort();
    }
    // A decoded image must re-encode and decode to the same samples.
    const std::vector<uint8_t> encoded = cosae::encode_png(image);
    const cosae::Image again = cosae::decode_png(encoded.data(), encoded.size());
    if (again.samples != image.samples || again.channels != image.channels) std::abort();
  } catch (const cosae::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode_and_check(data, size);
  const std::vector<uint8_t> repaired = with_repaired_crcs(data, size);
  decode_and_check(repaired.data(), repaired.size());
  return 0;
}
