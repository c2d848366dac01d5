// Exact area averaging (OpenCV's INTER_AREA) for `cosae prepare`, in plain C++ so that
// builds with and without OpenCV write identical training sets.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cosae/error.hpp"
#include "train/prepare.hpp"

namespace cosae::train {
namespace {

// Source pixels and weights of each output pixel along one axis.
struct AreaTaps {
  std::vector<int32_t> begin;  // taps of output o: [begin[o], begin[o + 1])
  std::vector<int32_t> source;
  std::vector<double> weight;
};

// Output pixel o covers [o * scale, (o + 1) * scale) of the source; each source pixel it
// overlaps contributes in proportion to the overlap, so the weights sum to 1.
AreaTaps make_area_taps(int source_size, int target_size) {
  AreaTaps taps;
  const double scale = static_cast<double>(source_size) / target_size;
  for (int output = 0; output < target_size; ++output) {
    taps.begin.push_back(static_cast<int32_t>(taps.source.size()));
    const double low = output * scale;
    const double high = (output + 1) * scale;
    for (int i = static_cast<int>(low); i < source_size && i < high; ++i) {
      const double overlap = std::min<double>(high, i + 1) - std::max<double>(low, i);
      if (overlap > 1e-9) {
        taps.source.push_back(i);
        taps.weight.push_back(overlap / scale);
      }
    }
  }
  taps.begin.push_back(static_cast<int32_t>(taps.source.size()));
  return taps;
}

}  // namespace

int downscaled_size(int size, double factor) {
  return std::max(1, static_cast<int>(std::lround(size / factor)));
}

Image area_downscale(const Image& source, int width, int height) {
  COSAE_CHECK(width >= 1 && height >= 1 && width <= source.width && height <= source.height, internal,
              "area_downscale: ", source.width, "x", source.height, " to ", width, "x", height, " is no reduction");
  COSAE_CHECK(source.samples.size() == source.sample_count(), internal, "area_downscale: sample count mismatch");
  const int in_channels = source.channels;
  const int out_channels = source.is_grey() ? 1 : 3;  // alpha dropped
  const AreaTaps columns = make_area_taps(source.width, width);
  const AreaTaps rows = make_area_taps(source.height, height);
  // Averages stay at source precision; 16-bit values are brought to 8 bits only when rounding.
  const double to_8_bits = 255.0 / source.max_value();

  Image result{width, height, out_channels, 8, {}};
  result.samples.resize(result.sample_count());
  std::vector<double> row_pass(std::size_t(width) * out_channels);  // one source row, reduced
  std::vector<double> accumulator(row_pass.size());
  for (int y = 0; y < height; ++y) {
    std::fill(accumulator.begin(), accumulator.end(), 0.0);
    for (int32_t r = rows.begin[y]; r < rows.begin[y + 1]; ++r) {
      // Reducing each contributing row on demand keeps memory at one row; a row shared by two
      // output rows (non-integer factors) is reduced twice, a small price.
      const uint16_t* in = source.samples.data() + std::size_t(rows.source[r]) * source.width * in_channels;
      for (int x = 0; x < width; ++x) {
        for (int c = 0; c < out_channels; ++c) row_pass[std::size_t(x) * out_channels + c] = 0.0;
        for (int32_t t = columns.begin[x]; t < columns.begin[x + 1]; ++t) {
          const uint16_t* pixel = in + std::size_t(columns.source[t]) * in_channels;
          for (int c = 0; c < out_channels; ++c) row_pass[std::size_t(x) * out_channels + c] += columns.weight[t] * pixel[c];
        }
      }
      const double row_weight = rows.weight[r];
      for (std::size_t i = 0; i < accumulator.size(); ++i) accumulator[i] += row_weight * row_pass[i];
    }
    uint16_t* out = result.samples.data() + std::size_t(y) * width * out_channels;
    for (std::size_t i = 0; i < accumulator.size(); ++i)
      out[i] = static_cast<uint16_t>(std::clamp(std::floor(accumulator[i] * to_8_bits + 0.5), 0.0, 255.0));
  }
  return result;
}

}  // namespace cosae::train
