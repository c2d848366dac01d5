// LibTorch side of the CUDA harmonic synthesis: checks, device guard, current stream,
// contiguity, dtype mapping; the kernels themselves are in synthesis_kernels.cu.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "cosae/error.hpp"
#include "synthesis/cuda/synthesis_kernels.hpp"
#include "synthesis/synthesis.hpp"

namespace cosae::synthesis::cuda {
namespace {

namespace k = cosae::synthesis::cuda_kernels;

k::DType kernel_dtype(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return k::DType::f32;
    case torch::kDouble: return k::DType::f64;
    case torch::kHalf: return k::DType::f16;
    case torch::kBFloat16: return k::DType::bf16;
    default: COSAE_FAIL(usage, "harmonic synthesis on CUDA: unsupported dtype ", t.scalar_type());
  }
}

// The kernels' accumulation type: float64 for float64 inputs, float32 otherwise.
torch::ScalarType accumulation_type(const torch::Tensor& amplitude) {
  return amplitude.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

k::Shape shape_of(const torch::Tensor& amplitude, int64_t tile) {
  return k::Shape{amplitude.size(0), amplitude.size(1), amplitude.size(2), amplitude.size(3), tile};
}

}  // namespace

torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile, Coefficients mode) {
  const c10::cuda::CUDAGuard guard(amplitude.device());
  const auto dtype = kernel_dtype(amplitude);
  const auto A = amplitude.contiguous();
  const auto P = phase.contiguous();
  const auto F = frequencies.to(accumulation_type(amplitude)).contiguous();
  auto out = torch::empty({A.size(0), A.size(1), A.size(2) * tile, A.size(3) * tile}, A.options());
  if (out.numel() == 0) return out;
  k::forward(dtype, mode, shape_of(A, tile), A.data_ptr(), P.data_ptr(), F.data_ptr(), out.data_ptr(),
             at::cuda::getCurrentCUDAStream());
  return out;
}

SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                            Coefficients mode) {
  const c10::cuda::CUDAGuard guard(amplitude.device());
  COSAE_CHECK(k::backward_supports_tile(tile), usage,
              "harmonic synthesis backward on CUDA: tile size must be 1, 2, 4, 8, 16 or 32, got ", tile);
  const auto dtype = kernel_dtype(amplitude);
  const auto acc = accumulation_type(amplitude);
  const auto G = grad_harmonic.to(amplitude.scalar_type()).contiguous();
  const auto A = amplitude.contiguous();
  const auto P = phase.contiguous();
  const auto F = frequencies.to(acc).contiguous();
  const auto shape = shape_of(A, tile);
  // The frequency gradients' reduction writes every entry (no memset) unless there are no
  // cells: then they are zero.
  const bool cells = A.numel() > 0;
  const auto freq_options = A.options().dtype(acc);
  SynthesisGradients grads{torch::empty_like(A), torch::empty_like(A),
                           cells ? torch::empty({A.size(1), 2}, freq_options) : torch::zeros({A.size(1), 2}, freq_options)};
  if (cells) {
    auto scratch = torch::empty({std::max<int64_t>(1, k::backward_scratch_elements(shape))}, A.options().dtype(acc));
    k::backward(dtype, mode, shape, G.data_ptr(), A.data_ptr(), P.data_ptr(), F.data_ptr(), grads.amplitude.data_ptr(),
                grads.phase.data_ptr(), grads.frequencies.data_ptr(), scratch.data_ptr(),
                at::cuda::getCurrentCUDAStream());
  }
  grads.frequencies = grads.frequencies.to(frequencies.scalar_type());
  return grads;
}

}  // namespace cosae::synthesis::cuda
