// Training checkpoints: weights, both optimizers' state, the step and the seed, in one
// LibTorch archive written atomically (temp file + rename). Every random draw of a step is
// seeded from (seed, step), so (seed, step) is the whole RNG state and resuming is exact.
#pragma once

#include <string>

#include <torch/torch.h>

#include "model/cosae_model.hpp"

namespace cosae::train {

struct CheckpointInfo {
  int64_t step = 0;      // steps completed
  uint64_t seed = 0;
  std::string config_json;
};

void save_checkpoint(const std::string& path, model::CosAEImpl& model, torch::optim::Optimizer& optimizer,
                     torch::optim::Optimizer& aux_optimizer, const CheckpointInfo& info);

// Reads only the info (to build the model before loading the weights).
CheckpointInfo read_checkpoint_info(const std::string& path);

// Loads weights and optimizer state into already-built objects; returns the info.
CheckpointInfo load_checkpoint(const std::string& path, model::CosAEImpl& model, torch::optim::Optimizer& optimizer,
                               torch::optim::Optimizer& aux_optimizer);

}  // namespace cosae::train
