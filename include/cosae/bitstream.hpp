// The cosae bitstream container: a small header describing the image and the model that coded
// it, the codec's opaque payload streams, and a CRC-32 over everything. The byte layout is
// documented field by field in the README ("Bitstream format").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cosae {

// The newest format version this build reads and writes. Any layout change bumps it; a reader
// refuses versions newer than its own with a "written by a newer cosae" error. A writer uses
// the oldest version that holds the header (format_version_for): 1 without a detail layer, 2
// with one (version 2 adds the detail level and the detail stream count after the bit depth),
// 3 for the conditional coding (version 2's fields, the detail level may be 0).
constexpr uint8_t kBitstreamFormatVersion = 3;

constexpr std::size_t kMaxModelIdLength = 64;  // model ids: 1..64 chars, '!'..'~' (no spaces)
constexpr std::size_t kMaxPayloadStreams = 16;  // all streams, the detail layer's included
// The detail layer (codec/detail.hpp): its levels and its share of the streams.
constexpr int kMaxDetailLevel = 48;
constexpr int kMaxDetailStreams = 8;

using Sha256Digest = std::array<uint8_t, 32>;

// How the codec coded the cosine coefficients (see DESIGN.md, "The codec").
enum class CodingMode : uint8_t {
  polar = 0,      // amplitude, then phase with amplitude-dependent levels
  cartesian = 1,  // a = A cos(phase), b = A sin(phase)
  adaptive = 2,   // Cartesian, each channel under a table chosen for this image (codec/adaptive.hpp)
  cell_gains = 3,  // adaptive, with a gain on the tables' scales per cell
  conditional = 4,  // the conditional entropy model (codec/conditional.hpp); format version 3
};
// "polar", "cartesian", "adaptive", "cell-gains", "conditional" ("?" for any other value).
const char* coding_mode_name(CodingMode mode);

// The format version a header with this mode and detail level is written in.
uint8_t format_version_for(CodingMode mode, int64_t detail_level);

struct BitstreamHeader {
  // What parse_bitstream read; write_bitstream ignores it and writes the oldest version that
  // holds the header (format_version_for).
  uint8_t format_version = 1;
  std::string model_id;       // stable model identity, e.g. "cosae-k64-d64-v1"
  Sha256Digest model_sha256{};  // SHA-256 of the model file's bytes
  uint8_t quality = 1;        // quality level, >= 1; its upper bound is the model's business
  CodingMode mode = CodingMode::polar;
  // The original image, before padding to a multiple of the model's downsampling factor.
  int width = 0;       // 1..kMaxImageSide
  int height = 0;      // 1..kMaxImageSide, and width * height <= kMaxImagePixels
  int channels = 0;    // 1..4: grey, grey+alpha, RGB, RGBA
  int bit_depth = 8;   // 8 or 16
  // The detail layer: its level, 0 (none) or 1..kMaxDetailLevel, and how many of the streams,
  // the last ones, are its: 0 without one, else 1..kMaxDetailStreams, leaving at least one.
  int detail_level = 0;
  int detail_streams = 0;
};

// A stream inside the parsed buffer: valid only while that buffer is.
struct ByteSpan {
  const uint8_t* data = nullptr;
  std::size_t size = 0;
  const uint8_t* begin() const { return data; }
  const uint8_t* end() const { return data + size; }
};

struct ParsedBitstream {
  BitstreamHeader header;
  std::vector<ByteSpan> streams;  // 0..kMaxPayloadStreams, in the order they were written
  std::size_t header_size = 0;    // bytes before the first stream (header overhead is this + 4)
};

// Serialises header and streams. Throws cosae::Error (usage) for a header that parse_bitstream
// would refuse, or more than kMaxPayloadStreams streams. The output is canonical: parsing it
// and writing the result again reproduces it byte for byte.
std::vector<uint8_t> write_bitstream(const BitstreamHeader& header, const std::vector<std::vector<uint8_t>>& streams);

// Parses and validates a whole bitstream; the returned spans point into `data`. Throws
// cosae::Error (bad_input) for anything that is not a complete, intact bitstream of a supported
// version: wrong magic, truncation, CRC mismatch, out-of-range or unknown fields, stream
// lengths that do not add up to the data exactly. Nothing is allocated from an unchecked field.
ParsedBitstream parse_bitstream(const uint8_t* data, std::size_t size);

// Throws cosae::Error (model) unless the bitstream was coded with this model (same id and
// same file hash); the message names both models.
void check_bitstream_model(const BitstreamHeader& header, const std::string& model_id,
                           const Sha256Digest& model_sha256);

}  // namespace cosae
