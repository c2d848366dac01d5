// The codec's payload: the quantised latent as S independent rANS streams, so that several
// threads code and decode them at once. Stream g holds frequencies [g K / S, (g + 1) K / S):
// - Cartesian: the a channels of those frequencies, then their b channels, each channel's
//   symbols round(y - median) in cell order with the channel's table;
// - polar: their (a, b) pairs as amplitude and phase (codec/polar.hpp);
// - adaptive: the Cartesian channels in the same order, each led by its choice of table for
//   this image (codec/adaptive.hpp);
// - cell gains: the adaptive coding with a gain per cell, the gains leading stream 0.
// S = 1 is one stream of all 2K channels in channel order.
#pragma once

#include <cstdint>
#include <vector>

#include "codec/adaptive.hpp"
#include "cosae/bitstream.hpp"
#include "entropy/cdf_table.hpp"

namespace cosae::codec {

// The latent's 2K channels x n cells, centred on the medians (channel-major).
struct PayloadShape {
  int64_t frequencies = 0;  // K
  int64_t cells = 0;        // n = h * w
};

// How many streams the encoder writes: one per 2^16 symbols, at least 1 and at most
// min(K, kMaxPayloadStreams), so small images pay for one stream's flush only.
int64_t payload_streams(const PayloadShape& shape);

using Payload = std::vector<std::vector<uint8_t>>;  // the streams, in order

// One way to code the payload. tables: the 2K Cartesian tables (Cartesian and the adaptive codings), or
// the K amplitude tables for polar.
struct PayloadCoding {
  CodingMode mode;
  const std::vector<entropy::CdfTable>* tables;
};

// Codes `centred` (2K x n floats) into `streams` streams once per coding; all streams of all
// codings run in one parallel loop (common/parallel.hpp).
std::vector<Payload> encode_payloads(const float* centred, const PayloadShape& shape,
                                     const std::vector<PayloadCoding>& codings, int64_t streams);

// Decodes the streams into symbols (2K x n floats): the integer symbols for Cartesian, the
// reconstructed pairs for polar. Throws cosae::Error (bad_input) for a stream count outside
// 1..K, corrupt or truncated streams, or streams with bytes left over.
void decode_payload(const std::vector<ByteSpan>& streams, const PayloadShape& shape, CodingMode mode,
                    const std::vector<entropy::CdfTable>& tables, float* symbols);

}  // namespace cosae::codec
