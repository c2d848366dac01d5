// Polar coding of the latent: each frequency's coefficient pair (a_k, b_k), centred on the
// prior's medians, is coded as an integer amplitude m = round(sqrt(a^2 + b^2)) and, where
// m > 0, a phase index j among phase_levels(m) equal steps of the circle; m = 0 codes no phase.
// The decoder rebuilds (a, b) = m (cos 2pi j / N, sin 2pi j / N). The Cartesian mode codes
// round(a) and round(b) with their per-channel tables instead.
//
// The amplitude's prior comes from the Cartesian tables of its two channels (the model file
// holds no other): the probability of m is the mass of the integer points (i, j) with
// round(sqrt(i^2 + j^2)) = m under p_a(i) p_b(j). The phase is coded as uniform. Both are
// computed in integer arithmetic, so every machine builds the same tables from the same file.
#pragma once

#include <cstdint>
#include <vector>

#include "entropy/cdf_table.hpp"
#include "entropy/rans.hpp"

namespace cosae::codec {

// Phase levels at amplitude m >= 1: round(2 pi m), capped at 2^16 (the coder's limit), so
// each quantisation cell of the ring spans about one unit of arc, like a Cartesian cell.
uint32_t phase_levels(int32_t amplitude);

// The amplitude table of a channel pair from their Cartesian tables (see above). Values
// beyond the table, and points outside either channel's range, take the ESCAPE symbol.
entropy::CdfTable amplitude_table(const entropy::CdfTable& a, const entropy::CdfTable& b);

// One table per frequency: pairs channel k with channel k + K of 2K Cartesian tables.
std::vector<entropy::CdfTable> amplitude_tables(const std::vector<entropy::CdfTable>& cartesian);

struct PolarSymbol {
  int32_t amplitude = 0;  // 0 .. kMaxMagnitude
  uint32_t phase = 0;     // 0 .. phase_levels(amplitude) - 1; 0 when the amplitude is 0
};

// Quantises a centred coefficient pair (non-finite input gives amplitude 0).
PolarSymbol polar_quantize(float a, float b);
// The pair a symbol stands for.
void polar_reconstruct(const PolarSymbol& symbol, float& a, float& b);

// Codes K frequencies x n cells: a[k * n + i] and b[k * n + i] are the centred pairs;
// tables[k] (k < K) the amplitude tables. Amplitude then phase, cell by cell, frequency by
// frequency.
void put_polar(entropy::RansEncoder& coder, const float* a, const float* b, int64_t K, int64_t n,
               const entropy::CdfTable* tables);
// Decodes what put_polar coded into a and b (each K x n).
void get_polar(entropy::RansDecoder& coder, float* a, float* b, int64_t K, int64_t n, const entropy::CdfTable* tables);

}  // namespace cosae::codec
