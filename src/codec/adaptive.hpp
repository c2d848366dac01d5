// The adaptive codings' parts (codec/payload.hpp says where each goes in a stream):
// - a channel, led by a choice symbol (adaptive_choice_table()): 0, every symbol of the
//   channel is 0 and none follows; 1, the symbols follow under the channel's learned table;
//   2 + k, under the discretised Laplace table of scale index k (adaptive_laplace_table(k),
//   scale 2^(k/4 - 3)). With cell gains, cell i's symbol takes the table of index
//   clamp(k + gains[i], 0, kAdaptiveScales - 1) instead: the channel's scale times
//   2^(gains[i]/4), one gain per cell shared by every channel.
// - the cell gains: one such choice and the n gains, coded as a channel without a learned
//   table (choice 1 is refused).
// The encoder picks each choice that codes its symbols in the fewest bits (forward adaptation
// to each image; the choices and gains are the side information).
#pragma once

#include <cstdint>
#include <vector>

#include "entropy/cdf_table.hpp"
#include "entropy/rans.hpp"

namespace cosae::codec {

// Laplace scales of the adaptive codings: 2^(k/4 - 3) for k in [0, kAdaptiveScales), 0.125 to
// about 430.
inline constexpr int kAdaptiveScales = 48;
// Both are built from integers alone, the same on every machine, and are part of the stream
// format. adaptive_laplace_table throws cosae::Error (usage) for k outside [0, kAdaptiveScales).
const entropy::CdfTable& adaptive_choice_table();
const entropy::CdfTable& adaptive_laplace_table(int k);

// Gains the encoder tries: [kMinCellGain, kMaxCellGain] (scale steps of 2^(1/4)); the decoder
// accepts any |gain| < kAdaptiveScales.
inline constexpr int kMinCellGain = -24;
inline constexpr int kMaxCellGain = 12;

// The cheapest choice for n symbols without a learned table: 0 when they are all zero (or
// n = 0), else 2 + k for the Laplace scale index k that codes them in the fewest bits.
int32_t laplace_choice(const int32_t* symbols, int64_t n);

// round(v), clamped to the coder's range; non-finite values become 0 (the Cartesian symbol of
// a centred latent value).
int32_t cartesian_symbol(float v);

// The gain of each of n cells for the channels' symbols (channel-major, channels x n): the
// one that codes the cell's symbols of every channel that is not all zero in the fewest bits,
// each channel at its own maximum-likelihood scale. All zero when the gains do not pay for
// themselves.
std::vector<int32_t> fit_cell_gains(const int32_t* symbols, int64_t channels, int64_t n);

// One channel of n symbols: its choice, then its symbols. learned: the channel's learned table,
// or null for none (the cell gains); gains: null, or n gains.
void put_adaptive_channel(entropy::RansEncoder& coder, const int32_t* symbols, int64_t n,
                          const entropy::CdfTable* learned, const int32_t* gains);
// Throws cosae::Error (bad_input) for a choice outside the tables.
void get_adaptive_channel(entropy::RansDecoder& coder, int32_t* symbols, int64_t n, const entropy::CdfTable* learned,
                          const int32_t* gains);

// The n cell gains as a channel without a learned table. get_cell_gains throws cosae::Error
// (bad_input) for a gain with |gain| >= kAdaptiveScales.
void put_cell_gains(entropy::RansEncoder& coder, const std::vector<int32_t>& gains);
std::vector<int32_t> get_cell_gains(entropy::RansDecoder& coder, int64_t n);

}  // namespace cosae::codec
