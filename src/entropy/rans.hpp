// rANS entropy coder: 64-bit state, 32-bit renormalisation, 16-bit frequencies (after Fabian
// Giesen's rans64). Each coded symbol may use a different CdfTable (per-channel priors).
//
// Stream format (every word little-endian, whatever the host):
//   bytes 0..7   the encoder's final state, low 32-bit word first;
//   then         32-bit words in the order the decoder reads them.
// So a stream is a multiple of 4 bytes, at least 8 long; an empty sequence codes to the 8
// bytes of the initial state 2^31. The decoder keeps the state in [2^31, 2^63) whatever bytes
// it is given, so all of its arithmetic is exact 64-bit integer maths, identical on every CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "entropy/cdf_table.hpp"

namespace cosae::entropy {

// Queues symbols in coding order; finish() codes them backwards (rANS is last-in first-out)
// so that the decoder reads them forwards.
class RansEncoder {
 public:
  // Queues value, coded with table; values outside the table's range are coded as ESCAPE
  // plus the payload described in cdf_table.hpp. The table need not outlive the call.
  // Throws cosae::Error (usage) for an empty table or |value| > kMaxMagnitude.
  void put(int32_t value, const CdfTable& table);
  // Queues the low `count` bits of `bits` (0 <= count <= 32) at exactly one bit each.
  void put_bits(uint32_t bits, int count);
  // Queues value (< count) of a uniform distribution over count values, 1 <= count <= 2^16:
  // log2(count) bits to within the 16-bit rounding of its frequencies; nothing when count is 1.
  // Throws cosae::Error (usage) outside those bounds.
  void put_uniform(uint32_t value, uint32_t count);

  // Coder steps queued so far (one per symbol, one or more per escape or bit field).
  size_t pending_steps() const { return steps_.size(); }

  // Codes everything queued and returns the stream; the encoder is empty again afterwards.
  std::vector<uint8_t> finish();

 private:
  void push_step(uint32_t start, uint32_t frequency) {
    steps_.push_back(start | ((frequency - 1) << kPrecisionBits));
  }
  void push_bits_chunk(uint32_t bits, int count);  // count in 1..kPrecisionBits

  // One entry per coder step: start in the low 16 bits, frequency - 1 in the high 16 bits.
  std::vector<uint32_t> steps_;
};

// Reads symbols in the order they were put, with the same tables. Corrupt or truncated input
// never reads outside [data, data + size): reading past the end throws cosae::Error
// (bad_input), as does an escape payload that decodes to |value| > kMaxMagnitude.
class RansDecoder {
 public:
  // Does not copy: data must outlive the decoder. Throws (bad_input) unless size is a
  // multiple of 4, at least 8, and the initial state is in range.
  RansDecoder(const uint8_t* data, size_t size);
  explicit RansDecoder(const std::vector<uint8_t>& bytes) : RansDecoder(bytes.data(), bytes.size()) {}

  // Throws (usage) for an empty table.
  int32_t get(const CdfTable& table);
  uint32_t get_bits(int count);  // 0 <= count <= 32, else throws (usage)
  uint32_t get_uniform(uint32_t count);  // 1 <= count <= 2^16, else throws (usage)

  // Throws (bad_input) unless every byte was consumed and the state is back at its initial
  // value: the check that the stream held exactly the symbols that were read.
  void finish() const;
  size_t bytes_consumed() const { return position_; }

 private:
  uint32_t get_bits_chunk(int count);  // count in 1..kPrecisionBits
  int32_t get_escaped_value(const CdfTable& table);
  // Removes the symbol [start, start + frequency) whose slot was state & mask, then refills.
  void advance(uint32_t slot, uint32_t start, uint32_t frequency);
  uint32_t read_word();

  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  uint64_t state_ = 0;
};

}  // namespace cosae::entropy
