#include "bench/timer.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#ifdef COSAE_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>

#include "common/cuda_check.hpp"
#endif

namespace cosae::bench {

Timing time_median(const std::function<void()>& fn, const torch::Device& device, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(device);
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(repeats));
  for (int i = 0; i < repeats; ++i) {
#ifdef COSAE_WITH_CUDA
    if (device.is_cuda()) {
      cudaEvent_t start, stop;
      CUDA_CHECK(cudaEventCreate(&start));
      CUDA_CHECK(cudaEventCreate(&stop));
      const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      CUDA_CHECK(cudaEventRecord(start, stream));
      fn();
      CUDA_CHECK(cudaEventRecord(stop, stream));
      CUDA_CHECK(cudaEventSynchronize(stop));
      float elapsed = 0;
      CUDA_CHECK(cudaEventElapsedTime(&elapsed, start, stop));
      CUDA_CHECK(cudaEventDestroy(start));
      CUDA_CHECK(cudaEventDestroy(stop));
      ms.push_back(elapsed);
      continue;
    }
#endif
    const auto start = std::chrono::steady_clock::now();
    fn();
    const auto stop = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  Timing t;
  t.runs = repeats;
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  t.min_ms = ms.front();
  t.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  return t;
}

#ifdef COSAE_WITH_CUDA
namespace {
const auto kAggregate = static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE);
}
void reset_peak_memory(const torch::Device& device) {
  if (!device.is_cuda()) return;
  // The caching allocator knows no device before CUDA's lazy initialisation, which the
  // first allocation performs; before it, resetting the statistics is an error.
  (void)torch::empty({1}, torch::TensorOptions().device(device));
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
}
int64_t peak_memory_bytes(const torch::Device& device) {
  if (!device.is_cuda()) return 0;
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index())
      .allocated_bytes[kAggregate]
      .peak;
}
int64_t allocated_memory_bytes(const torch::Device& device) {
  if (!device.is_cuda()) return 0;
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index())
      .allocated_bytes[kAggregate]
      .current;
}
#else
void reset_peak_memory(const torch::Device&) {}
int64_t peak_memory_bytes(const torch::Device&) { return 0; }
int64_t allocated_memory_bytes(const torch::Device&) { return 0; }
#endif

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double process_peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

}  // namespace cosae::bench
