// The harmonic synthesis op: CPU against a float64 evaluation of the formula, gradients
// against float64 finite differences, the LibTorch formulations, and (tagged [cuda]) the CUDA
// kernels against the CPU. Inputs are drawn fresh each run; the seed is printed on failure.
#include <cmath>
#include <random>

#include "catch_compat.hpp"
#include "common/device.hpp"
#include "cosae/error.hpp"
#include "synthesis/formulations.hpp"
#include "synthesis/synthesis.hpp"

namespace syn = cosae::synthesis;

namespace {

struct Case {
  int64_t B, K, h, w, T;
};

uint64_t fresh_seed() {
  static std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

struct Inputs {
  torch::Tensor amplitude, phase, freqs;
};

Inputs random_inputs(const Case& c, torch::ScalarType dtype, uint64_t seed,
                     torch::Device device = torch::kCPU) {
  torch::manual_seed(seed);
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  Inputs in;
  in.amplitude = torch::rand({c.B, c.K, c.h, c.w}, opt).to(device, dtype);
  in.phase = ((torch::rand({c.B, c.K, c.h, c.w}, opt) * 2 - 1) * M_PI).to(device, dtype);
  // Frequencies in the half-plane band |u|, |v| <= T/2, as the model initialises them.
  in.freqs = ((torch::rand({c.K, 2}, opt) - 0.5) * static_cast<double>(c.T)).to(device, dtype);
  return in;
}

// The formula, evaluated element by element in float64 (independent of the op's
// separable/linear rewriting).
torch::Tensor formula_reference(const Inputs& in, int64_t T) {
  const auto A = in.amplitude.to(torch::kCPU, torch::kDouble).contiguous();
  const auto P = in.phase.to(torch::kCPU, torch::kDouble).contiguous();
  const auto F = in.freqs.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t B = A.size(0), K = A.size(1), h = A.size(2), w = A.size(3);
  auto out = torch::empty({B, K, h * T, w * T}, torch::kDouble);
  auto a = A.accessor<double, 4>(), p = P.accessor<double, 4>();
  auto f = F.accessor<double, 2>();
  auto o = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t Y = 0; Y < h * T; ++Y)
        for (int64_t X = 0; X < w * T; ++X) {
          const int64_t i = Y / T, y = Y % T, j = X / T, x = X % T;
          const double theta = 2 * M_PI * (f[k][0] * (x + 0.5) + f[k][1] * (y + 0.5)) / T;
          o[b][k][Y][X] = a[b][k][i][j] * std::cos(theta - p[b][k][i][j]);
        }
  return out;
}

double rel_err(const torch::Tensor& x, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kCPU, torch::kDouble);
  const auto d = x.to(torch::kCPU, torch::kDouble) - r;
  const double norm = r.norm().item<double>();
  return norm > 0 ? d.norm().item<double>() / norm : d.norm().item<double>();
}

const Case kCases[] = {
    {2, 3, 3, 5, 8}, {1, 4, 1, 1, 16}, {3, 2, 5, 3, 32}, {2, 5, 2, 7, 16}, {1, 1, 1, 3, 4}, {2, 2, 3, 2, 5},
};

}  // namespace

TEST_CASE("CPU synthesis matches the float64 formula", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  for (const auto& c : kCases) {
    INFO("B=" << c.B << " K=" << c.K << " h=" << c.h << " w=" << c.w << " T=" << c.T);
    const auto in = random_inputs(c, torch::kDouble, seed);
    const auto ref = formula_reference(in, c.T);
    CHECK(rel_err(syn::synthesis_forward(in.amplitude, in.phase, in.freqs, c.T), ref) < 1e-12);
    const auto in32 = random_inputs(c, torch::kFloat, seed);
    const auto out32 = syn::synthesis_forward(in32.amplitude, in32.phase, in32.freqs, c.T);
    CHECK(out32.scalar_type() == torch::kFloat);
    // float32 angles reach ~T/2 * 2 pi: their rounding bounds the error near 1e-6.
    CHECK(rel_err(out32, formula_reference(in32, c.T)) < 5e-6);
  }
}

