// rANS coder and CDF tables: exact round trips, escapes, coded size against the ideal, table
// quantisation and validation, and damaged streams.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "entropy/cdf_table.hpp"
#include "entropy/rans.hpp"

using cosae::ErrorKind;
using cosae::entropy::CdfTable;
using cosae::entropy::kMaxMagnitude;
using cosae::entropy::kMaxSymbols;
using cosae::entropy::kTotalFrequency;
using cosae::entropy::RansDecoder;
using cosae::entropy::RansEncoder;

namespace {

template <typename Body>
ErrorKind error_kind_of(Body&& body) {
  try {
    body();
  } catch (const cosae::Error& error) {
    return error.kind();
  }
  FAIL("expected a cosae::Error");
  return ErrorKind::internal;
}

std::vector<double> laplacian_pmf(int32_t first, int32_t last, double centre, double scale) {
  std::vector<double> pmf;
  for (int32_t value = first; value <= last; ++value) pmf.push_back(std::exp(-std::abs(value - centre) / scale));
  return pmf;
}

// A table of a random shape: Laplacian, random weights with zeros, or nearly one-hot.
CdfTable random_table(std::mt19937_64& rng) {
  const int32_t value_count = std::uniform_int_distribution<int32_t>(1, rng() % 8 == 0 ? 3000 : 64)(rng);
  const int32_t offset = std::uniform_int_distribution<int32_t>(-200, 100)(rng);
  std::vector<double> pmf;
  switch (rng() % 3) {
    case 0:
      pmf = laplacian_pmf(0, value_count - 1, value_count / 2.0, std::exp(std::uniform_real_distribution<>(-2, 4)(rng)));
      break;
    case 1:
      for (int32_t i = 0; i < value_count; ++i) pmf.push_back(rng() % 3 == 0 ? 0.0 : std::uniform_real_distribution<>()(rng));
      break;
    default:
      pmf.assign(static_cast<size_t>(value_count), 1e-9);
      pmf[rng() % pmf.size()] = 1.0;
  }
  pmf[0] += 1e-12;  // never all zero
  const double tail_mass = rng() % 2 == 0 ? 0.0 : std::uniform_real_distribution<>(0, 0.2)(rng);
  return CdfTable::from_pmf(offset, pmf, tail_mass);
}

// A value distributed as the table says; an ESCAPE becomes a random value outside the range.
int32_t random_value(std::mt19937_64& rng, const CdfTable& table) {
  const int32_t symbol = table.symbol_for_slot(static_cast<uint32_t>(rng() % kTotalFrequency));
  if (symbol != table.escape_symbol()) return table.offset() + symbol;
  const int64_t distance = static_cast<int64_t>(rng() % (uint64_t{1} << (rng() % 25)));
  const bool above = rng() % 2 == 0;
  const int64_t value = above ? table.max_value() + 1 + distance : table.min_value() - 1 - distance;
  return static_cast<int32_t>(std::max<int64_t>(-kMaxMagnitude, std::min<int64_t>(kMaxMagnitude, value)));
}

// Codes values[i] with *tables[i], decodes and compares; returns the stream.
std::vector<uint8_t> check_round_trip(const std::vector<int32_t>& values, const std::vector<const CdfTable*>& tables) {
  RansEncoder encoder;
  for (size_t i = 0; i < values.size(); ++i) encoder.put(values[i], *tables[i]);
  const std::vector<uint8_t> bytes = encoder.finish();
  REQUIRE(encoder.pending_steps() == 0);
  RansDecoder decoder(bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    const int32_t decoded = decoder.get(*tables[i]);
    if (decoded != values[i]) FAIL("symbol " << i << ": decoded " << decoded << ", coded " << values[i]);
  }
  decoder.finish();
  CHECK(decoder.bytes_consumed() == bytes.size());
  return bytes;
}

}  // namespace

TEST_CASE("rANS round-trips random streams under random tables", "[entropy]") {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<CdfTable> tables;
    for (int i = 0; i < 5; ++i) tables.push_back(random_table(rng));
    for (size_t length : {0, 1, 2, 1000}) {
      // One table for the stream, or a random one per symbol.
      const bool interleaved = rng() % 2 == 0;
      const CdfTable* only = &tables[rng() % tables.size()];
      std::vector<int32_t> values;
      std::vector<const CdfTable*> chosen;
      for (size_t i = 0; i < length; ++i) {
        chosen.push_back(interleaved ? &tables[rng() % tables.size()] : only);
        values.push_back(random_value(rng, *chosen.back()));
      }
      INFO("seed " << seed << ", length " << length);
      const std::vector<uint8_t> bytes = check_round_trip(values, chosen);
      if (length == 0) CHECK(bytes.size() == 8);
    }
  }
}

