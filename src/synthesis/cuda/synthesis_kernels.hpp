// Launchers of the harmonic synthesis CUDA kernels. Plain C++ on raw pointers (no LibTorch)
// so that nvcc can compile the kernels on any machine with the CUDA toolkit.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "synthesis/synthesis_math.hpp"

namespace cosae::synthesis::cuda_kernels {

enum class DType { f32, f64, f16, bf16 };

struct Shape {
  int64_t batch = 0;    // B
  int64_t freqs = 0;    // K
  int64_t cells_y = 0;  // h
  int64_t cells_x = 0;  // w
  int64_t tile = 0;     // T
};

// The backward's tile must divide the warp size: T in {1, 2, 4, 8, 16, 32}.
bool backward_supports_tile(int64_t tile);

// amplitude, phase (or a, b in cartesian mode): [B, K, h, w] in `dtype`; frequencies: [K, 2] in float32 (float64 when
// dtype is f64); harmonic: [B, K, hT, wT] in `dtype`. All contiguous, on the current device.
void forward(DType dtype, Coefficients mode, const Shape& shape, const void* amplitude, const void* phase, const void* frequencies,
             void* harmonic, cudaStream_t stream);

// Scratch for the frequency gradients' two-pass reduction: this many elements of the
// accumulation type (float32, or float64 for f64). O(K), independent of B, h and w.
int64_t backward_scratch_elements(const Shape& shape);

// grad_amplitude, grad_phase: [B, K, h, w] in `dtype`; grad_frequencies: [K, 2] in the
// accumulation type. Deterministic: no atomics; every sum runs in a fixed order.
void backward(DType dtype, Coefficients mode, const Shape& shape, const void* grad_harmonic, const void* amplitude, const void* phase,
              const void* frequencies, void* grad_amplitude, void* grad_phase, void* grad_frequencies, void* scratch,
              cudaStream_t stream);

}  // namespace cosae::synthesis::cuda_kernels
