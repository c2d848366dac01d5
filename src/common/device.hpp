// Choosing the compute device from a --device string.
#pragma once

#include <string>

#include <torch/torch.h>

namespace cosae {

// "auto" (the GPU when there is one, else the CPU), "cpu", "cuda" or "cuda:N".
// Asking for CUDA where there is none is an error (ErrorKind::device): no silent fallback.
torch::Device resolve_device(const std::string& name);

// "CPU (N threads)" or "NVIDIA H100 80GB HBM3 (cuda:0)".
std::string describe_device(const torch::Device& device);

bool cuda_available();

// Waits for all work queued on the device (nothing to wait for on the CPU).
void synchronize(const torch::Device& device);

}  // namespace cosae
