#include "train/dead_leaves.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cosae/error.hpp"

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

// A convex leaf meets each row of pixels in one interval: `span` gives it, in pixels from the
// centre, for a row at `dy` from the centre (false when the row misses the leaf).
struct Shape {
  enum Kind { disc, ellipse, polygon } kind = disc;
  double radius = 0;            // disc
  double qa = 0, qb = 0, qc = 0;  // ellipse: inside where qa dx^2 + qb dx dy + qc dy^2 <= 1
  int sides = 0;                // polygon: inside where nx dx + ny dy <= d for every side
  std::array<double, 8> nx{}, ny{}, d{};
  double extent_x = 0, extent_y = 0;  // half-sides of the bounding box

  bool span(double dy, double& lo, double& hi) const {
    switch (kind) {
      case disc: {
        const double h2 = radius * radius - dy * dy;
        if (h2 < 0) return false;
        hi = std::sqrt(h2);
        lo = -hi;
        return true;
      }
      case ellipse: {  // qa dx^2 + (qb dy) dx + (qc dy^2 - 1) <= 0
        const double b = qb * dy, c = qc * dy * dy - 1;
        const double disc2 = b * b - 4 * qa * c;
        if (disc2 < 0) return false;
        const double root = std::sqrt(disc2);
        lo = (-b - root) / (2 * qa);
        hi = (-b + root) / (2 * qa);
        return true;
      }
      case polygon: {
        lo = -extent_x;
        hi = extent_x;
        for (int i = 0; i < sides; ++i) {
          const double bound = d[i] - ny[i] * dy;  // nx dx <= bound
          if (std::abs(nx[i]) < 1e-12) {
            if (bound < 0) return false;
          } else if (nx[i] > 0) {
            hi = std::min(hi, bound / nx[i]);
          } else {
            lo = std::max(lo, bound / nx[i]);
          }
        }
        return lo <= hi;
      }
    }
    return false;
  }
};

// Ellipse of half-axes a, b, the first at `angle`.
Shape make_ellipse(double a, double b, double angle) {
  Shape s;
  s.kind = Shape::ellipse;
  const double c = std::cos(angle), n = std::sin(angle), ia = 1 / (a * a), ib = 1 / (b * b);
  // u = c dx + n dy, v = -n dx + c dy; u^2 ia + v^2 ib <= 1.
  s.qa = c * c * ia + n * n * ib;
  s.qb = 2 * c * n * (ia - ib);
  s.qc = n * n * ia + c * c * ib;
  s.extent_x = std::sqrt(a * a * c * c + b * b * n * n);
  s.extent_y = std::sqrt(a * a * n * n + b * b * c * c);
  return s;
}

// Convex polygon through `corners` (x, y) around the centre, in angular order.
Shape make_polygon(const std::array<double, 16>& corners, int count) {
  Shape s;
  s.kind = Shape::polygon;
  s.sides = count;
  double mx = 0, my = 0;  // a point inside: the corners' mean
  for (int i = 0; i < count; ++i) {
    mx += corners[2 * i] / count;
    my += corners[2 * i + 1] / count;
    s.extent_x = std::max(s.extent_x, std::abs(corners[2 * i]));
    s.extent_y = std::max(s.extent_y, std::abs(corners[2 * i + 1]));
  }
  for (int i = 0; i < count; ++i) {
    const int j = (i + 1) % count;
    const double ex = corners[2 * j] - corners[2 * i], ey = corners[2 * j + 1] - corners[2 * i + 1];
    double nx = ey, ny = -ex;  // a normal of the side, turned to point away from the inside
    if (nx * (mx - corners[2 * i]) + ny * (my - corners[2 * i + 1]) > 0) nx = -nx, ny = -ny;
    s.nx[i] = nx;
    s.ny[i] = ny;
    s.d[i] = nx * corners[2 * i] + ny * corners[2 * i + 1];
  }
  return s;
}

