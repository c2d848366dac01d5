// Other ways to compute the harmonic synthesis, built from LibTorch ops (autograd included).
// They are the peers the custom op is measured against (cosae bench synthesis) and the
// independent references of the tests.
#pragma once

#include <torch/torch.h>

namespace cosae::synthesis {

// theta[k, y, x] = 2 pi (u_k (x + 1/2) + v_k (y + 1/2)) / T: [K, T, T].
torch::Tensor basis_angles(const torch::Tensor& frequencies, int64_t tile);

// The formula broadcast over [B, K, h, T, w, T]: H = A cos(theta - phase).
torch::Tensor synthesis_naive(const torch::Tensor& amplitude, const torch::Tensor& phase,
                              const torch::Tensor& frequencies, int64_t tile);

// The linear form: (a, b) = (A cos phase, A sin phase) through a depthwise transposed
// convolution (stride T, groups K) whose weights are the basis images cos theta, sin theta.
torch::Tensor synthesis_transposed_conv(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                        const torch::Tensor& frequencies, int64_t tile);

// Synthesis followed by a 1x1 projection K -> C (weight [C, K], bias [C]) without the
// K-channel map: one transposed convolution with weights W[c,k] cos theta_k, W[c,k] sin theta_k,
// i.e. a GEMM [cells x 2K] . [2K x C T^2].
torch::Tensor synthesis_fused_projection(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                         const torch::Tensor& frequencies, int64_t tile,
                                         const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace cosae::synthesis
