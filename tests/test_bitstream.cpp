// The bitstream container: checksums, exact layout, round trips, and damaged or hostile data.
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bitstream/crc32.hpp"
#include "bitstream/sha256.hpp"
#include "catch_compat.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "image_test_util.hpp"

using cosae::BitstreamHeader;
using cosae::CodingMode;
using cosae::ErrorKind;
using cosae_test::contains;
using cosae_test::expect_error;

namespace {

using Bytes = std::vector<uint8_t>;
using Streams = std::vector<Bytes>;

Bytes bytes_of(const std::string& text) { return Bytes(text.begin(), text.end()); }

std::string sha256_hex(const std::string& text) {
  const Bytes bytes = bytes_of(text);
  return cosae::to_hex(cosae::sha256(bytes.data(), bytes.size()));
}

BitstreamHeader typical_header() {
  BitstreamHeader header;
  header.model_id = "cosae-k64-d64-v1";
  for (int i = 0; i < 32; ++i) header.model_sha256[i] = static_cast<uint8_t>(7 * i + 1);
  header.quality = 3;
  header.mode = CodingMode::polar;
  header.width = 768;
  header.height = 512;
  header.channels = 3;
  header.bit_depth = 8;
  return header;
}

Streams typical_streams() { return {Bytes(300, 0x11), Bytes(2000, 0x22), Bytes(40, 0x33)}; }

ErrorKind parse_error_kind(const Bytes& bytes) {
  return expect_error([&] { cosae::parse_bitstream(bytes.data(), bytes.size()); }).kind();
}

std::string parse_error_message(const Bytes& bytes) {
  const cosae::Error error = expect_error([&] { cosae::parse_bitstream(bytes.data(), bytes.size()); });
  CHECK(error.kind() == ErrorKind::bad_input);
  const std::string message = error.what();
  CHECK(message.find('\n') == std::string::npos);
  return message;
}

void append_varint(Bytes& out, uint64_t value) {
  for (; value >= 0x80; value >>= 7) out.push_back(static_cast<uint8_t>(value | 0x80));
  out.push_back(static_cast<uint8_t>(value));
}

// Appends the little-endian CRC-32 of `body`, so that crafted data gets past the CRC check.
Bytes sealed(Bytes body) {
  const uint32_t crc = cosae::crc32(body.data(), body.size());
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  return body;
}

// Writes the layout field by field, independently of write_bitstream, with any field values.
struct RawBitstream {
  uint8_t version = 1, mode = 0, quality = 2, channels = 3, bit_depth = 8;
  uint8_t detail_level = 0, detail_streams = 0;  // written from version 2 on
  uint64_t width = 64, height = 48;
  std::string model_id = "test-model";
  int stream_count = -1;          // -1: lengths.size()
  std::vector<uint64_t> lengths;  // as written in the header
  Bytes payload;

  Bytes build() const {
    Bytes out = {0x89, 'C', 'S', 'A', version, mode, quality, channels, bit_depth};
    if (version >= 2) out.insert(out.end(), {detail_level, detail_streams});
    append_varint(out, width);
    append_varint(out, height);
    out.push_back(static_cast<uint8_t>(model_id.size()));
    out.insert(out.end(), model_id.begin(), model_id.end());
    out.insert(out.end(), 32, 0x5A);
    out.push_back(static_cast<uint8_t>(stream_count < 0 ? int(lengths.size()) : stream_count));
    for (const uint64_t length : lengths) append_varint(out, length);
    out.insert(out.end(), payload.begin(), payload.end());
    return sealed(out);
  }
};

}  // namespace

TEST_CASE("CRC-32 matches the IEEE 802.3 check values", "[bitstream]") {
  const Bytes digits = bytes_of("123456789");
  CHECK(cosae::crc32(digits.data(), digits.size()) == 0xCBF43926u);
  CHECK(cosae::crc32(nullptr, 0) == 0u);
  const Bytes fox = bytes_of("The quick brown fox jumps over the lazy dog");
  CHECK(cosae::crc32(fox.data(), fox.size()) == 0x414FA339u);
  // In pieces, chaining the previous value.
  const uint32_t first = cosae::crc32(fox.data(), 10);
  CHECK(cosae::crc32(fox.data() + 10, fox.size() - 10, first) == 0x414FA339u);
}

