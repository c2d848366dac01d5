// CPU reference of the harmonic synthesis: multi-threaded with cosae::parallel_for.
// Layout: amplitude/phase [B, K, h, w] contiguous; output [B, K, h*T, w*T] contiguous.
#include <vector>

#include "common/parallel.hpp"

#include "cosae/error.hpp"
#include "synthesis/synthesis.hpp"
#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis::cpu {
namespace {

// cos/sin of the separable basis angles of every frequency: [K][T] each.
template <typename T>
struct BasisTables {
  std::vector<T> cos_alpha, sin_alpha, cos_beta, sin_beta;
  int64_t tile;

  BasisTables(const T* freqs, int64_t num_freqs, int64_t tile_) : tile(tile_) {
    const auto n = static_cast<std::size_t>(num_freqs * tile);
    cos_alpha.resize(n), sin_alpha.resize(n), cos_beta.resize(n), sin_beta.resize(n);
    for (int64_t k = 0; k < num_freqs; ++k)
      for (int64_t t = 0; t < tile; ++t) {
        const auto i = static_cast<std::size_t>(k * tile + t);
        sincos_pi(basis_angle_over_pi(freqs[2 * k], int(t), int(tile)), &sin_alpha[i], &cos_alpha[i]);
        sincos_pi(basis_angle_over_pi(freqs[2 * k + 1], int(t), int(tile)), &sin_beta[i], &cos_beta[i]);
      }
  }
};

template <typename T>
void forward_impl(Coefficients mode, const T* amplitude, const T* phase, const T* freqs, T* out, int64_t B, int64_t K, int64_t h,
                  int64_t w, int64_t tile) {
  const BasisTables<T> basis(freqs, K, tile);
  const int64_t width = w * tile;
  parallel_for(0, B * K * h, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> p(width), q(width);
    for (int64_t row = begin; row < end; ++row) {  // row = (b * K + k) * h + i
      const int64_t k = (row / h) % K;
      const T* ca = &basis.cos_alpha[k * tile];
      const T* sa = &basis.sin_alpha[k * tile];
      for (int64_t j = 0; j < w; ++j) {
        T a, b;
        cell_coefficients(mode, amplitude[row * w + j], phase[row * w + j], &a, &b);
        for (int64_t x = 0; x < tile; ++x) column_terms(a, b, ca[x], sa[x], &p[j * tile + x], &q[j * tile + x]);
      }
      T* out_row = out + row * tile * width;
      for (int64_t y = 0; y < tile; ++y) {
        const T cb = basis.cos_beta[k * tile + y], sb = basis.sin_beta[k * tile + y];
        T* dst = out_row + y * width;
        for (int64_t X = 0; X < width; ++X) dst[X] = harmonic_value(p[X], q[X], cb, sb);
      }
    }
  });
}

