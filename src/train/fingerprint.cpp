// Perceptual fingerprints and the standard-test-image rules; see fingerprint.hpp.
#include "train/fingerprint.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <regex>

#include "cosae/error.hpp"
#include "train/prepare.hpp"

namespace cosae::train {
namespace {

constexpr int kThumb = 32;
constexpr int kLow = 8;
constexpr double kAspectTolerance = 0.05;

// The image averaged over exact areas into kThumb x kThumb pixels, as luma (BT.601 weights).
std::array<double, kThumb * kThumb> thumbnail(const Image& image) {
  const Image small = area_downscale(image, kThumb, kThumb);  // 8-bit, grey or RGB
  std::array<double, kThumb * kThumb> luma{};
  for (std::size_t i = 0; i < luma.size(); ++i) {
    const uint16_t* p = small.samples.data() + i * small.channels;
    luma[i] = small.channels == 1 ? p[0] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  }
  return luma;
}

}  // namespace

Fingerprint fingerprint(const Image& image) {
  COSAE_CHECK(image.samples.size() == image.sample_count(), internal, "fingerprint: malformed image");
  Fingerprint result;
  result.aspect = image.height > 0 ? static_cast<double>(image.width) / image.height : 1.0;
  if (image.width < kThumb || image.height < kThumb) {
    result.flat = true;  // too small to say anything
    return result;
  }
  const auto thumb = thumbnail(image);

  double mean = 0.0;
  for (double v : thumb) mean += v;
  mean /= thumb.size();
  double variance = 0.0;
  for (double v : thumb) variance += (v - mean) * (v - mean);
  variance /= thumb.size();

  // Orthonormal DCT-II rows 0..7 of size 32; C = B T B^T.
  std::array<double, kLow * kThumb> basis{};
  for (int k = 0; k < kLow; ++k)
    for (int n = 0; n < kThumb; ++n)
      basis[k * kThumb + n] = std::sqrt((k == 0 ? 1.0 : 2.0) / kThumb) * std::cos(M_PI * (2 * n + 1) * k / (2.0 * kThumb));
  std::array<double, kLow * kThumb> half{};  // B T: 8 x 32
  for (int k = 0; k < kLow; ++k)
    for (int x = 0; x < kThumb; ++x) {
      double sum = 0.0;
      for (int y = 0; y < kThumb; ++y) sum += basis[k * kThumb + y] * thumb[y * kThumb + x];
      half[k * kThumb + x] = sum;
    }
  std::array<double, kLow * kLow> coefficients{};
  for (int k = 0; k < kLow; ++k)
    for (int l = 0; l < kLow; ++l) {
      double sum = 0.0;
      for (int x = 0; x < kThumb; ++x) sum += half[k * kThumb + x] * basis[l * kThumb + x];
      coefficients[k * kLow + l] = sum;
    }

  std::array<double, kLow * kLow - 1> ac{};
  std::copy(coefficients.begin() + 1, coefficients.end(), ac.begin());
  std::array<double, kLow * kLow - 1> sorted = ac;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median = sorted[sorted.size() / 2];

  for (std::size_t i = 0; i < ac.size(); ++i)
    if (ac[i] > median) result.bits |= uint64_t(1) << i;
  result.flat = variance < 1.0;
  return result;
}

int fingerprint_distance(const Fingerprint& a, const Fingerprint& b) {
  uint64_t differ = a.bits ^ b.bits;
  int count = 0;
  for (; differ; differ &= differ - 1) ++count;
  return count;
}

bool resembles(const Fingerprint& candidate, const Fingerprint& reference) {
  return !candidate.flat && !reference.flat && fingerprint_distance(candidate, reference) <= kNearBits;
}

bool same_picture(const Fingerprint& a, const Fingerprint& b) {
  return resembles(a, b) && std::abs(a.aspect / b.aspect - 1.0) <= kAspectTolerance;
}

std::string standard_test_image_name(const std::string& path) {
  // Test-set names, and the classic test images' names as whole words of a file name.
  static const std::vector<std::pair<std::regex, const char*>> rules = [] {
    const auto flags = std::regex::icase | std::regex::ECMAScript;
    std::vector<std::pair<std::regex, const char*>> r;
    r.emplace_back(std::regex("kodim[0-9]", flags), "a Kodak test image name (kodimNN)");
    r.emplace_back(std::regex("(^|[^a-z])(kodak|tecnick|div2k|urban100|manga109|usc[-_ ]?sipi)([^a-z]|$)", flags),
                   "a test set's name");
    r.emplace_back(std::regex("(^|[^a-z])clic(20[0-9][0-9])?([^a-z]|$)", flags), "the CLIC test set's name");
    r.emplace_back(std::regex("(^|/)[1-7]\\.[1-5]\\.[0-9][0-9](\\.[a-z]+)?$", flags),
                   "a USC-SIPI file name (volume.section.number)");
    r.emplace_back(std::regex("(^|[/_. -])(lena|lenna|mandrill|baboon|barbara|cameraman|goldhill|zelda|peppers)"
                              "([0-9]*)([_. -][^/]*)?$",
                              flags),
                   "a classic test image's name");
    return r;
  }();
  for (const auto& [pattern, reason] : rules)
    if (std::regex_search(path, pattern)) return reason;
  return "";
}

}  // namespace cosae::train
