// `cosae bench synthesis`: the harmonic synthesis op against its peers.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace cosae::bench {

struct SynthesisBenchOptions {
  torch::Device device = torch::kCPU;
  std::vector<std::string> sizes = {"train", "4k"};  // see synthesis_bench.cpp
  int warmup = 3;
  int repeats = 20;
  int64_t projection_channels = 128;  // C of the fused-projection comparison
};

struct SynthesisBenchRow {
  std::string size;    // "train" or "4k"
  std::string method;  // "cosae", "naive", "transposed_conv", "cosae+1x1", "fused_gemm", "copy"
  std::string pass;    // "forward" or "forward+backward"
  double median_ms = 0;
  double bytes = 0;     // bytes that must move (each input read once, each output written once)
  double gbps = 0;      // bytes / median time
  double max_rel_err = 0;  // max |x - ref| / max |ref| over outputs (and gradients), float64 reference
  double peak_extra_mb = 0;  // CUDA: peak allocation beyond inputs and outputs
};

std::vector<SynthesisBenchRow> run_synthesis_bench(const SynthesisBenchOptions& options);

nlohmann::json to_json(const std::vector<SynthesisBenchRow>& rows, const SynthesisBenchOptions& options);
std::string format_table(const std::vector<SynthesisBenchRow>& rows);

}  // namespace cosae::bench
