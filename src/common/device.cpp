#include "common/device.hpp"

#include "cosae/error.hpp"

#ifdef COSAE_WITH_CUDA
#include <cuda_runtime_api.h>

#include "common/cuda_check.hpp"
#endif

namespace cosae {

bool cuda_available() {
#ifdef COSAE_WITH_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

void synchronize(const torch::Device& device) {
#ifdef COSAE_WITH_CUDA
  if (device.is_cuda()) CUDA_CHECK(cudaDeviceSynchronize());
#else
  (void)device;
#endif
}

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
#ifndef COSAE_WITH_CUDA
    COSAE_FAIL(device, "--device ", name, ": this cosae was built without CUDA (CPU-only LibTorch)");
#else
    COSAE_CHECK(cuda_available(), device, "--device ", name, ": no CUDA GPU is available");
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      COSAE_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos, usage,
                  "--device ", name, ": expected cuda:N");
      index = std::stoi(digits);
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    COSAE_CHECK(index < count, device, "--device ", name, ": only ", count, " CUDA device(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
#endif
  }
  COSAE_FAIL(usage, "--device ", name, ": expected auto, cpu, cuda or cuda:N");
}

std::string describe_device(const torch::Device& device) {
  if (device.is_cpu()) return detail::concat("CPU (", at::get_num_threads(), " threads)");
#ifdef COSAE_WITH_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device.index() < 0 ? 0 : device.index()) == cudaSuccess)
    return detail::concat(prop.name, " (cuda:", device.index() < 0 ? 0 : device.index(), ")");
#endif
  return device.str();
}

}  // namespace cosae