TEST_CASE("rANS round-trips a million symbols over per-channel tables", "[entropy]") {
  std::mt19937_64 rng(7);
  std::vector<CdfTable> channels;
  for (int i = 0; i < 16; ++i) channels.push_back(random_table(rng));
  std::vector<int32_t> values;
  std::vector<const CdfTable*> tables;
  for (size_t i = 0; i < 1000000; ++i) {
    tables.push_back(&channels[i % channels.size()]);
    values.push_back(random_value(rng, *tables.back()));
  }
  check_round_trip(values, tables);
}

TEST_CASE("rANS interleaves table symbols with raw bit fields", "[entropy]") {
  std::mt19937_64 rng(3);
  const CdfTable first = CdfTable::from_pmf(-5, laplacian_pmf(-5, 5, 0, 1.5), 0.01);
  const CdfTable second = CdfTable::from_pmf(0, std::vector<float>{0.5f, 0.25f, 0.125f, 0.125f});
  struct Item { int kind; uint32_t bits; int count; int32_t value; };
  std::vector<Item> items;
  RansEncoder encoder;
  for (int i = 0; i < 20000; ++i) {
    Item item{static_cast<int>(rng() % 3), static_cast<uint32_t>(rng()), static_cast<int>(rng() % 33), 0};
    if (item.kind == 0) item.value = random_value(rng, first), encoder.put(item.value, first);
    if (item.kind == 1) item.value = random_value(rng, second), encoder.put(item.value, second);
    if (item.kind == 2) encoder.put_bits(item.bits, item.count);
    items.push_back(item);
  }
  const std::vector<uint8_t> bytes = encoder.finish();
  RansDecoder decoder(bytes);
  for (const Item& item : items) {
    if (item.kind == 0) REQUIRE(decoder.get(first) == item.value);
    if (item.kind == 1) REQUIRE(decoder.get(second) == item.value);
    const uint32_t mask = item.count == 32 ? ~uint32_t{0} : (uint32_t{1} << item.count) - 1;
    if (item.kind == 2) REQUIRE(decoder.get_bits(item.count) == (item.bits & mask));
  }
  decoder.finish();
}

TEST_CASE("rANS uniform symbols round-trip over any count and cost log2(count) bits", "[entropy]") {
  std::mt19937_64 rng(11);
  const CdfTable table = CdfTable::from_pmf(-3, laplacian_pmf(-3, 3, 0, 1.0), 0.01);
  struct Item { uint32_t value, count; int32_t symbol; };
  std::vector<Item> items;
  RansEncoder encoder;
  double ideal_bits = 0;
  const uint32_t counts[] = {1, 2, 3, 6, 7, 113, 1000, 40000, 65535, 65536};
  for (int i = 0; i < 50000; ++i) {
    const uint32_t count = counts[rng() % 10];
    Item item{static_cast<uint32_t>(rng() % count), count, random_value(rng, table)};
    encoder.put_uniform(item.value, item.count);
    encoder.put(item.symbol, table);
    ideal_bits += std::log2(static_cast<double>(count)) + table.cost_bits(item.symbol);
    items.push_back(item);
  }
  // The edges of the range too.
  for (uint32_t count : counts) {
    items.push_back({0, count, 0});
    items.push_back({count - 1, count, 0});
    encoder.put_uniform(0, count), encoder.put(0, table);
    encoder.put_uniform(count - 1, count), encoder.put(0, table);
  }
  const std::vector<uint8_t> bytes = encoder.finish();
  RansDecoder decoder(bytes);
  for (const Item& item : items) {
    REQUIRE(decoder.get_uniform(item.count) == item.value);
    REQUIRE(decoder.get(table) == item.symbol);
  }
  decoder.finish();
  CHECK(8.0 * static_cast<double>(bytes.size()) < 1.01 * ideal_bits + 64 + 40 * 20);

  RansEncoder bad;
  CHECK_THROWS_AS(bad.put_uniform(0, 0), cosae::Error);
  CHECK_THROWS_AS(bad.put_uniform(3, 3), cosae::Error);
  CHECK_THROWS_AS(bad.put_uniform(0, kTotalFrequency + 1), cosae::Error);
}

