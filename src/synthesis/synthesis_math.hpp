// The harmonic construction's per-element maths: one source of truth for the CPU path
// (synthesis/cpu/) and the CUDA kernels (synthesis/cuda/). No LibTorch here.
//
// A cell (i, j) of frequency k expands into a T x T tile:
//   H(x, y) = A cos(theta(x, y) - phi),  theta = 2 pi (u (x + 1/2) + v (y + 1/2)) / T
// With a = A cos phi, b = A sin phi and the separable angles alpha_x = 2 pi u (x + 1/2) / T,
// beta_y = 2 pi v (y + 1/2) / T:
//   H = a cos(alpha + beta) + b sin(alpha + beta) = cos(beta) p_x + sin(beta) q_x,
//   p_x = a cos(alpha_x) + b sin(alpha_x),   q_x = b cos(alpha_x) - a sin(alpha_x).
// So a tile costs 2T sin/cos pairs for the basis and one for the cell, then 2 FMAs per pixel.
//
// Backward, with G = dL/dH and the row sums over y of one column x
//   r_c = sum_y G cos(beta_y),  r_s = sum_y G sin(beta_y),  r_cy, r_sy: the same weighted by y+1/2,
// the column's sums of G C and G S (C = cos theta, S = sin theta) are
//   gC_x = cos(alpha_x) r_c - sin(alpha_x) r_s,   gS_x = sin(alpha_x) r_c + cos(alpha_x) r_s
// and over the tile: dL/da = sum_x gC_x, dL/db = sum_x gS_x (the gradients in cartesian
// mode), then in polar mode
//   dL/dA = dL/da cos phi + dL/db sin phi,   dL/dphi = -b dL/da + a dL/db,
//   dL/du = 2 pi / T * sum_x (x + 1/2) (b gC_x - a gS_x),
//   dL/dv = 2 pi / T * sum_x (b gCy_x - a gSy_x)   (gCy, gSy from r_cy, r_sy).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define COSAE_HD __host__ __device__ __forceinline__
#else
#define COSAE_HD inline
#endif

namespace cosae::synthesis {

// How a cell's two input maps hold its coefficients: amplitude and phase (A, phi), or the
// linear pair (a, b) = (A cos phi, A sin phi) itself.
enum class Coefficients : int { polar = 0, cartesian = 1 };

constexpr double kPi = 3.14159265358979323846;

// sin(pi x) and cos(pi x), accurate for large |x| (the reduction is exact in binary).
template <typename T>
COSAE_HD void sincos_pi(T x, T* s, T* c) {
#if defined(__CUDA_ARCH__)
  sincospi(x, s, c);
#else
  const T r = x - T(2) * std::nearbyint(x * T(0.5));  // r in [-1, 1], exact
  *s = std::sin(T(kPi) * r);
  *c = std::cos(T(kPi) * r);
#endif
}

// The basis angle of pixel coordinate `pos` (0 <= pos < T) for frequency `f`, in units of pi:
// 2 f (pos + 1/2) / T.
template <typename T>
COSAE_HD T basis_angle_over_pi(T f, int pos, int tile) {
  return T(2) * f * (T(pos) + T(0.5)) / T(tile);
}

// sin and cos of an angle in radians.
template <typename T>
COSAE_HD void sin_cos(T angle, T* s, T* c) {
#if defined(__CUDA_ARCH__)
  sincos(angle, s, c);
#else
  *s = std::sin(angle);
  *c = std::cos(angle);
#endif
}

// The cell's coefficients in the linear form, (a, b) = (A cos phi, A sin phi).
template <typename T>
COSAE_HD void cell_coefficients(Coefficients mode, T in0, T in1, T* a, T* b) {
  if (mode == Coefficients::cartesian) {
    *a = in0;
    *b = in1;
    return;
  }
  T s, c;
  sin_cos(in1, &s, &c);
  *a = in0 * c;
  *b = in0 * s;
}

// p_x and q_x of the header comment.
template <typename T>
COSAE_HD void column_terms(T a, T b, T cos_alpha, T sin_alpha, T* p, T* q) {
  *p = a * cos_alpha + b * sin_alpha;
  *q = b * cos_alpha - a * sin_alpha;
}

// H(x, y) from the column terms and the row basis.
template <typename T>
COSAE_HD T harmonic_value(T p, T q, T cos_beta, T sin_beta) {
  return cos_beta * p + sin_beta * q;
}

// The pixel's basis pair from its column and row angles: cos and sin of alpha + beta, so that
// H = a c + b s (the same value as harmonic_value(column_terms(...)), regrouped so a kernel
// can reuse c and s for every batch entry).
template <typename T>
COSAE_HD void pixel_basis(T cos_alpha, T sin_alpha, T cos_beta, T sin_beta, T* c, T* s) {
  *c = cos_alpha * cos_beta - sin_alpha * sin_beta;
  *s = sin_alpha * cos_beta + cos_alpha * sin_beta;
}

// Column sums of G C and G S from the row sums r_c, r_s.
template <typename T>
COSAE_HD void column_grad_sums(T cos_alpha, T sin_alpha, T r_c, T r_s, T* g_c, T* g_s) {
  *g_c = cos_alpha * r_c - sin_alpha * r_s;
  *g_s = sin_alpha * r_c + cos_alpha * r_s;
}

// The six per-tile sums the backward needs.
template <typename T>
struct TileGradSums {
  T g_c = 0, g_s = 0;      // sum G C, sum G S
  T g_cx = 0, g_sx = 0;    // weighted by x + 1/2
  T g_cy = 0, g_sy = 0;    // weighted by y + 1/2
};

// Gradients of one cell from its tile sums: with respect to its inputs (A and phi, or a
// and b) and its share of the frequency gradient.
template <typename T>
COSAE_HD void cell_gradients(Coefficients mode, const TileGradSums<T>& sums, T in0, T in1, int tile, T* dL_din0,
                             T* dL_din1, T* dL_du, T* dL_dv) {
  T a, b;
  if (mode == Coefficients::cartesian) {
    a = in0, b = in1;
    *dL_din0 = sums.g_c;  // dL/da
    *dL_din1 = sums.g_s;  // dL/db
  } else {
    T s, c;
    sin_cos(in1, &s, &c);
    a = in0 * c, b = in0 * s;
    *dL_din0 = sums.g_c * c + sums.g_s * s;  // dL/dA
    *dL_din1 = b * -sums.g_c + a * sums.g_s;  // dL/dphi
  }
  const T scale = T(2 * kPi) / T(tile);
  *dL_du = scale * (b * sums.g_cx - a * sums.g_sx);
  *dL_dv = scale * (b * sums.g_cy - a * sums.g_sy);
}

}  // namespace cosae::synthesis
