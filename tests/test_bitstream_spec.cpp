// docs/bitstream.md against the code: its table of header fields, read in order with the sizes
// it gives, must walk a stream written by write_bitstream field by field to its last byte.
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bitstream/crc32.hpp"
#include "catch_compat.hpp"
#include "cosae/bitstream.hpp"

namespace {

struct Row {
  std::string field, size;
};

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" `");
  const auto b = s.find_last_not_of(" `");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The rows of the table whose header starts "| # | field | size (bytes) |".
std::vector<Row> field_table(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<Row> rows;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("| # | field | size (bytes) |", 0) == 0) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("|", 0) != 0) break;
    if (line.rfind("|---", 0) == 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) cells.push_back(trim(cell));
    REQUIRE(cells.size() >= 3);
    rows.push_back({cells[1], cells[2]});
  }
  return rows;
}

}  // namespace

TEST_CASE("docs/bitstream.md's field table walks a real stream to its last byte", "[bitstream]") {
  cosae::BitstreamHeader header;
  header.model_id = "cosae-spec";
  for (int i = 0; i < 32; ++i) header.model_sha256[i] = static_cast<uint8_t>(100 + i);
  header.quality = 7;
  header.mode = cosae::CodingMode::conditional;
  header.width = 300;  // two-byte varints
  header.height = 200;
  header.channels = 3;
  header.bit_depth = 16;
  header.detail_level = 14;
  header.detail_streams = 1;
  const std::vector<std::vector<uint8_t>> streams = {std::vector<uint8_t>(130, 1), {2, 2}, {3, 3, 3}};
  const auto bytes = cosae::write_bitstream(header, streams);

  const auto rows = field_table(std::string(COSAE_TEST_DOCS_DIR) + "/bitstream.md");
  REQUIRE(rows.size() >= 15);
  std::size_t at = 0;
  uint64_t id_length = 0, stream_count = 0;
  auto byte = [&]() -> uint64_t {
    REQUIRE(at < bytes.size());
    return bytes[at++];
  };
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const uint64_t b = byte();
      v |= (b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  auto fixed = [&](const Row& row, std::size_t expected) {
    INFO(row.field << ": the table says " << row.size);
    REQUIRE(std::stoul(row.size) == expected);
  };
  // The one-byte fields and the values written above.
  const std::map<std::string, uint64_t> one_byte = {{"format version", 3}, {"coding mode", 4}, {"quality", 7},
                                                    {"channels", 3},       {"bit depth", 16},  {"detail level", 14},
                                                    {"detail stream count", 1}};
  for (const auto& row : rows) {
    INFO("field '" << row.field << "' at byte " << at);
    const std::string& f = row.field;
    if (f == "magic") {
      fixed(row, 4);
      CHECK((byte() == 0x89 && byte() == 'C' && byte() == 'S' && byte() == 'A'));
    } else if (one_byte.count(f)) {
      fixed(row, 1);
      CHECK(byte() == one_byte.at(f));
    } else if (f == "width" || f == "height") {
      REQUIRE(row.size.rfind("varint", 0) == 0);
      CHECK(varint() == (f == "width" ? 300u : 200u));
    } else if (f == "model id length") {
      fixed(row, 1);
      id_length = byte();
      CHECK(id_length == header.model_id.size());
    } else if (f == "model id") {
      REQUIRE(row.size == "n");
      REQUIRE(at + id_length <= bytes.size());
      CHECK(std::string(bytes.begin() + at, bytes.begin() + at + id_length) == header.model_id);
      at += id_length;
    } else if (f == "model hash") {
      fixed(row, 32);
      for (int i = 0; i < 32; ++i) CHECK(byte() == uint64_t(100 + i));
    } else if (f == "stream count") {
      fixed(row, 1);
      stream_count = byte();
      CHECK(stream_count == streams.size());
    } else if (f == "stream lengths") {
      REQUIRE(row.size == "s varints");
      for (uint64_t i = 0; i < stream_count; ++i) {
        const uint64_t length = varint();
        CHECK(length == streams[i].size());
      }
    } else if (f == "streams") {
      for (const auto& s : streams) {
        REQUIRE(at + s.size() <= bytes.size());
        CHECK(std::vector<uint8_t>(bytes.begin() + at, bytes.begin() + at + s.size()) == s);
        at += s.size();
      }
    } else if (f == "CRC-32") {
      fixed(row, 4);
      const uint32_t crc = cosae::crc32(bytes.data(), at);
      for (int i = 0; i < 4; ++i) CHECK(byte() == ((crc >> (8 * i)) & 0xFF));  // little-endian
    } else {
      FAIL("docs/bitstream.md names a field the test does not know: " << f);
    }
  }
  CHECK(at == bytes.size());
}
