// The bitstream container. Layout (all multi-byte integers little-endian; docs/bitstream.md
// "Bitstream" has it field by field):
//   magic "\x89CSA" | version u8 | mode u8 | quality u8 | channels u8 | bit depth u8 |
//   [version >= 2: detail level u8 | detail stream count u8] |
//   width varint | height varint | model id length u8 | model id | model SHA-256 (32) |
//   stream count u8 | stream lengths (varints) | streams | CRC-32 u32 of all bytes before it
// Varints are unsigned LEB128 and must be minimal, so every header has exactly one encoding
// and parse -> write reproduces the input bytes.
#include "cosae/bitstream.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "bitstream/crc32.hpp"
#include "bitstream/sha256.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae {
namespace {

// 0x89 (high bit set) catches 7-bit transports; the letters make the file recognisable.
constexpr uint8_t kMagic[4] = {0x89, 'C', 'S', 'A'};
constexpr std::size_t kCrcSize = 4;
// The part every format version shares: magic, version byte and the trailing CRC.
constexpr std::size_t kVersionIndependentSize = sizeof(kMagic) + 1 + kCrcSize;
constexpr std::size_t kModelHashSize = 32;
// Varint fields wider than this are refused while reading, before any range check.
constexpr uint64_t kMaxSideFieldValue = 0xFFFFFFFFu;

// Header fields in wide types, so that the writer (ints from the caller) and the parser
// (values read from the file) share one validation.
struct HeaderFields {
  int64_t mode = 0, quality = 0, channels = 0, bit_depth = 0, width = 0, height = 0;
  int64_t detail_level = 0, detail_streams = 0;
  std::string model_id;
};

// Empty when the fields are valid; otherwise a one-line description of the first bad field.
std::string header_problem(const HeaderFields& fields) {
  using detail::concat;
  if (fields.mode != int64_t(CodingMode::polar) && fields.mode != int64_t(CodingMode::cartesian) &&
      fields.mode != int64_t(CodingMode::adaptive) && fields.mode != int64_t(CodingMode::cell_gains) &&
      fields.mode != int64_t(CodingMode::conditional)) {
    return concat("unknown coding mode ", fields.mode,
                  " (0 = polar, 1 = cartesian, 2 = adaptive, 3 = cell gains, 4 = conditional)");
  }
  if (fields.quality < 1 || fields.quality > 255) return concat("quality ", fields.quality, " outside 1..255");
  if (fields.channels < 1 || fields.channels > 4) return concat("channel count ", fields.channels, " outside 1..4");
  if (fields.bit_depth != 8 && fields.bit_depth != 16) return concat("bit depth ", fields.bit_depth, " is not 8 or 16");
  if (fields.width < 1 || fields.width > kMaxImageSide || fields.height < 1 || fields.height > kMaxImageSide) {
    return concat("image size ", fields.width, "x", fields.height, " outside 1..", kMaxImageSide, " per side");
  }
  if (fields.width * fields.height > kMaxImagePixels) {  // both <= 2^16: no overflow
    return concat("image size ", fields.width, "x", fields.height, " exceeds ", kMaxImagePixels, " pixels");
  }
  if (fields.detail_level < 0 || fields.detail_level > kMaxDetailLevel)
    return concat("detail level ", fields.detail_level, " outside 0..", kMaxDetailLevel);
  if ((fields.detail_level == 0) != (fields.detail_streams == 0) || fields.detail_streams < 0 ||
      fields.detail_streams > kMaxDetailStreams) {
    return concat("detail layer of level ", fields.detail_level, " in ", fields.detail_streams,
                  " streams (0 streams without one, 1..", kMaxDetailStreams, " with one)");
  }
  if (fields.model_id.empty() || fields.model_id.size() > kMaxModelIdLength) {
    return concat("model id length ", fields.model_id.size(), " outside 1..", kMaxModelIdLength);
  }
  for (std::size_t i = 0; i < fields.model_id.size(); ++i) {
    const auto byte = static_cast<unsigned char>(fields.model_id[i]);
    if (byte < 0x21 || byte > 0x7E) {
      return concat("model id byte ", i, " (value ", unsigned(byte), ") is not printable ASCII without spaces");
    }
  }
  return {};
}

void append_varint(std::vector<uint8_t>& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

// Reads the header region [data, end); every read is bounds-checked and names its field.
class HeaderReader {
 public:
  HeaderReader(const uint8_t* data, const uint8_t* end) : position_(data), end_(end) {}

  std::size_t remaining() const { return static_cast<std::size_t>(end_ - position_); }
  const uint8_t* position() const { return position_; }

  uint8_t read_u8(const char* field) {
    require(1, field);
    return *position_++;
  }

  const uint8_t* read_bytes(std::size_t count, const char* field) {
    require(count, field);
    const uint8_t* bytes = position_;
    position_ += count;
    return bytes;
  }

  // Minimal unsigned LEB128, at most max_value. The bound is checked per byte, so a run of
  // continuation bytes is refused within ten bytes and nothing overflows.
  uint64_t read_varint(uint64_t max_value, const char* field) {
    uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t byte = read_u8(field);
      const uint64_t group = byte & 0x7Fu;
      COSAE_CHECK(shift < 64 && group <= (max_value >> shift) && (group << shift) <= max_value - value, bad_input,
                  "bitstream ", field, " is out of range (corrupt header)");
      value |= group << shift;
      if ((byte & 0x80u) == 0) {
        COSAE_CHECK(byte != 0 || shift == 0, bad_input, "bitstream ", field, " has a non-minimal varint encoding");
        return value;
      }
    }
  }

 private:
  void require(std::size_t count, const char* field) {
    COSAE_CHECK(count <= remaining(), bad_input, "bitstream header ends inside the ", field,
                " (corrupt or truncated)");
  }

  const uint8_t* position_;
  const uint8_t* end_;
};

uint32_t load_u32_le(const uint8_t* bytes) {
  return uint32_t(bytes[0]) | (uint32_t(bytes[1]) << 8) | (uint32_t(bytes[2]) << 16) | (uint32_t(bytes[3]) << 24);
}

std::string short_hex(const Sha256Digest& digest) { return to_hex(digest).substr(0, 16); }

}  // namespace

