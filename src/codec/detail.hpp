// The detail layer: what the network's reconstruction (the base) misses, coded on top of it by
// a classic transform coder, so that quality can rise past the network's ceiling.
//
// The residual, image minus base in 8-bit sample units (a 16-bit image's samples divided by
// 257), goes through an orthonormal colour transform (rows (1, 1, 1)/sqrt 3, (1, 0, -1)/sqrt 2,
// (1, -2, 1)/sqrt 6; a grey image has its one channel), 8x8 blocks (the image padded to whole
// blocks; the padding is the encoder's business, the decoder crops) and the orthonormal 2-D
// DCT-II. Coefficient (u, v) of colour channel c in block b is quantised with the step of the
// detail level, kDetailChromaFactor times larger for the two colour-difference channels:
//   symbol = round-towards-zero-ish(coefficient / step)   (the encoder's choice; see .cpp)
//   coefficient' = symbol * step                          (the decoder's, part of the format)
// The decoder adds the inverse transform of the coefficients' to the base and rounds to the
// image's levels.
//
// Coding: one rANS stream per coded channel (1 or 3), each holding that channel's 64 planes,
// (u, v) in raster order; a plane is the coefficient (u, v) of every block, blocks in raster
// order. A plane starts with a symbol of the adaptive choice table (codec/adaptive.hpp): 0 when
// all its symbols are 0 (nothing follows), 1 otherwise. A symbol's context is one of 3 x 4
// classes: the sum of the magnitudes of the same plane's symbols in the blocks to its left and
// above (0 outside the image) is 0, 1..2 or 3 and more; and of the same block's earlier planes
// of its channel, 0, 1..2, 3..7 or 8 and more are non-zero. A non-zero plane has the 12
// classes' adaptive choices (0 = every symbol of the class is 0, 2 + k = discretised Laplace
// of scale index k; 1, a learned table, is refused), then its symbols of the non-zero classes
// in raster order.
#pragma once

#include <cstdint>
#include <vector>

#include "cosae/bitstream.hpp"
#include "cosae/image.hpp"

namespace cosae::codec {

inline constexpr int kDetailBlock = 8;
// The colour-difference channels' step over the luma's.
inline constexpr double kDetailChromaFactor = 1.5;

// The quantiser step of detail level d (1..kMaxDetailLevel), in 8-bit sample units:
// 1024 * 2^(-d/4), so 512 at level 4, 64 at level 16 and 1 at level 40. Throws cosae::Error
// (usage) outside 1..kMaxDetailLevel.
double detail_step(int level);

// How many streams the detail layer of an image of `channels` coded channels has: one per
// channel. Throws cosae::Error (usage) unless channels is 1 or 3.
int detail_streams(int channels);

// The detail layer of `original` over `base` (the decoder's reconstruction without it: same
// size and bit depth, 1 channel for a grey original, 3 for colour; alpha is not coded).
// Throws cosae::Error (usage) for images that do not match or a level outside 1..kMaxDetailLevel.
std::vector<std::vector<uint8_t>> encode_detail(const Image& original, const Image& base, int level);

// Adds the decoded detail layer to `base` in place. Throws cosae::Error (bad_input) for a
// stream count other than the base's channels, corrupt or truncated streams, or streams with
// bytes left over.
void decode_detail(const std::vector<ByteSpan>& streams, int level, Image& base);

}  // namespace cosae::codec
