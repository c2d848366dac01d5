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

#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis {

// Differentiable in amplitude, phase and frequencies (a torch::autograd::Function).
// Double backward is refused with a clear error.
torch::Tensor harmonic_synthesis(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                 const torch::Tensor& frequencies, int64_t tile);

// The same from the linear coefficients a = A cos phi, b = A sin phi: H = a cos theta + b sin theta.
// Smooth everywhere in (a, b), unlike amplitude and phase at A = 0.
torch::Tensor harmonic_synthesis_linear(const torch::Tensor& a, const torch::Tensor& b,
                                        const torch::Tensor& frequencies, int64_t tile);

// The raw op, without autograd. In cartesian mode `amplitude` and `phase` hold a and b.
torch::Tensor synthesis_forward(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                const torch::Tensor& frequencies, int64_t tile,
                                Coefficients mode = Coefficients::polar);

struct SynthesisGradients {
  torch::Tensor amplitude;    // dL/dA (dL/da in cartesian mode),     [B, K, h, w]
  torch::Tensor phase;        // dL/dphase (dL/db in cartesian mode), [B, K, h, w]
  torch::Tensor frequencies;  // dL/df,     [K, 2]; deterministic on every device
};
SynthesisGradients synthesis_backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                                      const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                                      Coefficients mode = Coefficients::polar);

// Throws cosae::Error (usage) unless the shapes, dtypes and devices fit together.
void check_synthesis_inputs(const torch::Tensor& amplitude, const torch::Tensor& phase,
                            const torch::Tensor& frequencies, int64_t tile);

namespace cpu {
torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile, Coefficients mode);
SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                            Coefficients mode);
}  // namespace cpu

namespace cuda {
torch::Tensor forward(const torch::Tensor& amplitude, const torch::Tensor& phase, const torch::Tensor& frequencies,
                      int64_t tile, Coefficients mode);
SynthesisGradients backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                            const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                            Coefficients mode);
}  // namespace cuda

}  // namespace cosae::synthesis
