// AdamW's update with LibTorch's multi-tensor (_foreach_) kernels: the same arithmetic, in
// the same order, as torch::optim::AdamW::step() (amsgrad off), and the same state, kept in
// the optimizer so its checkpoints are unchanged. A step costs a dozen multi-tensor launches
// instead of about nine kernels per parameter, which on a GPU leaves the host's launch rate
// as the limit of the training loop.
#pragma once

#include <torch/torch.h>

namespace cosae::train {

void foreach_adamw_step(torch::optim::AdamW& optimizer);

}  // namespace cosae::train