TEST_CASE("rANS codes values outside the table through escapes, up to the magnitude bound", "[entropy]") {
  const CdfTable small = CdfTable::from_pmf(-2, laplacian_pmf(-2, 2, 0, 1.0));
  const CdfTable low_edge = CdfTable::from_pmf(-kMaxMagnitude, std::vector<double>(4, 1.0));
  const CdfTable high_edge = CdfTable::from_pmf(kMaxMagnitude - 3, std::vector<double>(4, 1.0));
  std::vector<int32_t> values = {-3, 3, -4, 4, 0, -kMaxMagnitude, kMaxMagnitude, 1000, -1000, 1 << 23, -(1 << 23)};
  for (int bits = 0; bits < 25; ++bits) {  // every payload length, at both ends of each
    values.push_back(std::min(3 + (1 << bits) - 1, kMaxMagnitude));
    values.push_back(-3 - std::min((1 << (bits + 1)) - 2, kMaxMagnitude - 3));
  }
  for (const CdfTable* table : {&small, &low_edge, &high_edge}) {
    std::vector<const CdfTable*> tables(values.size(), table);
    check_round_trip(values, tables);
  }
  // Escapes cost more coder steps than in-range symbols.
  RansEncoder encoder;
  encoder.put(2, small);
  CHECK(encoder.pending_steps() == 1);
  encoder.put(kMaxMagnitude, small);
  CHECK(encoder.pending_steps() > 4);
  // Values beyond the bound are refused when encoding.
  for (int32_t bad : {kMaxMagnitude + 1, -kMaxMagnitude - 1, std::numeric_limits<int32_t>::min(),
                      std::numeric_limits<int32_t>::max()}) {
    CHECK(error_kind_of([&] { encoder.put(bad, small); }) == ErrorKind::usage);
    CHECK(error_kind_of([&] { small.cost_bits(bad); }) == ErrorKind::usage);
  }
}

TEST_CASE("rANS decoding rejects escape payloads beyond the bound", "[entropy]") {
  // ESCAPE owns slots [2^15, 2^16) here, so a 1-bit field of 1 forges it.
  const CdfTable table = CdfTable::from_cdf(0, {0, 1u << 15, kTotalFrequency});
  for (uint32_t length_field = 23; length_field < 32; ++length_field) {
    for (uint32_t mantissa : {0u, 0xffffffu}) {
      RansEncoder forger;
      forger.put_bits(1, 1);             // ESCAPE
      forger.put_bits(1, 1);             // above the range
      forger.put_bits(length_field, 5);  // bit length - 1
      forger.put_bits(mantissa, static_cast<int>(std::min(length_field, 24u)));
      const std::vector<uint8_t> bytes = forger.finish();
      RansDecoder decoder(bytes);
      // value = 1 + (2^length_field | mantissa) - 1: fine only up to kMaxMagnitude.
      const int64_t value = (int64_t{1} << length_field) | (length_field <= 24 ? mantissa & ((1u << length_field) - 1) : 0);
      if (length_field <= 24 && value <= kMaxMagnitude) {
        CHECK(decoder.get(table) == value);
      } else {
        CHECK(error_kind_of([&] { decoder.get(table); }) == ErrorKind::bad_input);
      }
    }
  }
}

TEST_CASE("rANS coded size is within 1% of the ideal for skewed distributions", "[entropy]") {
  struct Case { double scale; int32_t range; };
  for (const Case& shape : {Case{0.3, 8}, Case{2.0, 20}, Case{20.0, 64}}) {
    // Discretised Laplacian with the mass beyond the range as the escape probability.
    std::vector<double> pmf;
    double in_range_mass = 0.0;
    for (int32_t v = -shape.range; v <= shape.range; ++v) {
      const double mass = std::exp(-std::abs(v) / shape.scale);
      pmf.push_back(mass);
      in_range_mass += mass;
    }
    const double total_mass = (1 + std::exp(-0.5 / shape.scale)) / (1 - std::exp(-1 / shape.scale));  // all integers
    const CdfTable table = CdfTable::from_pmf(-shape.range, pmf, std::max(0.0, total_mass - in_range_mass));
    std::mt19937_64 rng(11);
    std::exponential_distribution<double> magnitude(1.0 / shape.scale);
    RansEncoder encoder;
    double ideal_bits = 0.0;
    for (int i = 0; i < 1000000; ++i) {
      const double sample = (rng() % 2 == 0 ? 1 : -1) * magnitude(rng);
      const int32_t value = static_cast<int32_t>(std::lround(std::max(-1e6, std::min(1e6, sample))));
      encoder.put(value, table);
      ideal_bits += table.cost_bits(value);
    }
    const double coded_bits = 8.0 * static_cast<double>(encoder.finish().size());
    INFO("scale " << shape.scale << ": coded " << coded_bits << " bits, ideal " << ideal_bits);
    CHECK(coded_bits <= ideal_bits * 1.01);
    CHECK(coded_bits >= ideal_bits - 64);  // cannot beat the model by more than the flushed state
  }
}

