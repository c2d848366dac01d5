#include "codec/refine.hpp"

#include <cmath>
#include <optional>

#include "common/torch_compat.hpp"
#include "cosae/error.hpp"

namespace cosae::codec {

RefineResult refine_latent(model::CosAEImpl& net, const torch::Tensor& image, const torch::Tensor& latent,
                           int64_t level, int steps, bool half_precision) {
  COSAE_CHECK(steps >= 0, usage, "refinement steps must be >= 0, not ", steps);
  COSAE_CHECK(level >= 0 && level < net.config.quality_levels(), usage, "quality level out of range");
  const int64_t H = image.size(2), W = image.size(3);
  const double lambda = net.config.lambdas[level] * 255.0 * 255.0;
  const double pixels = static_cast<double>(H) * W;
  torch::AutoGradMode grad_on(true);
  const auto target = image.to(torch::kFloat);

  // The cost of y with the coder's rounding, differentiable in y (straight through), its bits
  // from the entropy model the coding uses: the conditional one where the model has it.
  auto cost_of = [&](const torch::Tensor& y) {
    torch::Tensor symbols, bits;
    if (net.conditional) {
      auto coded = net.conditional(y);
      symbols = coded.y_hat;
      bits = coded.bits.sum();
    } else {
      symbols = y + (net.dequantize(net.quantize(y)) - y).detach();
      bits = -torch::log2(net.entropy->likelihood(symbols)).sum();
    }
    torch::Tensor reconstruction;
    {
      std::optional<compat::AutocastScope> half;
      if (half_precision) half.emplace(image.device(), true, at::kHalf);
      reconstruction = net.synthesis(symbols, level).to(torch::kFloat);
    }
    const auto mse = (reconstruction.slice(2, 0, H).slice(3, 0, W) - target).pow(2).mean();
    return lambda * mse + bits / pixels;
  };

  RefineResult result;
  result.latent = latent.detach().to(torch::kFloat);
  // The steps are taken on u = y / scale, scale being the level's gains over those of a
  // reference level: the same step size in the network's own latent units at every level (a
  // higher level's finer bins would otherwise make its steps smaller). The reference is the
  // level nearest lambda = 0.0018, where kStep was tuned (the lowest level of the 6- and
  // 8-level models), so that models with levels below it take steps of the same size.
  const int64_t reference = net.config.nearest_quality(0.0018) - 1;
  const auto scale =
      torch::exp(net.log_gains[level] - net.log_gains[reference]).detach().view({1, -1, 1, 1}).to(latent.device());
  auto u = (result.latent / scale).requires_grad_(true);
  constexpr double kStep = 0.02;
  torch::optim::Adam adam({u}, torch::optim::AdamOptions(kStep));
  for (int step = 0; step <= steps; ++step) {
    torch::Tensor cost, y;
    {
      std::optional<torch::NoGradGuard> last;  // the final latent is only measured
      if (step == steps) last.emplace();
      y = u * scale;
      cost = cost_of(y);
    }
    const double value = cost.item<double>();
    if (step == 0) result.initial_cost = result.cost = value;
    if (value < result.cost) {  // y as it was before this step's update
      result.cost = value;
      result.best_step = step;
      result.latent = y.detach().clone();
    }
    if (step == steps) break;
    // Only the latent's gradient: the network's weights stay out of it.
    u.mutable_grad() = torch::autograd::grad({cost}, {u})[0];
    auto& options = static_cast<torch::optim::AdamOptions&>(adam.param_groups()[0].options());
    options.lr(kStep * 0.5 * (1.0 + std::cos(M_PI * step / steps)));
    adam.step();
  }
  return result;
}

}  // namespace cosae::codec
