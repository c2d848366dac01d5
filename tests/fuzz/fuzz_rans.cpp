// libFuzzer target for the rANS decoder: arbitrary bytes must decode or throw cosae::Error,
// never crash, hang, or trip a sanitizer. Two oracles on top of that:
//  - a decode that passes finish() is the inverse of encoding: re-encoding the decoded values
//    must give back exactly the input bytes;
//  - values built from the input (escapes included) must survive encode -> decode.
//
// Built alone, without CMake or LibTorch:
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc tests/fuzz/fuzz_rans.cpp src/entropy/rans.cpp src/entropy/cdf_table.cpp src/common/error.cpp -o /tmp/fuzz_rans && /tmp/fuzz_rans -runs=1000000 -max_len=4096
// -fno-sanitize-recover=all makes UBSan findings crash, so libFuzzer reports them.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "cosae/error.hpp"
#include "entropy/cdf_table.hpp"
#include "entropy/rans.hpp"

namespace {

using cosae::entropy::CdfTable;
using cosae::entropy::kMaxMagnitude;
using cosae::entropy::kMaxSymbols;
using cosae::entropy::RansDecoder;
using cosae::entropy::RansEncoder;

constexpr size_t kMaxSymbolsPerInput = 4096;

// Fixed tables of different shapes: a peaked Laplacian with a tail, ESCAPE at half the
// probability, a wide near-uniform range, and the largest table (every frequency 1).
const std::vector<CdfTable>& fixed_tables() {
  static const std::vector<CdfTable> tables = [] {
    std::vector<double> laplacian;
    for (int v = -8; v <= 8; ++v) laplacian.push_back(std::exp(-std::abs(v) / 1.5));
    std::vector<double> wide(300, 1.0);
    wide[150] = 50.0;
    return std::vector<CdfTable>{
        CdfTable::from_pmf(-8, laplacian, 0.01),
        CdfTable::from_cdf(3, {0, 1u << 15, 1u << 16}),
        CdfTable::from_pmf(-150, wide, 0.001),
        CdfTable::from_pmf(-1000, std::vector<double>(static_cast<size_t>(kMaxSymbols - 1), 1.0)),
    };
  }();
  return tables;
}

// What the i-th coded item is: a value under one of the tables, or a raw bit field.
struct Item {
  int table;       // -1 for a bit field
  int bit_count;   // for a bit field
};

Item item_for(size_t index, uint8_t pattern) {
  const uint32_t mixed = static_cast<uint32_t>(index) * 2654435761u + pattern * 97u;
  if ((mixed >> 29) == 7 && (pattern & 0x80)) return Item{-1, static_cast<int>((mixed >> 8) % 33)};
  return Item{static_cast<int>((mixed >> 16) % fixed_tables().size()), 0};
}

void encode_item(RansEncoder& encoder, const Item& item, uint32_t value) {
  if (item.table < 0) {
    encoder.put_bits(value, item.bit_count);
  } else {
    encoder.put(static_cast<int32_t>(value), fixed_tables()[static_cast<size_t>(item.table)]);
  }
}

uint32_t decode_item(RansDecoder& decoder, const Item& item) {
  if (item.table < 0) return decoder.get_bits(item.bit_count);
  return static_cast<uint32_t>(decoder.get(fixed_tables()[static_cast<size_t>(item.table)]));
}

void decode_arbitrary_stream(uint8_t pattern, size_t count, const uint8_t* data, size_t size) {
  std::vector<uint32_t> values;
  try {
    RansDecoder decoder(data, size);
    for (size_t i = 0; i < count; ++i) values.push_back(decode_item(decoder, item_for(i, pattern)));
    decoder.finish();
  } catch (const cosae::Error& error) {
    if (error.kind() != cosae::ErrorKind::bad_input) std::abort();
    return;
  }
  RansEncoder encoder;
  for (size_t i = 0; i < count; ++i) encode_item(encoder, item_for(i, pattern), values[i]);
  const std::vector<uint8_t> bytes = encoder.finish();
  if (bytes.size() != size || !std::equal(bytes.begin(), bytes.end(), data)) std::abort();
}

void round_trip_values(uint8_t pattern, const uint8_t* data, size_t size) {
  std::vector<uint32_t> values;
  RansEncoder encoder;
  for (size_t i = 0; i + 4 <= size && values.size() < kMaxSymbolsPerInput; i += 4) {
    const Item item = item_for(values.size(), pattern);
    uint32_t value = uint32_t{data[i]} | uint32_t{data[i + 1]} << 8 | uint32_t{data[i + 2]} << 16 |
                     uint32_t{data[i + 3]} << 24;
    if (item.table >= 0) {
      // Mostly small values, sometimes anything within the magnitude bound.
      const int32_t raw = static_cast<int32_t>(value);
      const int32_t bound = (data[i] & 3) == 0 ? kMaxMagnitude : 400;
      value = static_cast<uint32_t>(raw % (bound + 1));
    } else if (item.bit_count < 32) {
      value &= (uint32_t{1} << item.bit_count) - 1;
    }
    encode_item(encoder, item, value);
    values.push_back(value);
  }
  const std::vector<uint8_t> bytes = encoder.finish();
  RansDecoder decoder(bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    if (decode_item(decoder, item_for(i, pattern)) != values[i]) std::abort();
  }
  decoder.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const uint8_t pattern = data[1];
  if (mode & 1) {
    round_trip_values(pattern, data + 2, size - 2);
  } else {
    const size_t count = (size_t{data[2]} << 4 | mode >> 4) % (kMaxSymbolsPerInput + 1);
    decode_arbitrary_stream(pattern, count, data + 3, size - 3);
  }
  return 0;
}
