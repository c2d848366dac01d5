// Timing for benchmarks: CUDA events on the current stream for GPU work, a steady clock on
// the CPU; warm-up runs first, then the median of many.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

#include "common/device.hpp"  // synchronize

namespace cosae::bench {

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
  int runs = 0;
};

Timing time_median(const std::function<void()>& fn, const torch::Device& device, int warmup, int repeats);

// Peak bytes allocated on a CUDA device since the last reset (0 on the CPU).
void reset_peak_memory(const torch::Device& device);
int64_t peak_memory_bytes(const torch::Device& device);
int64_t allocated_memory_bytes(const torch::Device& device);

// The median of a list (0 for an empty one).
double median(std::vector<double> values);
// This process's peak resident memory so far, MB (Linux ru_maxrss).
double process_peak_rss_mb();

}  // namespace cosae::bench