// Parallel over frequencies: each k's frequency gradient is summed by one thread in a fixed
// order, so the result does not depend on the thread count.
template <typename T>
void backward_impl(Coefficients mode, const T* grad, const T* amplitude, const T* phase, const T* freqs, T* dA, T* dphase, T* dfreq,
                   int64_t B, int64_t K, int64_t h, int64_t w, int64_t tile) {
  const BasisTables<T> basis(freqs, K, tile);
  const int64_t width = w * tile;
  parallel_for(0, K, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> r_c(width), r_s(width), r_cy(width), r_sy(width);
    for (int64_t k = begin; k < end; ++k) {
      const T* ca = &basis.cos_alpha[k * tile];
      const T* sa = &basis.sin_alpha[k * tile];
      const T* cb = &basis.cos_beta[k * tile];
      const T* sb = &basis.sin_beta[k * tile];
      T du = 0, dv = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < h; ++i) {
          const int64_t row = (b * K + k) * h + i;
          std::fill(r_c.begin(), r_c.end(), T(0));
          std::fill(r_s.begin(), r_s.end(), T(0));
          std::fill(r_cy.begin(), r_cy.end(), T(0));
          std::fill(r_sy.begin(), r_sy.end(), T(0));
          const T* g_row = grad + row * tile * width;
          for (int64_t y = 0; y < tile; ++y) {
            const T c = cb[y], s = sb[y], yw = T(y) + T(0.5);
            const T* g = g_row + y * width;
            for (int64_t X = 0; X < width; ++X) {
              r_c[X] += g[X] * c;
              r_s[X] += g[X] * s;
              r_cy[X] += g[X] * c * yw;
              r_sy[X] += g[X] * s * yw;
            }
          }
          for (int64_t j = 0; j < w; ++j) {
            TileGradSums<T> sums;
            for (int64_t x = 0; x < tile; ++x) {
              const int64_t X = j * tile + x;
              T gc, gs, gcy, gsy;
              column_grad_sums(ca[x], sa[x], r_c[X], r_s[X], &gc, &gs);
              column_grad_sums(ca[x], sa[x], r_cy[X], r_sy[X], &gcy, &gsy);
              const T xw = T(x) + T(0.5);
              sums.g_c += gc, sums.g_s += gs, sums.g_cx += gc * xw, sums.g_sx += gs * xw;
              sums.g_cy += gcy, sums.g_sy += gsy;
            }
            T cell_du, cell_dv;
            cell_gradients(mode, sums, amplitude[row * w + j], phase[row * w + j], int(tile), &dA[row * w + j],
                           &dphase[row * w + j], &cell_du, &cell_dv);
            du += cell_du, dv += cell_dv;
          }
        }
      dfreq[2 * k] = du;
      dfreq[2 * k + 1] = dv;
    }
  });
}

void check_cpu_dtype(const torch::Tensor& t) {
  COSAE_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble, usage,
              "harmonic synthesis on the CPU supports float32 and float64, not ", t.scalar_type());
}

}  // namespace

torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile, Coefficients mode) {
  check_cpu_dtype(amplitude);
  const auto A = amplitude.contiguous();
  const auto P = phase.contiguous();
  const auto F = frequencies.to(amplitude.scalar_type()).contiguous();
  const int64_t B = A.size(0), K = A.size(1), h = A.size(2), w = A.size(3);
  auto out = torch::empty({B, K, h * tile, w * tile}, A.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "synthesis_cpu_forward", [&] {
    forward_impl<scalar_t>(mode, A.data_ptr<scalar_t>(), P.data_ptr<scalar_t>(), F.data_ptr<scalar_t>(),
                           out.data_ptr<scalar_t>(), B, K, h, w, tile);
  });
  return out;
}

SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                            Coefficients mode) {
  check_cpu_dtype(amplitude);
  const auto G = grad_harmonic.to(amplitude.scalar_type()).contiguous();
  const auto A = amplitude.contiguous();
  const auto P = phase.contiguous();
  const auto F = frequencies.to(amplitude.scalar_type()).contiguous();
  const int64_t B = A.size(0), K = A.size(1), h = A.size(2), w = A.size(3);
  SynthesisGradients grads{torch::empty_like(A), torch::empty_like(A), torch::zeros({K, 2}, A.options())};
  if (A.numel() != 0) {
    AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "synthesis_cpu_backward", [&] {
      backward_impl<scalar_t>(mode, G.data_ptr<scalar_t>(), A.data_ptr<scalar_t>(), P.data_ptr<scalar_t>(),
                              F.data_ptr<scalar_t>(), grads.amplitude.data_ptr<scalar_t>(),
                              grads.phase.data_ptr<scalar_t>(), grads.frequencies.data_ptr<scalar_t>(), B, K, h, w,
                              tile);
    });
  }
  grads.frequencies = grads.frequencies.to(frequencies.scalar_type());
  return grads;
}

}  // namespace cosae::synthesis::cpu
