// libFuzzer target for the bitstream parser: any input must either parse, and then write back
// to exactly the same bytes, or throw cosae::Error (bad_input); never crash, leak, allocate
// without bound or trip a sanitizer.
//
// Built alone, without CMake or LibTorch:
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc tests/fuzz/fuzz_bitstream.cpp src/bitstream/*.cpp src/common/error.cpp -o /tmp/fuzz_bitstream && /tmp/fuzz_bitstream -runs=1000000 /tmp/bitstream_corpus
// Seed (a header without its CRC: the appended-CRC variant below turns it into a valid one):
//   mkdir -p /tmp/bitstream_corpus && { printf '\x89CSA\x01\x00\x03\x03\x08\x40\x30\x01m'; head -c 32 /dev/zero; printf '\x02\x02\x01ABC'; } > /tmp/bitstream_corpus/seed
// -fno-sanitize-recover=all makes UBSan findings crash, so libFuzzer reports them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "bitstream/crc32.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"

namespace {

void store_crc(uint8_t* out, uint32_t crc) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(crc >> (8 * i));
}

void parse_and_check(const uint8_t* data, size_t size) {
  cosae::ParsedBitstream parsed;
  try {
    parsed = cosae::parse_bitstream(data, size);
  } catch (const cosae::Error& error) {
    if (error.kind() != cosae::ErrorKind::bad_input) std::abort();
    return;
  }
  // Outside the try: write_bitstream refusing a header that parse_bitstream accepted is a bug.
  std::vector<std::vector<uint8_t>> streams;
  for (const cosae::ByteSpan& stream : parsed.streams) {
    if (stream.data < data || stream.size > size || stream.data + stream.size > data + size) std::abort();
    streams.emplace_back(stream.begin(), stream.end());
  }
  const std::vector<uint8_t> rewritten = cosae::write_bitstream(parsed.header, streams);
  if (rewritten != std::vector<uint8_t>(data, data + size)) std::abort();
}

}  // namespace

// A mutated input almost always fails the CRC, so each input is also tried with its last four
// bytes replaced by the CRC of the rest, and with a CRC appended: those reach field validation.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  parse_and_check(data, size);
  std::vector<uint8_t> bytes(data, data + size);
  if (size >= 4) {
    store_crc(bytes.data() + size - 4, cosae::crc32(data, size - 4));
    parse_and_check(bytes.data(), bytes.size());
  }
  bytes.assign(data, data + size);
  bytes.resize(size + 4);
  store_crc(bytes.data() + size, cosae::crc32(data, size));
  parse_and_check(bytes.data(), bytes.size());
  return 0;
}
