// SHA-256 (FIPS 180-4), used to identify model files exactly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace cosae {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing, for inputs that arrive in pieces: update() any number of times, then
// finish() once.
class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, std::size_t size);
  Sha256Digest finish();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;     // bytes waiting in buffer_
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

Sha256Digest sha256(const uint8_t* data, std::size_t size);

// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Sha256Digest& digest);

}  // namespace cosae