// A leaf's outline for DeadLeavesShapes::mixed, of area pi r^2.
Shape draw_mixed_shape(const std::function<double()>& uniform, double r) {
  const double kind = uniform(), angle = kTwoPi * uniform();
  if (kind < 0.25) {
    Shape s;
    s.radius = s.extent_x = s.extent_y = r;
    return s;
  }
  if (kind < 0.5) {
    const double k = std::sqrt(std::pow(6.0, uniform()));  // aspect k^2, 1 to 6, log-uniform
    return make_ellipse(r * k, r / k, angle);
  }
  std::array<double, 16> corners{};
  if (kind < 0.75) {
    const double k = std::sqrt(std::pow(16.0, uniform()));  // aspect 1 to 16: squares to strokes
    const double half = 0.5 * std::sqrt(kTwoPi / 2) * r;  // a square of side sqrt(pi) r
    const double a = half * k, b = half / k, c = std::cos(angle), n = std::sin(angle);
    const double u[4] = {a, -a, -a, a}, v[4] = {b, b, -b, -b};
    for (int i = 0; i < 4; ++i) {
      corners[2 * i] = c * u[i] - n * v[i];
      corners[2 * i + 1] = n * u[i] + c * v[i];
    }
    return make_polygon(corners, 4);
  }
  // 3 to 7 corners on a circle, each within a quarter step of the regular polygon's: every
  // gap below pi, so the polygon is convex and holds the centre. Scaled to the disc's area.
  const int count = 3 + static_cast<int>(std::min(4.999, 5 * uniform()));
  std::array<double, 8> theta{};
  for (int i = 0; i < count; ++i) theta[i] = angle + kTwoPi * (i + 0.5 * (uniform() - 0.5)) / count;
  double area = 0;  // of the polygon on the unit circle
  for (int i = 0; i < count; ++i) area += 0.5 * std::sin((i + 1 < count ? theta[i + 1] : theta[0] + kTwoPi) - theta[i]);
  const double scale = r * std::sqrt(kTwoPi / 2 / area);
  for (int i = 0; i < count; ++i) {
    corners[2 * i] = scale * std::cos(theta[i]);
    corners[2 * i + 1] = scale * std::sin(theta[i]);
  }
  return make_polygon(corners, count);
}

struct Leaf {
  double cx, cy;              // canvas pixels (supersampled)
  Shape shape;
  std::array<float, 3> colour;
  float slope_x, slope_y;     // shading: change per pixel, added to every channel
  float stripe_amplitude;     // 0: plain
  double stripe_phase_step_x, stripe_phase_step_y, stripe_phase;  // in table entries
};

Leaf draw_leaf(const std::function<double()>& uniform, int canvas, DeadLeavesShapes shapes) {
  Leaf leaf{};
  const double margin = kMargin * kSupersample;
  leaf.cx = uniform() * (canvas + 2 * margin) - margin;
  leaf.cy = uniform() * (canvas + 2 * margin) - margin;
  const double radius = kSupersample * power_law_radius(uniform(), kDeadLeavesMinRadius, kDeadLeavesMaxRadius);
  if (shapes == DeadLeavesShapes::mixed) {
    leaf.shape = draw_mixed_shape(uniform, radius);
  } else {
    leaf.shape.radius = leaf.shape.extent_x = leaf.shape.extent_y = radius;
  }
  // Grey level, then a saturation toward a random hue: mostly muted colours, some vivid.
  const double grey = uniform();
  const double saturation = uniform() * uniform();
  for (float& c : leaf.colour) c = static_cast<float>(grey + saturation * (uniform() - grey));
  // Shading: at most 0.3 across the disc of the leaf's area.
  const double shade = 0.15 * uniform() / radius, shade_angle = kTwoPi * uniform();
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
  const Shape& shape = leaf.shape;
  const int y0 = std::max(0, static_cast<int>(std::ceil(leaf.cy - shape.extent_y - 0.5)));
  const int y1 = std::min(canvas - 1, static_cast<int>(std::floor(leaf.cy + shape.extent_y - 0.5)));
  for (int y = y0; y <= y1; ++y) {
    const double dy = y + 0.5 - leaf.cy;
    double lo = 0, hi = 0;
    if (!shape.span(dy, lo, hi)) continue;
    const int x0 = std::max(0, static_cast<int>(std::ceil(leaf.cx + lo - 0.5)));
    const int x1 = std::min(canvas - 1, static_cast<int>(std::floor(leaf.cx + hi - 0.5)));
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

DeadLeavesShapes parse_dead_leaves_shapes(const std::string& name) {
  if (name == "discs") return DeadLeavesShapes::discs;
  if (name == "mixed") return DeadLeavesShapes::mixed;
  COSAE_FAIL(usage, "dead-leaves shapes must be discs or mixed, not '", name, "'");
}

void render_dead_leaves(const std::function<double()>& uniform, int side, float* planar_rgb, DeadLeavesShapes shapes) {
  const int canvas = side * kSupersample;
  thread_local std::vector<float> rgb;  // interleaved canvas, reused: one per loader thread
  rgb.assign(std::size_t(canvas) * canvas * 3, static_cast<float>(uniform()));  // the background
  // Discs are centred on the image or near it, so that its borders are covered as its middle.
  const double area = (side + 2 * kMargin) * (side + 2 * kMargin);
  const auto leaves = static_cast<int64_t>(
      std::ceil(kCoverageDepth * area / mean_disc_area(kDeadLeavesMinRadius, kDeadLeavesMaxRadius)));
  for (int64_t i = 0; i < leaves; ++i) paint(draw_leaf(uniform, canvas, shapes), canvas, rgb);

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
