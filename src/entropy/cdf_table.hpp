// Integer CDF tables: one channel's discrete distribution in the form the rANS coder uses.
//
// A table covers the values [offset, offset + symbol_count() - 2]; symbol i stands for the value
// offset + i, and the last symbol is ESCAPE, which stands for every value outside that range.
// Frequencies are 16-bit fixed point (they sum to exactly 1 << 16) and none is zero, so every
// value the coder accepts can be coded.
//
// Escape payload (coded after the ESCAPE symbol, through the same coder with uniform
// power-of-two frequencies, so it is exact and costs one bit per bit):
//   1 bit   side: 1 when the value lies above the range, 0 when below;
//   d >= 0  the distance beyond the range: value = max_value() + 1 + d, or min_value() - 1 - d;
//   5 bits  n - 1, where n = bit length of d + 1 (1..kMaxEscapeLengthBits);
//   n - 1 bits  d + 1 without its leading 1 bit (Elias-gamma with a fixed-width length).
// Every value the coder handles has |value| <= kMaxMagnitude, which bounds d, n and the
// decoder's work; a decoder rejects payloads that would give anything larger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace cosae::entropy {

constexpr int kPrecisionBits = 16;
constexpr uint32_t kTotalFrequency = 1u << kPrecisionBits;
// Every symbol needs a frequency of at least 1, so a table has at most 1 << 16 symbols.
constexpr int64_t kMaxSymbols = int64_t{1} << kPrecisionBits;
// Largest magnitude of a coded value (table ranges included): |value| < 2^24.
constexpr int32_t kMaxMagnitude = (1 << 24) - 1;
// Escape payload widths (see above). d + 1 <= 2 * kMaxMagnitude + 1 < 2^25.
constexpr int kEscapeLengthFieldBits = 5;
constexpr int kMaxEscapeLengthBits = 25;

class CdfTable {
 public:
  // An empty table; it cannot code anything until assigned from a factory below.
  CdfTable() = default;

  // A table from stored integers (as read from a model file): cdf has symbol_count + 1
  // entries, cdf[0] = 0, cdf.back() = kTotalFrequency, strictly increasing. Throws
  // cosae::Error (model) when validate() rejects them.
  static CdfTable from_cdf(int32_t offset, std::vector<uint32_t> cdf);

  // A table quantised from probabilities: pmf[i] is the probability of the value offset + i
  // and tail_mass the probability of all values outside the range (the ESCAPE symbol). The
  // inputs need not sum to 1 (they are normalised). Frequencies are rounded and then fixed up
  // greedily by their effect on the coded size, so the table stays close to the pmf and every
  // symbol keeps a frequency of at least 1. Throws cosae::Error (usage) for negative,
  // non-finite or all-zero probabilities, or a range that the limits above do not allow.
  static CdfTable from_pmf(int32_t offset, const std::vector<double>& pmf, double tail_mass = 0.0);
  static CdfTable from_pmf(int32_t offset, const std::vector<float>& pmf, double tail_mass = 0.0);
  static CdfTable from_pmf(int32_t offset, std::initializer_list<double> pmf, double tail_mass = 0.0) {
    return from_pmf(offset, std::vector<double>(pmf), tail_mass);
  }

  // Throws cosae::Error (model) unless (offset, cdf) form a usable table: 2..kMaxSymbols
  // symbols, cdf[0] = 0, last entry kTotalFrequency, every frequency >= 1, and the value
  // range inside [-kMaxMagnitude, kMaxMagnitude].
  static void validate(int32_t offset, const std::vector<uint32_t>& cdf);

  bool empty() const { return cdf_.empty(); }
  int32_t offset() const { return offset_; }
  // Symbols including ESCAPE.
  int64_t symbol_count() const { return static_cast<int64_t>(cdf_.size()) - 1; }
  int32_t escape_symbol() const { return static_cast<int32_t>(symbol_count() - 1); }
  int32_t min_value() const { return offset_; }
  int32_t max_value() const { return static_cast<int32_t>(offset_ + symbol_count() - 2); }
  bool in_range(int32_t value) const { return value >= min_value() && value <= max_value(); }
  const std::vector<uint32_t>& cdf() const { return cdf_; }

  // Start and frequency of a symbol (0 <= symbol < symbol_count()).
  uint32_t start(int32_t symbol) const { return cdf_[static_cast<size_t>(symbol)]; }
  uint32_t frequency(int32_t symbol) const {
    return cdf_[static_cast<size_t>(symbol) + 1] - cdf_[static_cast<size_t>(symbol)];
  }
  // The symbol whose interval [start, start + frequency) holds slot (slot < kTotalFrequency).
  int32_t symbol_for_slot(uint32_t slot) const;

  // The ideal size in bits of coding value with this table: -log2(frequency / 2^16), plus the
  // escape payload for values outside the range. Throws (usage) if |value| > kMaxMagnitude.
  double cost_bits(int32_t value) const;

 private:
  CdfTable(int32_t offset, std::vector<uint32_t> cdf) : offset_(offset), cdf_(std::move(cdf)) {}

  int32_t offset_ = 0;
  std::vector<uint32_t> cdf_;
};

// Bit length of a positive number: 1 for 1, 2 for 2..3, ... (std::bit_width is C++20).
inline int bit_length(uint64_t number) {
  int length = 0;
  while (number != 0) {
    ++length;
    number >>= 1;
  }
  return length;
}

}  // namespace cosae::entropy
