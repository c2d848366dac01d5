#include "entropy/rans.hpp"

#include <algorithm>

#include "cosae/error.hpp"

namespace cosae::entropy {
namespace {

// Lower bound of the normalised state interval [kStateLow, kStateLow << 32).
constexpr uint64_t kStateLow = uint64_t{1} << 31;
constexpr uint32_t kSlotMask = kTotalFrequency - 1;

void append_word(std::vector<uint8_t>& bytes, uint32_t word) {
  bytes.push_back(static_cast<uint8_t>(word));
  bytes.push_back(static_cast<uint8_t>(word >> 8));
  bytes.push_back(static_cast<uint8_t>(word >> 16));
  bytes.push_back(static_cast<uint8_t>(word >> 24));
}

uint32_t load_word(const uint8_t* bytes) {
  return uint32_t{bytes[0]} | (uint32_t{bytes[1]} << 8) | (uint32_t{bytes[2]} << 16) | (uint32_t{bytes[3]} << 24);
}

void check_table(const CdfTable& table) {
  COSAE_CHECK(!table.empty(), usage, "rANS: coding with an empty CDF table");
}

void check_bit_count(int count) {
  COSAE_CHECK(count >= 0 && count <= 32, usage, "rANS: bit field of ", count, " bits; expected 0..32");
}

void check_uniform_count(uint32_t count) {
  COSAE_CHECK(count >= 1 && count <= kTotalFrequency, usage, "rANS: uniform symbol over ", count,
              " values; expected 1..", kTotalFrequency);
}

// Value v of a uniform distribution over n values owns the slots [start(v), start(v + 1)):
// every value gets floor(2^16 / n) or one more slot.
uint32_t uniform_start(uint32_t value, uint32_t count) {
  return static_cast<uint32_t>((uint64_t{value} << kPrecisionBits) / count);
}

}  // namespace

// ---------------------------------------------------------------- encoder

void RansEncoder::put_uniform(uint32_t value, uint32_t count) {
  check_uniform_count(count);
  COSAE_CHECK(value < count, usage, "rANS: uniform value ", value, " not below ", count);
  if (count == 1) return;
  const uint32_t start = uniform_start(value, count);
  push_step(start, uniform_start(value + 1, count) - start);
}

void RansEncoder::push_bits_chunk(uint32_t bits, int count) {
  const int free_bits = kPrecisionBits - count;
  const uint32_t field = bits & ((uint32_t{1} << count) - 1);
  push_step(field << free_bits, uint32_t{1} << free_bits);
}

void RansEncoder::put_bits(uint32_t bits, int count) {
  check_bit_count(count);
  // Low chunk first; the decoder reassembles in the same order.
  if (count > kPrecisionBits) {
    push_bits_chunk(bits, kPrecisionBits);
    bits >>= kPrecisionBits;
    count -= kPrecisionBits;
  }
  if (count > 0) push_bits_chunk(bits, count);
}

void RansEncoder::put(int32_t value, const CdfTable& table) {
  check_table(table);
  if (table.in_range(value)) {
    const int32_t symbol = value - table.offset();
    push_step(table.start(symbol), table.frequency(symbol));
    return;
  }
  COSAE_CHECK(value >= -kMaxMagnitude && value <= kMaxMagnitude, usage, "rANS: value ", value, " exceeds +-",
              kMaxMagnitude);
  const int32_t escape = table.escape_symbol();
  push_step(table.start(escape), table.frequency(escape));
  const bool above = value > table.max_value();
  const int64_t distance = above ? int64_t{value} - table.max_value() - 1 : int64_t{table.min_value()} - value - 1;
  const uint64_t code = static_cast<uint64_t>(distance) + 1;
  const int length = bit_length(code);
  push_bits_chunk(above ? 1 : 0, 1);
  push_bits_chunk(static_cast<uint32_t>(length - 1), kEscapeLengthFieldBits);
  put_bits(static_cast<uint32_t>(code), length - 1);  // put_bits masks off the leading 1
}

std::vector<uint8_t> RansEncoder::finish() {
  std::vector<uint32_t> words;  // in the order they are emitted: the reverse of reading
  words.reserve(steps_.size() / 2 + 1);
  uint64_t state = kStateLow;
  for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
    const uint64_t start = *step & kSlotMask;
    const uint64_t frequency = (*step >> kPrecisionBits) + 1;
    // Emit a word first if coding would leave the interval: the state after coding is
    // below 2^63 exactly when the state before it is below frequency << 47.
    if (state >= (frequency << (63 - kPrecisionBits))) {
      words.push_back(static_cast<uint32_t>(state));
      state >>= 32;
    }
    state = ((state / frequency) << kPrecisionBits) + (state % frequency) + start;
  }
  steps_.clear();

