#include "train/latent_pool.hpp"

#include "cosae/error.hpp"

namespace cosae::train {

using torch::indexing::Slice;

LatentPool::LatentPool(model::CosAEImpl& net, std::vector<std::string> files, LoaderOptions loader, int64_t entries,
                       int64_t refresh, int64_t window_pixels, torch::Device device)
    : net_(net), device_(device), entries_(entries), refresh_(refresh) {
  const int64_t D = net.config.downsampling;
  COSAE_CHECK(refresh > 0 && entries >= refresh && entries % refresh == 0, usage,
              "latent pool: ", entries, " entries must be a positive multiple of ", refresh);
  COSAE_CHECK(window_pixels > 0 && window_pixels % D == 0, usage, "latent pool: windows of ", window_pixels,
              " pixels are not whole cells of ", D);
  cells_ = window_pixels / D;
  loader.batch = static_cast<int>(refresh);
  loader.crop = static_cast<int>(window_pixels + 2 * D);
  loader.pinned = device.is_cuda();
  loader_ = std::make_unique<BatchLoader>(std::move(files), loader);
}

void LatentPool::encode(int64_t loader_step) {
  torch::NoGradGuard no_grad;
  const auto images = loader_->batch(loader_step).to(device_, /*non_blocking=*/true);
  const auto latent = net_.encoder->forward(images).to(torch::kFloat);
  if (!latents_.defined())
    latents_ = torch::empty({entries_, latent.size(1), latent.size(2), latent.size(3)},
                            latent.options().dtype(torch::kFloat));
  const int64_t slot = (loader_step % (entries_ / refresh_)) * refresh_;
  latents_.narrow(0, slot, refresh_).copy_(latent);
}

void LatentPool::advance(int64_t step) {
  const int64_t span = entries_ / refresh_;  // loader steps held
  if (next_step_ < 0) {
    for (int64_t j = step; j < step + span; ++j) encode(j);
  } else {
    COSAE_CHECK(step >= next_step_ - 1, internal, "latent pool: steps go forward");
    for (int64_t s = std::max(next_step_, step - span + 1); s <= step; ++s) encode(s + span - 1);
  }
  next_step_ = step + 1;
}

torch::Tensor LatentPool::windows(int64_t count) const {
  COSAE_CHECK(latents_.defined(), internal, "latent pool: windows before advance()");
  const int64_t positions = latents_.size(2) - cells_ + 1;
  const auto entry = torch::randint(entries_, {count, 1, 1}, torch::kLong);
  const auto top = torch::randint(positions, {count, 1, 1}, torch::kLong);
  const auto left = torch::randint(positions, {count, 1, 1}, torch::kLong);
  const auto span = torch::arange(cells_, torch::kLong);
  const auto rows = (top + span.view({1, -1, 1})).to(device_);
  const auto cols = (left + span.view({1, 1, -1})).to(device_);
  // Advanced indices around a slice: the result is [count, c, c, 2K].
  return latents_.index({entry.to(device_), Slice(), rows, cols}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace cosae::train
