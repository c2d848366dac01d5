#include "train/distributed.hpp"

#include <cstdlib>
#include <functional>

#include "cosae/error.hpp"

#ifdef COSAE_WITH_DISTRIBUTED
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef COSAE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef COSAE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace cosae::train {

namespace {

int env_int(const char* name, int fallback, int low, int high) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  COSAE_CHECK(end && *end == '\0' && v >= low && v <= high, usage, name, "='", text, "' is not an integer in [", low,
              ", ", high, "]");
  return static_cast<int>(v);
}

}  // namespace

DistributedEnv distributed_env_from_environment() {
  DistributedEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, 1 << 16);
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) e.master_addr = addr;
  const bool has_rank = std::getenv("RANK") != nullptr;
  // A lone torchrun process joins a one-rank group where a backend exists (the same code
  // path as many ranks); without one it simply trains alone.
  e.launched = has_rank && distributed_available();
  COSAE_CHECK(e.world_size == 1 || has_rank, usage, "WORLD_SIZE=", e.world_size,
              " but no RANK: launch with torchrun (or set RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)");
  return e;
}

#ifdef COSAE_WITH_DISTRIBUTED

bool distributed_available() { return true; }
std::string distributed_backends() {
  std::string names;
#ifdef COSAE_WITH_NCCL
  names = "nccl";
#endif
#ifdef COSAE_WITH_GLOO
  names += names.empty() ? "gloo" : "+gloo";
#endif
  return names;
}

struct DataParallel::Impl {
  int rank = 0, world = 1;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  // The backend's collectives, each waiting for its result (c10d's class names and bases
  // differ between LibTorch versions; these two are all the trainer needs).
  std::function<void(std::vector<at::Tensor>&)> allreduce, broadcast;

  template <typename Group>
  void bind(c10::intrusive_ptr<Group> group) {
    const auto limit = timeout;
    allreduce = [group, limit](std::vector<at::Tensor>& t) { group->allreduce(t)->wait(limit); };
    broadcast = [group, limit](std::vector<at::Tensor>& t) {
      c10d::BroadcastOptions options;
      options.rootRank = 0;
      group->broadcast(t, options)->wait(limit);
    };
  }

  // c10d reports timeouts and lost peers as c10::Error (or std::runtime_error).
  template <typename F>
  void guarded(const char* what, F&& f) {
    try {
      f();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::string message = e.what();
      message = message.substr(0, message.find('\n'));
      COSAE_FAIL(device, "distributed ", what, " failed on rank ", rank, " (a rank died, or none answered within ",
                 timeout.count() / 1000, " s): ", message);
    }
  }
};

DataParallel::DataParallel(const DistributedEnv& env, const torch::Device& device, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  (void)device;  // used by the NCCL path only
  impl_->rank = env.rank;
  impl_->world = env.world_size;
  impl_->timeout = timeout;
  impl_->guarded("rendezvous", [&] {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.master_port);
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<std::size_t>(env.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
#ifdef COSAE_WITH_NCCL
    if (device.is_cuda()) {
      auto options_nccl = c10d::ProcessGroupNCCL::Options::create();
      options_nccl->timeout = timeout;
      impl_->bind(c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world_size, options_nccl));
      return;
    }
#endif
#ifdef COSAE_WITH_GLOO
    auto options_gloo = c10d::ProcessGroupGloo::Options::create();
    options_gloo->timeout = timeout;
    options_gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->bind(c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, options_gloo));
#else
    COSAE_FAIL(unavailable, "distributed training on ", device.str(),
               ": this cosae has only the NCCL backend, which needs CUDA devices (Gloo was not found at build time)");
#endif
  });
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const { return impl_->rank; }
int DataParallel::world_size() const { return impl_->world; }

void DataParallel::broadcast_from_root(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    std::vector<at::Tensor> one{t.detach()};
    impl_->guarded("broadcast", [&] { impl_->broadcast(one); });
  }
}

void DataParallel::average_gradients(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    grads.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
  std::vector<at::Tensor> flat{torch::cat(grads)};
  impl_->guarded("gradient all-reduce", [&] { impl_->allreduce(flat); });
  flat[0].div_(impl_->world);
  int64_t offset = 0;
  for (const auto& p : parameters) {
    auto mean = flat[0].narrow(0, offset, p.numel()).view_as(p);
    if (p.grad().defined())
      p.mutable_grad().copy_(mean);
    else
      p.mutable_grad() = mean.clone();
    offset += p.numel();
  }
}

torch::Tensor DataParallel::sum(const torch::Tensor& values) {
  std::vector<at::Tensor> t{values.detach().clone()};
  impl_->guarded("all-reduce", [&] { impl_->allreduce(t); });
  return t[0];
}

#else  // no c10d backend in this build

bool distributed_available() { return false; }
std::string distributed_backends() { return "none"; }

struct DataParallel::Impl {};

DataParallel::DataParallel(const DistributedEnv& env, const torch::Device&, std::chrono::milliseconds) {
  COSAE_FAIL(unavailable, "WORLD_SIZE=", env.world_size,
             ": this cosae was built without distributed training (LibTorch's c10d with Gloo or NCCL)");
}
DataParallel::~DataParallel() = default;
int DataParallel::rank() const { return 0; }
int DataParallel::world_size() const { return 1; }
void DataParallel::broadcast_from_root(const std::vector<torch::Tensor>&) {}
void DataParallel::average_gradients(const std::vector<torch::Tensor>&) {}
torch::Tensor DataParallel::sum(const torch::Tensor& values) { return values; }

#endif

}  // namespace cosae::train
