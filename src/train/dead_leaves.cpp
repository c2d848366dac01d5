#include "train/dead_leaves.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cosae::train {
namespace {

constexpr int kSupersample = 2;       // rendered at this multiple of the side, then box-averaged
constexpr double kCoverageDepth = 5;  // expected discs over each pixel: 1 - e^-5 of it covered
constexpr double kMargin = 16;        // output pixels around the image where discs may be centred
constexpr double kTwoPi = 6.283185307179586;

// sin over one period in a table: a disc may cover the whole canvas, a call per pixel is slow.
constexpr int kSineSize = 4096;
const std::array<float, kSineSize>& sine_table() {
  static const auto table = [] {
    std::array<float, kSineSize> t{};
    for (int i = 0; i < kSineSize; ++i) t[i] = static_cast<float>(std::sin(kTwoPi * i / kSineSize));
    return t;
  }();
  return table;
}

// Radius with density ~ r^-3 on [low, high] (inverse of its distribution function).
double power_law_radius(double u, double low, double high) {
  const double a = 1.0 / (low * low), b = 1.0 / (high * high);
  return 1.0 / std::sqrt(a - u * (a - b));
}

// Mean disc area under that law: pi * E[r^2] = pi * 2 ln(high / low) / (low^-2 - high^-2).
double mean_disc_area(double low, double high) {
  return kTwoPi * std::log(high / low) / (1.0 / (low * low) - 1.0 / (high * high));
}

struct Leaf {
  double cx, cy, radius;      // canvas pixels (supersampled)
  std::array<float, 3> colour;
  float slope_x, slope_y;     // shading: change per pixel, added to every channel
  float stripe_amplitude;     // 0: plain
  double stripe_phase_step_x, stripe_phase_step_y, stripe_phase;  // in table entries
};

Leaf draw_leaf(const std::function<double()>& uniform, int canvas) {
  Leaf leaf{};
  const double margin = kMargin * kSupersample;
  leaf.cx = uniform() * (canvas + 2 * margin) - margin;
  leaf.cy = uniform() * (canvas + 2 * margin) - margin;
  leaf.radius = kSupersample * power_law_radius(uniform(), kDeadLeavesMinRadius, kDeadLeavesMaxRadius);
  // Grey level, then a saturation toward a random hue: mostly muted colours, some vivid.
  const double grey = uniform();
  const double saturation = uniform() * uniform();
  for (float& c : leaf.colour) c = static_cast<float>(grey + saturation * (uniform() - grey));
  // Shading: at most 0.3 across the disc.
  const double shade = 0.15 * uniform() / leaf.radius, shade_angle = kTwoPi * uniform();
  leaf.slope_x = static_cast<float>(shade * std::cos(shade_angle));
  leaf.slope_y = static_cast<float>(shade * std::sin(shade_angle));
  if (uniform() < 0.5) {
    // Period from 2.5 to 64 output pixels, log-uniform; contrast up to +-0.25.
    const double period = 2.5 * std::pow(64.0 / 2.5, uniform()) * kSupersample;
    const double angle = kTwoPi * uniform();
    leaf.stripe_amplitude = static_cast<float>(0.25 * uniform());
    leaf.stripe_phase_step_x = kSineSize * std::cos(angle) / period;
    leaf.stripe_phase_step_y = kSineSize * std::sin(angle) / period;
    leaf.stripe_phase = kSineSize * uniform();
  }
  return leaf;
}

void paint(const Leaf& leaf, int canvas, std::vector<float>& rgb) {
  const auto& sine = sine_table();
  const int y0 = std::max(0, static_cast<int>(std::ceil(leaf.cy - leaf.radius - 0.5)));
  const int y1 = std::min(canvas - 1, static_cast<int>(std::floor(leaf.cy + leaf.radius - 0.5)));
  const double r2 = leaf.radius * leaf.radius;
  for (int y = y0; y <= y1; ++y) {
    const double dy = y + 0.5 - leaf.cy;
    const double half = std::sqrt(std::max(0.0, r2 - dy * dy));
    const int x0 = std::max(0, static_cast<int>(std::ceil(leaf.cx - half - 0.5)));
    const int x1 = std::min(canvas - 1, static_cast<int>(std::floor(leaf.cx + half - 0.5)));
    for (int x = x0; x <= x1; ++x) {
      const double dx = x + 0.5 - leaf.cx;
      float offset = static_cast<float>(leaf.slope_x * dx + leaf.slope_y * dy);
      if (leaf.stripe_amplitude > 0) {
        const double phase = leaf.stripe_phase + leaf.stripe_phase_step_x * dx + leaf.stripe_phase_step_y * dy;
        const auto index = static_cast<int64_t>(std::floor(phase)) & (kSineSize - 1);
        offset += leaf.stripe_amplitude * sine[static_cast<std::size_t>(index)];
      }
      float* pixel = rgb.data() + (std::size_t(y) * canvas + x) * 3;
      for (int c = 0; c < 3; ++c) pixel[c] = leaf.colour[c] + offset;
    }
  }
}

}  // namespace

void render_dead_leaves(const std::function<double()>& uniform, int side, float* planar_rgb) {
  const int canvas = side * kSupersample;
  thread_local std::vector<float> rgb;  // interleaved canvas, reused: one per loader thread
  rgb.assign(std::size_t(canvas) * canvas * 3, static_cast<float>(uniform()));  // the background
  // Discs are centred on the image or near it, so that its borders are covered as its middle.
  const double area = (side + 2 * kMargin) * (side + 2 * kMargin);
  const auto leaves = static_cast<int64_t>(
      std::ceil(kCoverageDepth * area / mean_disc_area(kDeadLeavesMinRadius, kDeadLeavesMaxRadius)));
  for (int64_t i = 0; i < leaves; ++i) paint(draw_leaf(uniform, canvas), canvas, rgb);

  const std::size_t plane = std::size_t(side) * side;
  constexpr float kWeight = 1.0f / (kSupersample * kSupersample);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      for (int c = 0; c < 3; ++c) {
        float sum = 0;
        for (int sy = 0; sy < kSupersample; ++sy)
          for (int sx = 0; sx < kSupersample; ++sx)
            sum += std::clamp(
                rgb[((std::size_t(y) * kSupersample + sy) * canvas + std::size_t(x) * kSupersample + sx) * 3 + c],
                0.0f, 1.0f);
        planar_rgb[c * plane + std::size_t(y) * side + x] = sum * kWeight;
      }
    }
  }
}

}  // namespace cosae::train