TEST_CASE("SHA-256 matches the FIPS 180-2 vectors", "[bitstream]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundaries (55/56 bytes fit one block or need two).
  CHECK(sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(sha256_hex(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
}

TEST_CASE("SHA-256 in pieces equals SHA-256 at once", "[bitstream]") {
  std::mt19937 generator(11);
  Bytes data(5000);
  for (auto& byte : data) byte = static_cast<uint8_t>(generator());
  const cosae::Sha256Digest whole = cosae::sha256(data.data(), data.size());
  for (int trial = 0; trial < 50; ++trial) {
    cosae::Sha256 hasher;
    std::size_t offset = 0;
    while (offset < data.size()) {
      const std::size_t piece = std::min<std::size_t>(generator() % 150, data.size() - offset);
      hasher.update(data.data() + offset, piece);
      offset += piece;
    }
    CHECK(hasher.finish() == whole);
  }
}

TEST_CASE("The bitstream layout is exactly the documented one", "[bitstream]") {
  BitstreamHeader header;
  header.model_id = "m";
  for (int i = 0; i < 32; ++i) header.model_sha256[i] = static_cast<uint8_t>(i);
  header.quality = 4;
  header.mode = CodingMode::cartesian;
  header.width = 640;
  header.height = 480;
  header.channels = 3;
  header.bit_depth = 8;
  Bytes expected = {0x89, 'C', 'S', 'A', 1, 1, 4, 3, 8, 0x80, 0x05, 0xE0, 0x03, 1, 'm'};
  for (int i = 0; i < 32; ++i) expected.push_back(static_cast<uint8_t>(i));
  const Bytes tail = {2, 3, 0, 1, 2, 3, 0x76, 0x30, 0xAD, 0xA1};  // CRC from zlib.crc32
  expected.insert(expected.end(), tail.begin(), tail.end());
  CHECK(cosae::write_bitstream(header, {{1, 2, 3}, {}}) == expected);

  // With a detail layer: version 2, its level and stream count after the bit depth.
  header.detail_level = 20;
  header.detail_streams = 1;
  const Bytes with_detail = cosae::write_bitstream(header, {{1, 2, 3}, {}});
  const Bytes head = {0x89, 'C', 'S', 'A', 2, 1, 4, 3, 8, 20, 1, 0x80, 0x05, 0xE0, 0x03, 1, 'm'};
  REQUIRE(with_detail.size() == expected.size() + 2);
  CHECK(Bytes(with_detail.begin(), with_detail.begin() + head.size()) == head);
  const auto parsed = cosae::parse_bitstream(with_detail.data(), with_detail.size());
  CHECK(parsed.header.format_version == 2);
  CHECK(parsed.header.detail_level == 20);
  CHECK(parsed.header.detail_streams == 1);
  CHECK(parsed.streams.size() == 2);
}

TEST_CASE("Bitstreams round-trip: random headers and streams, extreme sizes", "[bitstream]") {
  std::mt19937 generator(2024);
  auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(generator); };
  const std::vector<std::pair<int, int>> fixed_sizes = {{1, 1}, {65536, 16384}, {16384, 65536}, {65536, 1}};
  for (int trial = 0; trial < 300; ++trial) {
    BitstreamHeader header;
    header.model_id.resize(static_cast<std::size_t>(uniform(1, 64)));
    for (auto& c : header.model_id) c = static_cast<char>(uniform(0x21, 0x7E));
    for (auto& byte : header.model_sha256) byte = static_cast<uint8_t>(uniform(0, 255));
    header.quality = static_cast<uint8_t>(uniform(1, 255));
    header.mode = uniform(0, 1) ? CodingMode::cartesian : CodingMode::polar;
    header.channels = uniform(1, 4);
    header.bit_depth = uniform(0, 1) ? 16 : 8;
    if (trial < int(fixed_sizes.size())) {
      header.width = fixed_sizes[trial].first;
      header.height = fixed_sizes[trial].second;
    } else {
      header.width = uniform(1, 65536);
      header.height = uniform(1, int(cosae::kMaxImagePixels / header.width < 65536 ? cosae::kMaxImagePixels / header.width
                                                                                    : 65536));
    }
    Streams streams(static_cast<std::size_t>(uniform(0, 16)));
    if (streams.size() >= 2 && uniform(0, 2) == 0) {  // a third with a detail layer
      header.detail_level = uniform(1, cosae::kMaxDetailLevel);
      header.detail_streams = uniform(1, std::min<int>(cosae::kMaxDetailStreams, int(streams.size()) - 1));
    }
    for (auto& stream : streams) {
      const int kind = uniform(0, 9);  // some empty, most small, a few large (3-byte lengths)
      stream.resize(static_cast<std::size_t>(kind == 0 ? 0 : kind == 9 ? uniform(16384, 40000) : uniform(1, 300)));
      for (auto& byte : stream) byte = static_cast<uint8_t>(generator());
    }

    const Bytes bytes = cosae::write_bitstream(header, streams);
    const cosae::ParsedBitstream parsed = cosae::parse_bitstream(bytes.data(), bytes.size());
    const BitstreamHeader& got = parsed.header;
    CHECK(got.format_version == (header.detail_level == 0 ? 1 : 2));
    CHECK(got.detail_level == header.detail_level);
    CHECK(got.detail_streams == header.detail_streams);
    CHECK(got.model_id == header.model_id);
    CHECK(got.model_sha256 == header.model_sha256);
    CHECK(got.quality == header.quality);
    CHECK(got.mode == header.mode);
    CHECK(got.width == header.width);
    CHECK(got.height == header.height);
    CHECK(got.channels == header.channels);
    CHECK(got.bit_depth == header.bit_depth);
    REQUIRE(parsed.streams.size() == streams.size());
    std::size_t payload_size = 0;
    for (std::size_t i = 0; i < streams.size(); ++i) {
      CHECK(Bytes(parsed.streams[i].begin(), parsed.streams[i].end()) == streams[i]);
      payload_size += streams[i].size();
    }
    CHECK(parsed.header_size + payload_size + 4 == bytes.size());
    CHECK(cosae::write_bitstream(got, streams) == bytes);
  }
}

TEST_CASE("A typical header is small", "[bitstream]") {
  const Streams streams = typical_streams();
  const Bytes bytes = cosae::write_bitstream(typical_header(), streams);
  const std::size_t overhead = bytes.size() - (300 + 2000 + 40);
  // magic 4, 5 one-byte fields, sizes 2+2, id 1+16, hash 32, count 1, lengths 2+2+1, CRC 4.
  CHECK(overhead == 72);
  CHECK(cosae::parse_bitstream(bytes.data(), bytes.size()).header_size == overhead - 4);
}

TEST_CASE("Every truncation of a bitstream is refused", "[bitstream]") {
  for (const Streams& streams : {Streams{}, typical_streams(), Streams{{}, {9}, {}}}) {
    const Bytes bytes = cosae::write_bitstream(typical_header(), streams);
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      const Bytes prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
      INFO("truncated to " << size << " of " << bytes.size() << " bytes");
      CHECK(parse_error_kind(prefix) == ErrorKind::bad_input);
    }
  }
}

TEST_CASE("Every single-bit flip of a bitstream is refused", "[bitstream]") {
  for (const Streams& streams : {Streams{}, Streams{{1, 2, 3}, {}, Bytes(200, 7)}}) {
    const Bytes bytes = cosae::write_bitstream(typical_header(), streams);
    for (std::size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
      Bytes flipped = bytes;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      INFO("bit " << bit << " flipped");
      CHECK(parse_error_kind(flipped) == ErrorKind::bad_input);
    }
  }
  Bytes bytes = cosae::write_bitstream(typical_header(), typical_streams());
  bytes[100] ^= 0x10;
  CHECK(contains(parse_error_message(bytes), "CRC-32"));
}

TEST_CASE("Headers with huge or empty image sizes are refused, even with a valid CRC", "[bitstream]") {
  RawBitstream raw;
  raw.width = 1000000000;
  raw.height = 1000000000;
  CHECK(contains(parse_error_message(raw.build()), "image size 1000000000x1000000000"));
  for (const auto& size : std::vector<std::pair<uint64_t, uint64_t>>{
           {65537, 1}, {1, 65537}, {65536, 16385}, {0, 10}, {10, 0}, {0xFFFFFFFFu, 0xFFFFFFFFu}}) {
    raw.width = size.first;
    raw.height = size.second;
    INFO(size.first << "x" << size.second);
    CHECK(contains(parse_error_message(raw.build()), "image size"));
  }
  raw.width = uint64_t(1) << 40;  // wider than any side field may be
  CHECK(contains(parse_error_message(raw.build()), "width is out of range"));
}

TEST_CASE("Unknown versions, modes and field values are refused", "[bitstream]") {
  auto message_for = [](auto&& change) {
    RawBitstream raw;
    change(raw);
    return parse_error_message(raw.build());
  };
  CHECK(contains(message_for([](RawBitstream& r) { r.version = 4; }), "written by a newer cosae"));
  CHECK(contains(message_for([](RawBitstream& r) { r.version = 255; }), "written by a newer cosae"));
  CHECK(contains(message_for([](RawBitstream& r) { r.version = 0; }), "unsupported bitstream format version 0"));
  CHECK(contains(message_for([](RawBitstream& r) { r.mode = 5; }), "unknown coding mode 5"));
  // Each mode in the version that holds it: the conditional coding only in version 3, and
  // version 3 only for it.
  CHECK(contains(message_for([](RawBitstream& r) { r.mode = 4; }), "is not written as format version 1"));
  CHECK(contains(message_for([](RawBitstream& r) { r.version = 3; }), "is not written as format version 3"));
  RawBitstream conditional;
  conditional.version = 3;
  conditional.mode = 4;
  const auto conditional_bytes = conditional.build();
  CHECK(cosae::parse_bitstream(conditional_bytes.data(), conditional_bytes.size()).header.mode ==
        CodingMode::conditional);
  auto header = typical_header();
  header.mode = CodingMode::conditional;
  const auto written = cosae::write_bitstream(header, Streams(8));
  CHECK(cosae::parse_bitstream(written.data(), written.size()).header.format_version == 3);
  CHECK(contains(message_for([](RawBitstream& r) { r.mode = 255; }), "unknown coding mode 255"));
  CHECK(contains(message_for([](RawBitstream& r) { r.quality = 0; }), "quality 0"));
  CHECK(contains(message_for([](RawBitstream& r) { r.channels = 0; }), "channel count 0"));
  CHECK(contains(message_for([](RawBitstream& r) { r.channels = 5; }), "channel count 5"));
  CHECK(contains(message_for([](RawBitstream& r) { r.bit_depth = 12; }), "bit depth 12"));
  CHECK(contains(message_for([](RawBitstream& r) { r.model_id = ""; }), "model id length 0"));
  CHECK(contains(message_for([](RawBitstream& r) { r.model_id = std::string(65, 'x'); }), "model id length 65"));
  CHECK(contains(message_for([](RawBitstream& r) { r.model_id = "two words"; }), "not printable ASCII"));
  CHECK(contains(message_for([](RawBitstream& r) { r.model_id = "bad\x7f"; }), "not printable ASCII"));
  CHECK(contains(message_for([](RawBitstream& r) { r.stream_count = 17; }), "17 payload streams"));
  // Version 2's detail layer fields.
  auto detail = [](int level, int streams, int stream_count) {
    return [=](RawBitstream& r) {
      r.version = 2;
      r.detail_level = static_cast<uint8_t>(level);
      r.detail_streams = static_cast<uint8_t>(streams);
      r.lengths.assign(static_cast<std::size_t>(stream_count), 0);
    };
  };
  CHECK(contains(message_for(detail(0, 0, 2)), "is not written as format version 2"));
  CHECK(contains(message_for(detail(49, 1, 2)), "detail level 49"));
  CHECK(contains(message_for(detail(5, 0, 2)), "detail layer of level 5 in 0 streams"));
  CHECK(contains(message_for(detail(5, 9, 16)), "in 9 streams"));
  CHECK(contains(message_for(detail(5, 2, 2)), "leave none for the base"));
  RawBitstream valid;
  detail(5, 2, 3)(valid);
  const Bytes bytes = valid.build();
  CHECK(cosae::parse_bitstream(bytes.data(), bytes.size()).header.detail_streams == 2);
}

TEST_CASE("Stream lengths must account for the data exactly", "[bitstream]") {
  RawBitstream raw;
  raw.payload = Bytes(10, 1);
  raw.lengths = {4, 6};
  const Bytes valid = raw.build();
  CHECK(cosae::parse_bitstream(valid.data(), valid.size()).streams.size() == 2);
  raw.lengths = {4, 5};  // one byte left over
  CHECK(contains(parse_error_message(raw.build()), "1 bytes after its streams"));
  raw.lengths = {4, 7};
  CHECK(contains(parse_error_message(raw.build()), "add up to more than the data holds"));
  raw.lengths = {10, 10};  // a second length that alone fits, but not with the first
  CHECK(contains(parse_error_message(raw.build()), "add up to more than the data holds"));
  raw.lengths = {UINT64_MAX, 11};  // would wrap a careless sum around to 10
  CHECK(contains(parse_error_message(raw.build()), "add up to more than the data holds"));
  raw.lengths = {};
  raw.stream_count = 2;  // promises lengths the header does not have
  CHECK(contains(parse_error_message(raw.build()), "corrupt"));

  // Varints: a non-minimal encoding, and an endless run of continuation bytes.
  RawBitstream padded;
  Bytes bytes = padded.build();
  bytes.resize(bytes.size() - 4);
  const std::size_t width_offset = 9;
  REQUIRE(bytes[width_offset] == 64);
  bytes[width_offset] = 0x80 | 64;
  bytes.insert(bytes.begin() + width_offset + 1, 0x00);
  CHECK(contains(parse_error_message(sealed(bytes)), "non-minimal"));
  bytes.insert(bytes.begin() + width_offset + 1, 20, 0xFF);
  CHECK(contains(parse_error_message(sealed(bytes)), "out of range"));
}

TEST_CASE("Data that is not a bitstream is named as such", "[bitstream]") {
  CHECK(contains(parse_error_message({}), "empty"));
  CHECK(contains(parse_error_message({0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0}), "not a cosae bitstream"));
  CHECK(contains(parse_error_message(bytes_of("CSAE text")), "not a cosae bitstream"));
  CHECK(contains(parse_error_message({0x89, 'C', 'S', 'A', 1}), "truncated"));
  CHECK(contains(parse_error_message(sealed({0x89, 'C', 'S', 'A', 1})), "ends inside the coding mode"));
}

TEST_CASE("write_bitstream refuses headers it could not parse back", "[bitstream]") {
  auto kind_for = [](auto&& change, Streams streams = {}) {
    BitstreamHeader header = typical_header();
    change(header);
    return expect_error([&] { cosae::write_bitstream(header, streams); }).kind();
  };
  CHECK(kind_for([](BitstreamHeader& h) { h.detail_level = cosae::kMaxDetailLevel + 1; h.detail_streams = 1; },
                 Streams(2)) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.detail_level = 3; }, Streams(2)) == ErrorKind::usage);  // no streams
  CHECK(kind_for([](BitstreamHeader& h) { h.detail_level = 3; h.detail_streams = 2; }, Streams(2)) ==
        ErrorKind::usage);  // none left for the base
  CHECK(kind_for([](BitstreamHeader& h) { h.width = 0; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.height = -5; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.width = 65536; h.height = 16385; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.channels = 5; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.bit_depth = 10; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.quality = 0; }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.mode = static_cast<CodingMode>(5); }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.model_id.clear(); }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader& h) { h.model_id = std::string(65, 'a'); }) == ErrorKind::usage);
  CHECK(kind_for([](BitstreamHeader&) {}, Streams(17)) == ErrorKind::usage);
  CHECK_NOTHROW(cosae::write_bitstream(typical_header(), Streams(16)));
}

TEST_CASE("check_bitstream_model compares model id and file hash", "[bitstream]") {
  const BitstreamHeader header = typical_header();
  CHECK_NOTHROW(cosae::check_bitstream_model(header, header.model_id, header.model_sha256));
  const cosae::Error other_id =
      expect_error([&] { cosae::check_bitstream_model(header, "cosae-other", header.model_sha256); });
  CHECK(other_id.kind() == ErrorKind::model);
  CHECK(contains(other_id.what(), "cosae-k64-d64-v1"));
  CHECK(contains(other_id.what(), "cosae-other"));
  cosae::Sha256Digest other_hash = header.model_sha256;
  other_hash[31] ^= 1;
  const cosae::Error other_file =
      expect_error([&] { cosae::check_bitstream_model(header, header.model_id, other_hash); });
  CHECK(other_file.kind() == ErrorKind::model);
  CHECK(contains(other_file.what(), "different file"));
}