  std::vector<uint8_t> bytes;
  bytes.reserve(8 + 4 * words.size());
  append_word(bytes, static_cast<uint32_t>(state));
  append_word(bytes, static_cast<uint32_t>(state >> 32));
  for (auto word = words.rbegin(); word != words.rend(); ++word) append_word(bytes, *word);
  return bytes;
}

// ---------------------------------------------------------------- decoder

RansDecoder::RansDecoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
  COSAE_CHECK(data != nullptr || size == 0, usage, "rANS: null stream of ", size, " bytes");
  COSAE_CHECK(size >= 8 && size % 4 == 0, bad_input, "rANS: stream of ", size,
              " bytes; expected a multiple of 4, at least 8");
  const uint64_t low = read_word();
  state_ = low | (uint64_t{read_word()} << 32);
  COSAE_CHECK(state_ >= kStateLow && state_ < (kStateLow << 32), bad_input, "rANS: initial state out of range");
}

uint32_t RansDecoder::read_word() {
  COSAE_CHECK(size_ - position_ >= 4, bad_input, "rANS: stream truncated after ", size_, " bytes");
  const uint32_t word = load_word(data_ + position_);
  position_ += 4;
  return word;
}

void RansDecoder::advance(uint32_t slot, uint32_t start, uint32_t frequency) {
  // With state in [2^31, 2^63) and 1 <= frequency <= 2^16, the new state lies in
  // [2^15, 2^63), and one refill brings it back to at least 2^47.
  state_ = frequency * (state_ >> kPrecisionBits) + slot - start;
  if (state_ < kStateLow) state_ = (state_ << 32) | read_word();
}

int32_t RansDecoder::get(const CdfTable& table) {
  check_table(table);
  const uint32_t slot = static_cast<uint32_t>(state_) & kSlotMask;
  const int32_t symbol = table.symbol_for_slot(slot);
  advance(slot, table.start(symbol), table.frequency(symbol));
  if (symbol != table.escape_symbol()) return table.offset() + symbol;
  return get_escaped_value(table);
}

int32_t RansDecoder::get_escaped_value(const CdfTable& table) {
  const bool above = get_bits_chunk(1) != 0;
  const int length = static_cast<int>(get_bits_chunk(kEscapeLengthFieldBits)) + 1;
  COSAE_CHECK(length <= kMaxEscapeLengthBits, bad_input, "rANS: escape length ", length, " exceeds ",
              kMaxEscapeLengthBits, " bits");
  const uint64_t code = (uint64_t{1} << (length - 1)) | get_bits(length - 1);
  const int64_t distance = static_cast<int64_t>(code) - 1;
  const int64_t value = above ? int64_t{table.max_value()} + 1 + distance : int64_t{table.min_value()} - 1 - distance;
  COSAE_CHECK(value >= -kMaxMagnitude && value <= kMaxMagnitude, bad_input, "rANS: escaped value ", value,
              " exceeds +-", kMaxMagnitude);
  return static_cast<int32_t>(value);
}

uint32_t RansDecoder::get_bits_chunk(int count) {
  const int free_bits = kPrecisionBits - count;
  const uint32_t slot = static_cast<uint32_t>(state_) & kSlotMask;
  const uint32_t field = slot >> free_bits;
  advance(slot, field << free_bits, uint32_t{1} << free_bits);
  return field;
}

uint32_t RansDecoder::get_bits(int count) {
  check_bit_count(count);
  uint32_t bits = 0;
  int shift = 0;
  if (count > kPrecisionBits) {
    bits = get_bits_chunk(kPrecisionBits);
    shift = kPrecisionBits;
    count -= kPrecisionBits;
  }
  if (count > 0) bits |= get_bits_chunk(count) << shift;
  return bits;
}

uint32_t RansDecoder::get_uniform(uint32_t count) {
  check_uniform_count(count);
  if (count == 1) return 0;
  const uint32_t slot = static_cast<uint32_t>(state_) & kSlotMask;
  // The largest v with start(v) <= slot, i.e. v * 2^16 < (slot + 1) * count.
  const auto value = static_cast<uint32_t>(((uint64_t{slot} + 1) * count - 1) >> kPrecisionBits);
  const uint32_t start = uniform_start(value, count);
  advance(slot, start, uniform_start(value + 1, count) - start);
  return value;
}

void RansDecoder::finish() const {
  COSAE_CHECK(position_ == size_, bad_input, "rANS: ", size_ - position_, " of ", size_,
              " stream bytes left unread");
  COSAE_CHECK(state_ == kStateLow, bad_input, "rANS: final state mismatch (corrupt stream)");
}

}  // namespace cosae::entropy