TEST_CASE("CDF tables from pmfs have exact totals, no zero frequency and stay near the pmf", "[entropy]") {
  auto check_table = [](const CdfTable& table) {
    REQUIRE(table.cdf().front() == 0);
    REQUIRE(table.cdf().back() == kTotalFrequency);
    for (int32_t s = 0; s < table.symbol_count(); ++s) REQUIRE(table.frequency(s) >= 1);
  };
  check_table(CdfTable::from_pmf(0, {1.0, 0.0, 0.0, 1e-30, 0.0}));
  check_table(CdfTable::from_pmf(0, {0.0, 0.0, 1.0}, 1e-300));
  check_table(CdfTable::from_pmf(3, std::vector<float>{0.0f, 1e-38f, 1.0f}));
  // The largest table: every symbol at frequency 1, whatever the pmf says.
  std::vector<double> peaked(kMaxSymbols - 1, 0.0);
  peaked[17] = 1.0;
  const CdfTable largest = CdfTable::from_pmf(-100, peaked);
  check_table(largest);
  CHECK(largest.frequency(17) == 1);
  // One dominant value keeps everything the others need not have.
  const CdfTable dominant = CdfTable::from_pmf(0, {0.0, 1.0, 0.0, 0.0});
  CHECK(dominant.frequency(1) == kTotalFrequency - 4);
  // A pmf already in 16-bit steps is reproduced exactly.
  const CdfTable exact = CdfTable::from_pmf(0, {0.5, 0.25, 0.125}, 0.125);
  CHECK(exact.cdf() == std::vector<uint32_t>{0, 32768, 49152, 57344, 65536});

  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) {
    const CdfTable table = random_table(rng);
    check_table(table);
    for (uint32_t slot = 0; slot < kTotalFrequency; slot += 1 + static_cast<uint32_t>(rng() % 64)) {
      const int32_t symbol = table.symbol_for_slot(slot);
      REQUIRE((table.start(symbol) <= slot && slot < table.start(symbol) + table.frequency(symbol)));
    }
  }

  // Cross-entropy of the table under the pmf versus the pmf's own entropy.
  std::vector<double> pmf = laplacian_pmf(-40, 40, 0.0, 3.0);
  double total = 0.0, entropy = 0.0, cross_entropy = 0.0;
  for (double p : pmf) total += p;
  const CdfTable table = CdfTable::from_pmf(-40, pmf);
  for (size_t i = 0; i < pmf.size(); ++i) {
    const double p = pmf[i] / total;
    entropy -= p * std::log2(p);
    cross_entropy += p * table.cost_bits(-40 + static_cast<int32_t>(i));
  }
  INFO("entropy " << entropy << ", table cross-entropy " << cross_entropy);
  CHECK(cross_entropy - entropy < 1e-3 * entropy);
}

TEST_CASE("CDF tables reject bad pmfs and bad stored tables", "[entropy]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const std::vector<double>& pmf : std::vector<std::vector<double>>{
           {}, {0.0, 0.0}, {1.0, -0.1}, {1.0, nan}, {inf, 1.0}, std::vector<double>(kMaxSymbols, 1.0)}) {
    CHECK(error_kind_of([&] { CdfTable::from_pmf(0, pmf); }) == ErrorKind::usage);
  }
  CHECK(error_kind_of([&] { CdfTable::from_pmf(0, {1.0}, -1.0); }) == ErrorKind::usage);
  CHECK(error_kind_of([&] { CdfTable::from_pmf(kMaxMagnitude, {1.0, 1.0}); }) == ErrorKind::usage);
  CHECK(error_kind_of([&] { CdfTable::from_pmf(-kMaxMagnitude - 1, {1.0}); }) == ErrorKind::usage);

  const uint32_t total = kTotalFrequency;
  std::vector<uint32_t> too_many(kMaxSymbols + 2);
  for (size_t i = 0; i < too_many.size(); ++i) too_many[i] = static_cast<uint32_t>(i);
  for (const std::vector<uint32_t>& cdf : std::vector<std::vector<uint32_t>>{
           {}, {0}, {0, total},          // fewer than two symbols
           {1, 2, total}, {0, 2, total - 1}, {0, 2, total + 1},  // wrong ends
           {0, 5, 4, total}, {0, 5, 5, total}, {0, 0, total},     // non-monotone, zero frequency
           too_many}) {
    CHECK(error_kind_of([&] { CdfTable::from_cdf(0, cdf); }) == ErrorKind::model);
  }
  CHECK(error_kind_of([&] { CdfTable::from_cdf(kMaxMagnitude, {0, 1, 2, total}); }) == ErrorKind::model);
  CHECK(error_kind_of([&] { CdfTable::from_cdf(std::numeric_limits<int32_t>::min(), {0, 1, total}); }) ==
        ErrorKind::model);
  CHECK_NOTHROW(CdfTable::from_cdf(kMaxMagnitude - 1, {0, 1, 2, total}));
  // Coding with an empty table or impossible bit counts is misuse.
  const CdfTable empty;
  RansEncoder encoder;
  CHECK(error_kind_of([&] { encoder.put(0, empty); }) == ErrorKind::usage);
  CHECK(error_kind_of([&] { encoder.put_bits(0, 33); }) == ErrorKind::usage);
  const std::vector<uint8_t> bytes = encoder.finish();
  RansDecoder decoder(bytes);
  CHECK(error_kind_of([&] { decoder.get(empty); }) == ErrorKind::usage);
  CHECK(error_kind_of([&] { decoder.get_bits(-1); }) == ErrorKind::usage);
}