uint8_t format_version_for(CodingMode mode, int64_t detail_level) {
  if (mode == CodingMode::conditional) return 3;
  return detail_level == 0 ? 1 : 2;
}

std::vector<uint8_t> write_bitstream(const BitstreamHeader& header, const std::vector<std::vector<uint8_t>>& streams) {
  const HeaderFields fields{int64_t(header.mode), header.quality,      header.channels,       header.bit_depth,
                            header.width,         header.height,       header.detail_level,   header.detail_streams,
                            header.model_id};
  const std::string problem = header_problem(fields);
  COSAE_CHECK(problem.empty(), usage, "write_bitstream: ", problem);
  COSAE_CHECK(streams.size() <= kMaxPayloadStreams, usage, "write_bitstream: ", streams.size(),
              " payload streams, at most ", kMaxPayloadStreams);
  COSAE_CHECK(header.detail_streams == 0 || static_cast<int64_t>(streams.size()) > header.detail_streams, usage, "write_bitstream: ",
              streams.size(), " streams, the detail layer's ", header.detail_streams, " and none for the base");
  const uint8_t version = format_version_for(header.mode, header.detail_level);

  std::size_t payload_size = 0;
  for (const auto& stream : streams) payload_size += stream.size();
  std::vector<uint8_t> out;
  out.reserve(96 + header.model_id.size() + 10 * streams.size() + payload_size);
  out.insert(out.end(), std::begin(kMagic), std::end(kMagic));
  out.push_back(version);
  out.push_back(static_cast<uint8_t>(header.mode));
  out.push_back(header.quality);
  out.push_back(static_cast<uint8_t>(header.channels));
  out.push_back(static_cast<uint8_t>(header.bit_depth));
  if (version >= 2) {
    out.push_back(static_cast<uint8_t>(header.detail_level));
    out.push_back(static_cast<uint8_t>(header.detail_streams));
  }
  append_varint(out, static_cast<uint64_t>(header.width));
  append_varint(out, static_cast<uint64_t>(header.height));
  out.push_back(static_cast<uint8_t>(header.model_id.size()));
  out.insert(out.end(), header.model_id.begin(), header.model_id.end());
  out.insert(out.end(), header.model_sha256.begin(), header.model_sha256.end());
  out.push_back(static_cast<uint8_t>(streams.size()));
  for (const auto& stream : streams) append_varint(out, stream.size());
  for (const auto& stream : streams) out.insert(out.end(), stream.begin(), stream.end());
  const uint32_t crc = crc32(out.data(), out.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  return out;
}

ParsedBitstream parse_bitstream(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(data != nullptr || size == 0, usage, "parse_bitstream: null data with size ", size);
  COSAE_CHECK(size > 0, bad_input, "empty bitstream");
  // Magic first (on as many bytes as there are), so that other files are named as such.
  for (std::size_t i = 0; i < sizeof(kMagic) && i < size; ++i) {
    COSAE_CHECK(data[i] == kMagic[i], bad_input, "not a cosae bitstream (wrong magic bytes)");
  }
  COSAE_CHECK(size >= kVersionIndependentSize, bad_input, "truncated bitstream (", size, " bytes)");
  // The CRC before any field: damage reads as damage, not as a strange field value.
  const std::size_t crc_offset = size - kCrcSize;
  const uint32_t stored_crc = load_u32_le(data + crc_offset);
  const uint32_t computed_crc = crc32(data, crc_offset);
  COSAE_CHECK(stored_crc == computed_crc, bad_input, "corrupt or truncated bitstream (CRC-32 mismatch)");

  HeaderReader reader(data + sizeof(kMagic), data + crc_offset);
  ParsedBitstream parsed;
  BitstreamHeader& header = parsed.header;
  header.format_version = reader.read_u8("format version");
  COSAE_CHECK(header.format_version <= kBitstreamFormatVersion, bad_input, "bitstream format version ",
              unsigned(header.format_version), " was written by a newer cosae (this build reads up to version ",
              unsigned(kBitstreamFormatVersion), ")");
  COSAE_CHECK(header.format_version >= 1, bad_input, "unsupported bitstream format version 0");

  HeaderFields fields;
  fields.mode = reader.read_u8("coding mode");
  fields.quality = reader.read_u8("quality");
  fields.channels = reader.read_u8("channel count");
  fields.bit_depth = reader.read_u8("bit depth");
  if (header.format_version >= 2) {
    fields.detail_level = reader.read_u8("detail level");
    fields.detail_streams = reader.read_u8("detail stream count");
  }
  // Each version holds what the older ones cannot, and a header is written in the oldest that
  // holds it: version 2 for a detail layer, version 3 for the conditional coding.
  COSAE_CHECK(header.format_version == format_version_for(static_cast<CodingMode>(fields.mode), fields.detail_level),
              bad_input, "bitstream header: coding mode ", fields.mode, " with detail level ", fields.detail_level,
              " is not written as format version ", unsigned(header.format_version));
  fields.width = static_cast<int64_t>(reader.read_varint(kMaxSideFieldValue, "width"));
  fields.height = static_cast<int64_t>(reader.read_varint(kMaxSideFieldValue, "height"));
  const uint8_t model_id_length = reader.read_u8("model id length");
  const uint8_t* model_id = reader.read_bytes(model_id_length, "model id");
  fields.model_id.assign(model_id, model_id + model_id_length);  // at most 255 bytes
  const std::string problem = header_problem(fields);
  COSAE_CHECK(problem.empty(), bad_input, "bitstream header: ", problem);
  const uint8_t* model_hash = reader.read_bytes(kModelHashSize, "model SHA-256");
  std::copy(model_hash, model_hash + kModelHashSize, header.model_sha256.begin());

  header.mode = static_cast<CodingMode>(fields.mode);
  header.quality = static_cast<uint8_t>(fields.quality);
  header.channels = static_cast<int>(fields.channels);
  header.bit_depth = static_cast<int>(fields.bit_depth);
  header.width = static_cast<int>(fields.width);
  header.height = static_cast<int>(fields.height);
  header.detail_level = static_cast<int>(fields.detail_level);
  header.detail_streams = static_cast<int>(fields.detail_streams);
  header.model_id = std::move(fields.model_id);

  const uint8_t stream_count = reader.read_u8("stream count");
  COSAE_CHECK(stream_count <= kMaxPayloadStreams, bad_input, "bitstream header: ", unsigned(stream_count),
              " payload streams, at most ", kMaxPayloadStreams);
  COSAE_CHECK(header.detail_streams == 0 || stream_count > header.detail_streams, bad_input, "bitstream header: ", unsigned(stream_count),
              " streams, of which the detail layer's ", header.detail_streams, " leave none for the base");
  std::size_t lengths[kMaxPayloadStreams] = {};
  std::size_t payload_size = 0;
  for (unsigned i = 0; i < stream_count; ++i) {
    // The running sum never exceeds the bytes left (which shrink as lengths are read), so it
    // cannot overflow and the subtractions below cannot wrap.
    const uint64_t length = reader.read_varint(UINT64_MAX, "stream length");
    COSAE_CHECK(payload_size <= reader.remaining() && length <= reader.remaining() - payload_size, bad_input,
                "bitstream stream lengths add up to more than the data holds (corrupt header)");
    lengths[i] = static_cast<std::size_t>(length);
    payload_size += lengths[i];
  }
  COSAE_CHECK(payload_size == reader.remaining(), bad_input, "bitstream has ", reader.remaining() - payload_size,
              " bytes after its streams (corrupt header)");

  parsed.header_size = static_cast<std::size_t>(reader.position() - data);
  parsed.streams.reserve(stream_count);
  const uint8_t* stream_data = reader.position();
  for (unsigned i = 0; i < stream_count; ++i) {
    parsed.streams.push_back(ByteSpan{stream_data, lengths[i]});
    stream_data += lengths[i];
  }
  return parsed;
}

const char* coding_mode_name(CodingMode mode) {
  switch (mode) {
    case CodingMode::polar: return "polar";
    case CodingMode::cartesian: return "cartesian";
    case CodingMode::adaptive: return "adaptive";
    case CodingMode::cell_gains: return "cell-gains";
    case CodingMode::conditional: return "conditional";
  }
  return "?";
}

void check_bitstream_model(const BitstreamHeader& header, const std::string& model_id,
                           const Sha256Digest& model_sha256) {
  COSAE_CHECK(header.model_id == model_id, model, "the bitstream was coded with model '", header.model_id,
              "', not with the model given ('", model_id, "')");
  COSAE_CHECK(header.model_sha256 == model_sha256, model, "the bitstream was coded with a different file of model '",
              model_id, "' (SHA-256 ", short_hex(header.model_sha256), "..., the model given has ",
              short_hex(model_sha256), "...)");
}

}  // namespace cosae
