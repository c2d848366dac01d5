// Helpers shared by the image I/O tests.
#pragma once

#include <random>
#include <stdexcept>
#include <string>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae_test {

inline cosae::Image random_image(int width, int height, int channels, int bit_depth, uint32_t seed) {
  cosae::Image image{width, height, channels, bit_depth, {}};
  image.samples.resize(image.sample_count());
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> sample(0, image.max_value());
  for (auto& value : image.samples) value = static_cast<uint16_t>(sample(generator));
  return image;
}

// Runs `body` and returns the cosae::Error it throws (failing the test if it throws none).
template <typename Body>
cosae::Error expect_error(Body&& body) {
  try {
    body();
  } catch (const cosae::Error& error) {
    return error;
  }
  FAIL("expected a cosae::Error");
  throw std::logic_error("unreachable");
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace cosae_test
