// `cosae bench train`: training throughput of a config (steps/s, images/s, MP/s), the share
// of each step spent waiting for the data loader, and peak memory. It runs the real training
// loop (`cosae train`) for warm-up plus timed steps on a folder of images, or on synthetic
// images when none is given. Under torchrun every rank trains and rank 0 reports the total.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cosae::bench {

struct TrainBenchOptions {
  std::string device = "auto";
  std::string config = "default";
  std::string data;   // "" = synthetic 512x512 images in a temporary folder
  int batch = 16;
  int crop = 256;
  int warmup = 10;    // steps not timed (cuDNN autotuning, loader warm-up)
  int steps = 50;     // timed steps
  int threads = 0;    // loader threads
  bool bf16 = false;  // autocast to bfloat16 (cosae train --bf16)
};

struct TrainBenchResult {
  std::string device, config;
  int world_size = 1;
  double step_ms = 0;          // median over the timed steps
  double images_per_s = 0;     // all ranks: world size x batch / mean step time
  double megapixels_per_s = 0;
  // Of the timed steps' time, the host's share waiting for the loader, queueing the forward
  // and backward passes, and waiting for the device to finish them (train/trainer.hpp).
  double data_wait_share = 0, queue_share = 0, sync_share = 0;
  double peak_mb = 0;          // CUDA: allocator peak; CPU: process peak RSS
  double timed_from_unix = 0, timed_to_unix = 0;  // the timed steps' wall-clock window (for GPU samplers)
};

TrainBenchResult run_train_bench(const TrainBenchOptions& options);
nlohmann::json to_json(const TrainBenchResult& result, const TrainBenchOptions& options);
std::string format_table(const TrainBenchResult& result, const TrainBenchOptions& options);

}  // namespace cosae::bench
