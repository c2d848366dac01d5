// Data-parallel training on PyTorch's distributed engine (c10d): a TCPStore rendezvous, then
// ProcessGroupNCCL for CUDA tensors (where LibTorch has it) or ProcessGroupGloo. Launched the
// torchrun way: every process reads RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
// Every collective is bounded by a timeout, after which it throws cosae::Error (device), so a
// rank that dies ends the others with a clear error instead of a hang.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cosae::train {

struct DistributedEnv {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool launched = false;  // started by torchrun (RANK set): joins a group even when alone
  bool active() const { return launched || world_size > 1; }
};

// torchrun's variables; without WORLD_SIZE, one process. Malformed values are usage errors.
DistributedEnv distributed_env_from_environment();

// Whether this build has a c10d backend (Gloo, and NCCL for CUDA where LibTorch has it).
bool distributed_available();
// "nccl+gloo", "nccl", "gloo" or "none".
std::string distributed_backends();

class DataParallel {
 public:
  // Joins the group; throws cosae::Error (unavailable without a backend, device when the
  // rendezvous times out).
  DataParallel(const DistributedEnv& env, const torch::Device& device, std::chrono::milliseconds timeout);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const;
  int world_size() const;
  // Rank 0's values into every rank's tensors (in place).
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors);
  // Each parameter's gradient replaced by its mean over the ranks: one flat bucket, one
  // all-reduce. Parameters without a gradient take part with zeros.
  void average_gradients(const std::vector<torch::Tensor>& parameters);
  // The element-wise sum over the ranks of a small tensor (returned; the input is unchanged).
  torch::Tensor sum(const torch::Tensor& values);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cosae::train
