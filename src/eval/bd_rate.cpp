#include "eval/bd_rate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

#include "cosae/error.hpp"

namespace cosae::eval {
namespace {

constexpr std::size_t kMinPoints = 4;

// A curve y(x) as points sorted by strictly increasing x.
struct Samples {
  std::vector<double> x;
  std::vector<double> y;
};

// Checks one curve and returns it sorted by rate.
std::vector<RdPoint> checked_sorted(const std::vector<RdPoint>& curve, const char* name, BdMethod method) {
  COSAE_CHECK(curve.size() >= kMinPoints, usage, "BD: the ", name, " curve has ", curve.size(),
              " points; at least ", kMinPoints, " are needed");
  for (const auto& point : curve) {
    COSAE_CHECK(std::isfinite(point.bpp) && std::isfinite(point.psnr), usage, "BD: the ", name,
                " curve has a non-finite value");
    COSAE_CHECK(point.bpp > 0, usage, "BD: the ", name, " curve has a rate of ", point.bpp,
                "; rates must be positive");
  }
  auto sorted = curve;
  std::sort(sorted.begin(), sorted.end(), [](const RdPoint& a, const RdPoint& b) { return a.bpp < b.bpp; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    COSAE_CHECK(sorted[i].bpp != sorted[i - 1].bpp, usage, "BD: the ", name, " curve has two points at rate ",
                sorted[i].bpp);
  std::vector<double> psnrs;
  for (const auto& point : sorted) psnrs.push_back(point.psnr);
  if (method == BdMethod::pchip) {
    // Interpolation needs a function both ways: PSNR must rise with rate.
    for (std::size_t i = 1; i < sorted.size(); ++i)
      COSAE_CHECK(sorted[i].psnr > sorted[i - 1].psnr, usage, "BD: the ", name,
                  " curve is not monotone (PSNR ", sorted[i].psnr, " dB at ", sorted[i].bpp, " bpp after ",
                  sorted[i - 1].psnr, " dB at ", sorted[i - 1].bpp, " bpp)");
  } else {
    // The least-squares fit tolerates noise but not two rates at one PSNR.
    std::sort(psnrs.begin(), psnrs.end());
    COSAE_CHECK(std::adjacent_find(psnrs.begin(), psnrs.end()) == psnrs.end(), usage, "BD: the ", name,
                " curve has two points at the same PSNR");
  }
  return sorted;
}

// The curve as y(x): log-rate over PSNR, or PSNR over log-rate; sorted by x.
Samples as_function(const std::vector<RdPoint>& curve, bool rate_of_psnr) {
  std::vector<std::pair<double, double>> xy;
  for (const auto& point : curve) {
    const double log_rate = std::log(point.bpp);
    xy.emplace_back(rate_of_psnr ? point.psnr : log_rate, rate_of_psnr ? log_rate : point.psnr);
  }
  std::sort(xy.begin(), xy.end());
  Samples samples;
  for (const auto& [x, y] : xy) {
    samples.x.push_back(x);
    samples.y.push_back(y);
  }
  return samples;
}

// Integral of the least-squares cubic through the samples over [lo, hi]. x is mapped to
// u = (x - centre) / half_span in [-1, 1] first, which keeps the normal equations well
// conditioned (PSNR^6 would otherwise be ~1e10).
double cubic_integral(const Samples& s, double lo, double hi) {
  const double centre = (s.x.front() + s.x.back()) / 2;
  const double half_span = (s.x.back() - s.x.front()) / 2;
  // Normal equations A c = b for y ~ c0 + c1 u + c2 u^2 + c3 u^3.
  std::array<std::array<double, 5>, 4> system{};  // augmented [A | b]
  for (std::size_t k = 0; k < s.x.size(); ++k) {
    const double u = (s.x[k] - centre) / half_span;
    std::array<double, 4> powers = {1, u, u * u, u * u * u};
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) system[i][j] += powers[i] * powers[j];
      system[i][4] += powers[i] * s.y[k];
    }
  }
  // Gaussian elimination with partial pivoting.
  for (int col = 0; col < 4; ++col) {
    int pivot = col;
    for (int row = col + 1; row < 4; ++row)
      if (std::abs(system[row][col]) > std::abs(system[pivot][col])) pivot = row;
    std::swap(system[col], system[pivot]);
    COSAE_CHECK(system[col][col] != 0, internal, "BD: singular cubic fit");
    for (int row = col + 1; row < 4; ++row) {
      const double factor = system[row][col] / system[col][col];
      for (int j = col; j < 5; ++j) system[row][j] -= factor * system[col][j];
    }
  }
  std::array<double, 4> c{};
  for (int i = 3; i >= 0; --i) {
    double value = system[i][4];
    for (int j = i + 1; j < 4; ++j) value -= system[i][j] * c[j];
    c[i] = value / system[i][i];
  }
  const auto antiderivative = [&](double x) {
    const double u = (x - centre) / half_span;
    return u * (c[0] + u * (c[1] / 2 + u * (c[2] / 3 + u * c[3] / 4)));
  };
  return half_span * (antiderivative(hi) - antiderivative(lo));
}

// End-point slope of a PCHIP curve (scipy's three-point formula with shape-preserving limits).
double pchip_end_slope(double h0, double h1, double m0, double m1) {
  const double d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
  if ((d > 0) != (m0 > 0) || d == 0 || m0 == 0) return 0;
  if ((m0 > 0) != (m1 > 0) && std::abs(d) > 3 * std::abs(m0)) return 3 * m0;
  return d;
}

// Slopes at the samples for a monotone piecewise cubic Hermite interpolant (Fritsch-Carlson,
// weighted harmonic mean of the neighbouring secants, as scipy.interpolate.PchipInterpolator).
std::vector<double> pchip_slopes(const Samples& s) {
  const std::size_t n = s.x.size();
  std::vector<double> h(n - 1), secant(n - 1), slope(n, 0.0);
  for (std::size_t k = 0; k + 1 < n; ++k) {
    h[k] = s.x[k + 1] - s.x[k];
    secant[k] = (s.y[k + 1] - s.y[k]) / h[k];
  }
  for (std::size_t k = 1; k + 1 < n; ++k) {
    const double m0 = secant[k - 1], m1 = secant[k];
    if (m0 == 0 || m1 == 0 || (m0 > 0) != (m1 > 0)) continue;  // local extremum: flat
    const double w1 = 2 * h[k] + h[k - 1];
    const double w2 = h[k] + 2 * h[k - 1];
    slope[k] = (w1 + w2) / (w1 / m0 + w2 / m1);
  }
  slope[0] = pchip_end_slope(h[0], h[1], secant[0], secant[1]);
  slope[n - 1] = pchip_end_slope(h[n - 2], h[n - 3], secant[n - 2], secant[n - 3]);
  return slope;
}

// Integral of the PCHIP interpolant over [lo, hi] (inside the samples' range), exact per
// segment: the Hermite basis integrated from 0 to t.
double pchip_integral(const Samples& s, double lo, double hi) {
  const auto slope = pchip_slopes(s);
  double total = 0;
  for (std::size_t k = 0; k + 1 < s.x.size(); ++k) {
    const double a = std::max(lo, s.x[k]);
    const double b = std::min(hi, s.x[k + 1]);
    if (b <= a) continue;
    const double h = s.x[k + 1] - s.x[k];
    const auto antiderivative = [&](double x) {
      const double t = (x - s.x[k]) / h;
      const double t2 = t * t, t3 = t2 * t, t4 = t3 * t;
      const double i00 = t4 / 2 - t3 + t;               // of 2t^3 - 3t^2 + 1
      const double i10 = t4 / 4 - 2 * t3 / 3 + t2 / 2;  // of t^3 - 2t^2 + t
      const double i01 = -t4 / 2 + t3;                  // of -2t^3 + 3t^2
      const double i11 = t4 / 4 - t3 / 3;               // of t^3 - t^2
      return h * (s.y[k] * i00 + h * slope[k] * i10 + s.y[k + 1] * i01 + h * slope[k + 1] * i11);
    };
    total += antiderivative(b) - antiderivative(a);
  }
  return total;
}

// Mean of test(x) - anchor(x) over the x range both curves cover.
double mean_difference(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test, BdMethod method,
                       bool rate_of_psnr) {
  const auto a = as_function(checked_sorted(anchor, "anchor", method), rate_of_psnr);
  const auto t = as_function(checked_sorted(test, "test", method), rate_of_psnr);
  const double lo = std::max(a.x.front(), t.x.front());
  const double hi = std::min(a.x.back(), t.x.back());
  COSAE_CHECK(hi > lo, usage, "BD: the curves do not overlap in ", rate_of_psnr ? "PSNR" : "rate");
  const auto integral = method == BdMethod::cubic ? cubic_integral : pchip_integral;
  return (integral(t, lo, hi) - integral(a, lo, hi)) / (hi - lo);
}

}  // namespace

double bd_rate(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test, BdMethod method) {
  const double mean_log_ratio = mean_difference(anchor, test, method, /*rate_of_psnr=*/true);
  return std::expm1(mean_log_ratio) * 100;
}

double bd_psnr(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test, BdMethod method) {
  return mean_difference(anchor, test, method, /*rate_of_psnr=*/false);
}

}  // namespace cosae::eval