TEST_CASE("CPU gradients match float64 finite differences", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const Case c{2, 3, 2, 3, 8};
  auto in = random_inputs(c, torch::kDouble, seed);
  const auto G = torch::randn({c.B, c.K, c.h * c.T, c.w * c.T}, torch::kDouble);
  const auto grads = syn::synthesis_backward(G, in.amplitude, in.phase, in.freqs, c.T);
  auto loss = [&](const Inputs& x) {
    return (syn::synthesis_forward(x.amplitude, x.phase, x.freqs, c.T) * G).sum().item<double>();
  };
  const double eps = 1e-6;
  auto check_fd = [&](torch::Tensor Inputs::*member, const torch::Tensor& analytic) {
    auto flat = (in.*member).view({-1});
    for (int64_t n = 0; n < flat.numel(); ++n) {
      const double saved = flat[n].item<double>();
      flat[n] = saved + eps;
      const double up = loss(in);
      flat[n] = saved - eps;
      const double down = loss(in);
      flat[n] = saved;
      const double numeric = (up - down) / (2 * eps);
      const double value = analytic.view({-1})[n].item<double>();
      INFO("element " << n);
      CHECK(std::abs(value - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  };
  check_fd(&Inputs::amplitude, grads.amplitude);
  check_fd(&Inputs::phase, grads.phase);
  check_fd(&Inputs::freqs, grads.frequencies);
}

TEST_CASE("cartesian mode: H = a cos theta + b sin theta, gradients by finite differences", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const Case c{2, 3, 2, 3, 8};
  const auto in = random_inputs(c, torch::kDouble, seed);
  const auto a = in.amplitude * torch::cos(in.phase), b = in.amplitude * torch::sin(in.phase);
  const auto linear = syn::synthesis_forward(a, b, in.freqs, c.T, syn::Coefficients::cartesian);
  CHECK(rel_err(linear, formula_reference(in, c.T)) < 1e-12);

  // dL/da, dL/db and dL/df against central differences.
  const auto G = torch::randn(linear.sizes(), torch::kDouble);
  auto A2 = a.clone().requires_grad_(true), B2 = b.clone().requires_grad_(true);
  auto F2 = in.freqs.clone().requires_grad_(true);
  (syn::harmonic_synthesis_linear(A2, B2, F2, c.T) * G).sum().backward();
  const double eps = 1e-6;
  auto loss = [&](const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& f) {
    return (syn::synthesis_forward(x, y, f, c.T, syn::Coefficients::cartesian) * G).sum().item<double>();
  };
  for (int which = 0; which < 3; ++which) {
    torch::Tensor base = which == 0 ? a.clone() : which == 1 ? b.clone() : in.freqs.clone();
    const torch::Tensor analytic = which == 0 ? A2.grad() : which == 1 ? B2.grad() : F2.grad();
    auto flat = base.view({-1});
    for (int64_t n = 0; n < flat.numel(); ++n) {
      const double saved = flat[n].item<double>();
      auto eval = [&](double v) {
        flat[n] = v;
        const double r = which == 0 ? loss(base, b, in.freqs) : which == 1 ? loss(a, base, in.freqs) : loss(a, b, base);
        flat[n] = saved;
        return r;
      };
      const double numeric = (eval(saved + eps) - eval(saved - eps)) / (2 * eps);
      INFO("input " << which << " element " << n);
      CHECK(std::abs(analytic.view({-1})[n].item<double>() - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  }
}

TEST_CASE("autograd function gives the op's gradients and refuses double backward", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const Case c{2, 4, 2, 2, 8};
  const auto in = random_inputs(c, torch::kDouble, seed);
  auto A = in.amplitude.clone().requires_grad_(true);
  auto P = in.phase.clone().requires_grad_(true);
  auto F = in.freqs.clone().requires_grad_(true);
  const auto G = torch::randn({c.B, c.K, c.h * c.T, c.w * c.T}, torch::kDouble);
  auto out = syn::harmonic_synthesis(A, P, F, c.T);
  out.backward(G);
  const auto expected = syn::synthesis_backward(G, in.amplitude, in.phase, in.freqs, c.T);
  CHECK(torch::allclose(A.grad(), expected.amplitude));
  CHECK(torch::allclose(P.grad(), expected.phase));
  CHECK(torch::allclose(F.grad(), expected.frequencies));

  auto out2 = syn::harmonic_synthesis(A, P, F, c.T);
  CHECK_THROWS_AS(torch::autograd::grad({(out2 * G).sum()}, {A}, {}, /*retain_graph=*/true, /*create_graph=*/true),
                  std::exception);
}

TEST_CASE("LibTorch formulations agree with the op", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  for (const auto& c : kCases) {
    const auto in = random_inputs(c, torch::kDouble, seed);
    const auto op = syn::synthesis_forward(in.amplitude, in.phase, in.freqs, c.T);
    CHECK(rel_err(syn::synthesis_naive(in.amplitude, in.phase, in.freqs, c.T), op) < 1e-12);
    CHECK(rel_err(syn::synthesis_transposed_conv(in.amplitude, in.phase, in.freqs, c.T), op) < 1e-12);
    const int64_t C = 6;
    const auto W = torch::randn({C, c.K}, torch::kDouble);
    const auto bias = torch::randn({C}, torch::kDouble);
    const auto projected = torch::conv2d(op, W.view({C, c.K, 1, 1}), bias);
    CHECK(rel_err(syn::synthesis_fused_projection(in.amplitude, in.phase, in.freqs, c.T, W, bias), projected) < 1e-12);
  }
}

TEST_CASE("non-contiguous inputs and empty batches", "[synthesis]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const Case c{2, 3, 4, 5, 8};
  const auto in = random_inputs(c, torch::kDouble, seed);
  // Same values through transposed storage.
  const auto A_t = in.amplitude.transpose(2, 3).contiguous().transpose(2, 3);
  const auto P_t = in.phase.transpose(0, 1).contiguous().transpose(0, 1);
  const auto F_t = in.freqs.t().contiguous().t();
  REQUIRE_FALSE(A_t.is_contiguous());
  REQUIRE_FALSE(F_t.is_contiguous());
  CHECK(torch::equal(syn::synthesis_forward(A_t, P_t, F_t, c.T),
                     syn::synthesis_forward(in.amplitude, in.phase, in.freqs, c.T)));

  const auto empty = random_inputs({0, 3, 2, 2, 8}, torch::kFloat, seed);
  const auto out = syn::synthesis_forward(empty.amplitude, empty.phase, empty.freqs, 8);
  CHECK(out.sizes() == torch::IntArrayRef({0, 3, 16, 16}));
  const auto g = syn::synthesis_backward(out, empty.amplitude, empty.phase, empty.freqs, 8);
  CHECK(g.amplitude.numel() == 0);
  CHECK(torch::equal(g.frequencies, torch::zeros({3, 2})));
}

TEST_CASE("bad shapes and dtypes are refused with cosae::Error", "[synthesis]") {
  const auto A = torch::rand({1, 2, 3, 3});
  const auto F = torch::rand({2, 2});
  CHECK_THROWS_AS(syn::synthesis_forward(A, torch::rand({1, 2, 3, 4}), F, 8), cosae::Error);
  CHECK_THROWS_AS(syn::synthesis_forward(A, A, torch::rand({3, 2}), 8), cosae::Error);
  CHECK_THROWS_AS(syn::synthesis_forward(A, A, F, 0), cosae::Error);
  CHECK_THROWS_AS(syn::synthesis_forward(A.view({2, 3, 3}), A.view({2, 3, 3}), F, 8), cosae::Error);
  CHECK_THROWS_AS(syn::synthesis_forward(A.to(torch::kInt), A.to(torch::kInt), F, 8), cosae::Error);
  CHECK_THROWS_AS(syn::synthesis_forward(A.to(torch::kHalf), A.to(torch::kHalf), F, 8), cosae::Error);
}

// ------------------------------------------------------------------------------- CUDA

TEST_CASE("CUDA synthesis matches the CPU", "[cuda][synthesis]") {
  if (!cosae::cuda_available()) COSAE_SKIP("no CUDA device");
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const torch::Device gpu(torch::kCUDA, 0);
  const Case cases[] = {{2, 3, 3, 5, 8},  {1, 4, 1, 1, 16}, {3, 2, 5, 3, 32}, {2, 5, 7, 9, 16},
                        {1, 256, 34, 60, 16}, {16, 8, 4, 4, 16}, {1, 2, 3, 17, 8}, {2, 2, 2, 3, 4}};
  for (const auto& c : cases) {
    INFO("B=" << c.B << " K=" << c.K << " h=" << c.h << " w=" << c.w << " T=" << c.T);
    const auto cpu = random_inputs(c, torch::kFloat, seed);
    const auto dev = random_inputs(c, torch::kFloat, seed, gpu);
    const auto out_cpu = syn::synthesis_forward(cpu.amplitude, cpu.phase, cpu.freqs, c.T);
    const auto out_gpu = syn::synthesis_forward(dev.amplitude, dev.phase, dev.freqs, c.T);
    CHECK(rel_err(out_gpu, out_cpu) < 1e-5);

    const auto G = torch::randn(out_cpu.sizes(), torch::kFloat);
    const auto g_cpu = syn::synthesis_backward(G, cpu.amplitude, cpu.phase, cpu.freqs, c.T);
    const auto g_gpu = syn::synthesis_backward(G.to(gpu), dev.amplitude, dev.phase, dev.freqs, c.T);
    CHECK(rel_err(g_gpu.amplitude, g_cpu.amplitude) < 1e-5);
    CHECK(rel_err(g_gpu.phase, g_cpu.phase) < 1e-5);
    CHECK(rel_err(g_gpu.frequencies, g_cpu.frequencies) < 1e-5);

    // float64 on the GPU against the float64 formula.
    const auto dev64 = random_inputs(c, torch::kDouble, seed, gpu);
    if (c.B * c.K * c.h * c.w * c.T * c.T < 2'000'000)
      CHECK(rel_err(syn::synthesis_forward(dev64.amplitude, dev64.phase, dev64.freqs, c.T),
                    formula_reference(dev64, c.T)) < 1e-12);
  }
}

TEST_CASE("CUDA synthesis: non-contiguous inputs, empty batch, half precision", "[cuda][synthesis]") {
  if (!cosae::cuda_available()) COSAE_SKIP("no CUDA device");
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const torch::Device gpu(torch::kCUDA, 0);
  const Case c{2, 6, 3, 5, 16};
  const auto in = random_inputs(c, torch::kFloat, seed, gpu);
  const auto A_t = in.amplitude.transpose(2, 3).contiguous().transpose(2, 3);
  const auto F_t = in.freqs.t().contiguous().t();
  CHECK(torch::equal(syn::synthesis_forward(A_t, in.phase, F_t, c.T),
                     syn::synthesis_forward(in.amplitude, in.phase, in.freqs, c.T)));

  const auto empty = random_inputs({0, 3, 2, 2, 8}, torch::kFloat, seed, gpu);
  const auto out = syn::synthesis_forward(empty.amplitude, empty.phase, empty.freqs, 8);
  CHECK(out.size(0) == 0);
  const auto g = syn::synthesis_backward(out, empty.amplitude, empty.phase, empty.freqs, 8);
  CHECK(torch::equal(g.frequencies.cpu(), torch::zeros({3, 2})));

  const auto ref = syn::synthesis_forward(in.amplitude, in.phase, in.freqs, c.T);
  for (auto dtype : {torch::kHalf, torch::kBFloat16}) {
    const auto A = in.amplitude.to(dtype), P = in.phase.to(dtype);
    const auto out_h = syn::synthesis_forward(A, P, in.freqs, c.T);
    CHECK(out_h.scalar_type() == dtype);
    // Inputs rounded to 8 (bf16) or 11 (fp16) bits; arithmetic in float32.
    const auto ref_h = syn::synthesis_forward(A.to(torch::kFloat), P.to(torch::kFloat), in.freqs, c.T);
    CHECK(rel_err(out_h, ref_h) < (dtype == torch::kHalf ? 2e-3 : 1e-2));
    CHECK(rel_err(out_h, ref) < (dtype == torch::kHalf ? 5e-3 : 3e-2));
    const auto G = torch::randn(ref.sizes(), ref.options());
    const auto g_h = syn::synthesis_backward(G.to(dtype), A, P, in.freqs, c.T);
    const auto g_f = syn::synthesis_backward(G.to(dtype).to(torch::kFloat), A.to(torch::kFloat), P.to(torch::kFloat),
                                             in.freqs, c.T);
    CHECK(g_h.frequencies.scalar_type() == torch::kFloat);
    CHECK(rel_err(g_h.frequencies, g_f.frequencies) < 1e-5);
    CHECK(rel_err(g_h.amplitude, g_f.amplitude) < (dtype == torch::kHalf ? 2e-3 : 1e-2));
  }
}

TEST_CASE("CUDA cartesian mode matches the CPU", "[cuda][synthesis]") {
  if (!cosae::cuda_available()) COSAE_SKIP("no CUDA device");
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const torch::Device gpu(torch::kCUDA, 0);
  for (const Case& c : {Case{2, 5, 3, 7, 16}, Case{16, 8, 4, 4, 16}, Case{1, 3, 2, 5, 8}}) {
    const auto cpu = random_inputs(c, torch::kFloat, seed);
    const auto mode = syn::Coefficients::cartesian;
    const auto out_cpu = syn::synthesis_forward(cpu.amplitude, cpu.phase, cpu.freqs, c.T, mode);
    const auto out_gpu = syn::synthesis_forward(cpu.amplitude.to(gpu), cpu.phase.to(gpu), cpu.freqs.to(gpu), c.T, mode);
    CHECK(rel_err(out_gpu, out_cpu) < 1e-5);
    const auto G = torch::randn(out_cpu.sizes());
    const auto g_cpu = syn::synthesis_backward(G, cpu.amplitude, cpu.phase, cpu.freqs, c.T, mode);
    const auto g_gpu = syn::synthesis_backward(G.to(gpu), cpu.amplitude.to(gpu), cpu.phase.to(gpu),
                                               cpu.freqs.to(gpu), c.T, mode);
    CHECK(rel_err(g_gpu.amplitude, g_cpu.amplitude) < 1e-5);
    CHECK(rel_err(g_gpu.phase, g_cpu.phase) < 1e-5);
    CHECK(rel_err(g_gpu.frequencies, g_cpu.frequencies) < 1e-5);
  }
}

TEST_CASE("CUDA backward is bitwise deterministic", "[cuda][synthesis]") {
  if (!cosae::cuda_available()) COSAE_SKIP("no CUDA device");
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  const torch::Device gpu(torch::kCUDA, 0);
  const Case c{16, 64, 4, 4, 16};
  const auto in = random_inputs(c, torch::kFloat, seed, gpu);
  const auto G = torch::randn({c.B, c.K, c.h * c.T, c.w * c.T}, in.amplitude.options());
  const auto first = syn::synthesis_backward(G, in.amplitude, in.phase, in.freqs, c.T);
  for (int run = 0; run < 20; ++run) {
    const auto again = syn::synthesis_backward(G, in.amplitude, in.phase, in.freqs, c.T);
    REQUIRE(torch::equal(again.frequencies, first.frequencies));
    REQUIRE(torch::equal(again.amplitude, first.amplitude));
    REQUIRE(torch::equal(again.phase, first.phase));
  }
}
