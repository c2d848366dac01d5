// The harmonic synthesis op (CosAE's harmonic construction module).
//
//   amplitude, phase: [B, K, h, w]   frequencies: [K, 2] = (u_k, v_k), cycles per tile
//   output:           [B, K, h*T, w*T]
//   H[b,k,iT+y,jT+x] = A[b,k,i,j] cos(2 pi (u_k (x+1/2) + v_k (y+1/2)) / T - phase[b,k,i,j])
//
// CPU: float32/float64. CUDA: float32/float64, and float16/bfloat16 amplitude and phase
// (float32 arithmetic, output in the input dtype; frequencies stay float32).
#pragma once

#include <torch/torch.h>

namespace cosae::synthesis {

// Differentiable in amplitude, phase and frequencies (a torch::autograd::Function).
// Double backward is refused with a clear error.
torch::Tensor harmonic_synthesis(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                 const torch::Tensor& frequencies, int64_t tile);

// The raw op, without autograd.
torch::Tensor synthesis_forward(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                const torch::Tensor& frequencies, int64_t tile);

struct SynthesisGradients {
  torch::Tensor amplitude;    // dL/dA,     [B, K, h, w]
  torch::Tensor phase;        // dL/dphase, [B, K, h, w]
  torch::Tensor frequencies;  // dL/df,     [K, 2]; deterministic on every device
};
SynthesisGradients synthesis_backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                                      const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile);

// Throws cosae::Error (usage) unless the shapes, dtypes and devices fit together.
void check_synthesis_inputs(const torch::Tensor& amplitude, const torch::Tensor& phase,
                            const torch::Tensor& frequencies, int64_t tile);

namespace cpu {
torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile);
SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile);
}  // namespace cpu

namespace cuda {
torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile);
SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile);
}  // namespace cuda

}  // namespace cosae::synthesis