TEST_CASE("rANS stream bytes are fixed little-endian", "[entropy]") {
  CHECK(RansEncoder().finish() == std::vector<uint8_t>{0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00});
  const CdfTable table = CdfTable::from_pmf(-1, {0.25, 0.5, 0.25});
  RansEncoder encoder;
  for (int32_t value : {0, 1, -1, 0, 7, -300}) encoder.put(value, table);
  encoder.put_bits(0xdeadbeef, 32);
  // Bytes from an independent implementation of this format (rans64 with 16-bit frequencies).
  CHECK(table.cdf() == std::vector<uint32_t>{0, 16384, 49151, 65535, 65536});
  CHECK(encoder.finish() == std::vector<uint8_t>{0x14, 0x9e, 0x56, 0x6d, 0xa6, 0x2a, 0x00, 0x08, 0xff, 0xff, 0xef,
                                                 0x43, 0xad, 0xde, 0x00, 0x00});
}

TEST_CASE("rANS decoding of truncated, extended or bit-flipped streams fails cleanly", "[entropy]") {
  std::mt19937_64 rng(21);
  std::vector<CdfTable> tables;
  for (int i = 0; i < 3; ++i) tables.push_back(random_table(rng));
  std::vector<int32_t> values;
  std::vector<const CdfTable*> chosen;
  for (int i = 0; i < 60; ++i) {
    chosen.push_back(&tables[i % 3]);
    values.push_back(i % 10 == 0 ? 5000 * (i - 30) : random_value(rng, *chosen.back()));
  }
  const std::vector<uint8_t> bytes = check_round_trip(values, chosen);

  // Decodes as many symbols as were coded; true when the stream passed finish().
  auto decode_all = [&](const std::vector<uint8_t>& stream, std::vector<int32_t>& decoded) {
    RansDecoder decoder(stream);
    decoded.clear();
    for (const CdfTable* table : chosen) decoded.push_back(decoder.get(*table));
    decoder.finish();
  };
  std::vector<int32_t> decoded;
  // A valid stream needs all of its words, so every strict prefix is refused.
  for (size_t length = 0; length < bytes.size(); ++length) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length));
    CHECK(error_kind_of([&] { decode_all(prefix, decoded); }) == ErrorKind::bad_input);
  }
  std::vector<uint8_t> extended = bytes;
  extended.insert(extended.end(), {1, 2, 3, 4});
  CHECK(error_kind_of([&] { decode_all(extended, decoded); }) == ErrorKind::bad_input);

  // A damaged stream either throws or decodes to values whose encoding is that very stream
  // (decoding with the final check is the inverse of encoding). Escape payload bits are coded
  // raw, so flipping one of them is a valid stream: only the bitstream's CRC can catch it.
  int refused = 0, flips = 0;
  for (size_t bit = 0; bit < 8 * bytes.size(); ++bit, ++flips) {
    std::vector<uint8_t> damaged = bytes;
    damaged[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    try {
      decode_all(damaged, decoded);
    } catch (const cosae::Error& error) {
      REQUIRE(error.kind() == ErrorKind::bad_input);
      ++refused;
      continue;
    }
    CHECK(check_round_trip(decoded, chosen) == damaged);
  }
  INFO(refused << " of " << flips << " bit flips refused");
  CHECK(refused > flips / 2);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> garbage(rng() % 64);
    for (auto& byte : garbage) byte = static_cast<uint8_t>(rng());
    try {
      decode_all(garbage, decoded);
    } catch (const cosae::Error& error) {
      REQUIRE(error.kind() == ErrorKind::bad_input);
    }
  }
}
