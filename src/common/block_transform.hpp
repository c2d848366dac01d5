// The orthonormal transforms that the detail layer (codec/detail.hpp) and the linear bound
// (eval/linear_bound.hpp) share: the block DCT-II and the colour basis.
#pragma once

#include <array>
#include <cmath>
#include <vector>

namespace cosae {

// The orthonormal DCT-II of side n, row-major: T[u * n + x] = a(u) cos((2x + 1) u pi / 2n),
// with a(0) = sqrt(1/n) and a(u) = sqrt(2/n) otherwise. Its inverse is its transpose.
inline std::vector<double> orthonormal_dct_matrix(int n) {
  std::vector<double> t(static_cast<std::size_t>(n) * n);
  const double pi = std::acos(-1.0);
  for (int u = 0; u < n; ++u)
    for (int x = 0; x < n; ++x)
      t[static_cast<std::size_t>(u) * n + x] =
          (u == 0 ? std::sqrt(1.0 / n) : std::sqrt(2.0 / n)) * std::cos((2 * x + 1) * u * pi / (2 * n));
  return t;
}

// The orthonormal colour basis, rows luma (1, 1, 1)/sqrt 3 and two colour differences,
// (1, 0, -1)/sqrt 2 and (1, -2, 1)/sqrt 6; its inverse is its transpose.
inline std::array<std::array<double, 3>, 3> orthonormal_colour_basis() {
  const double a = 1 / std::sqrt(3.0), b = 1 / std::sqrt(2.0), c = 1 / std::sqrt(6.0);
  return {{{a, a, a}, {b, 0, -b}, {c, -2 * c, c}}};
}

}  // namespace cosae
