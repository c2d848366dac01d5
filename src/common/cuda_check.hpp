// CUDA_CHECK for code that talks to the CUDA runtime directly (kernel launchers).
// Plain C++: no LibTorch, so nvcc can compile the files that use it anywhere.
#pragma once

#include <cuda_runtime_api.h>

#include "cosae/error.hpp"

#define CUDA_CHECK(expr)                                                            \
  do {                                                                              \
    cudaError_t cosae_cuda_status_ = (expr);                                        \
    if (cosae_cuda_status_ != cudaSuccess)                                          \
      COSAE_FAIL(device, "CUDA: ", #expr, ": ", cudaGetErrorString(cosae_cuda_status_)); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
