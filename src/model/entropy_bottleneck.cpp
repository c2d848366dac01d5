#include "model/entropy_bottleneck.hpp"

#include <cmath>

namespace cosae::model {

namespace {
constexpr double kLikelihoodBound = 1e-9;
constexpr double kTailMass = 1e-9;
}  // namespace

EntropyBottleneckImpl::EntropyBottleneckImpl(int64_t channels_, std::vector<int> filters_, double init_scale)
    : channels(channels_), filters(std::move(filters_)) {
  std::vector<int64_t> widths = {1};
  for (int f : filters) widths.push_back(f);
  widths.push_back(1);
  const double scale = std::pow(init_scale, 1.0 / static_cast<double>(widths.size() - 1));
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const double init = std::log(std::expm1(1.0 / scale / static_cast<double>(widths[i + 1])));
    const auto name = std::to_string(i);
    matrices.push_back(register_parameter("matrix" + name, torch::full({channels, widths[i + 1], widths[i]}, init)));
    biases.push_back(register_parameter("bias" + name, torch::rand({channels, widths[i + 1], 1}) - 0.5));
    if (i + 2 < widths.size())
      factors.push_back(register_parameter("factor" + name, torch::zeros({channels, widths[i + 1], 1})));
  }
  quantiles = register_parameter(
      "quantiles", torch::tensor({-init_scale, 0.0, init_scale}, torch::kFloat).repeat({channels, 1, 1}));
}

torch::Tensor EntropyBottleneckImpl::logits_cumulative(const torch::Tensor& x) {
  auto logits = x;
  for (std::size_t i = 0; i < matrices.size(); ++i) {
    logits = torch::matmul(torch::softplus(matrices[i]), logits) + biases[i];
    if (i < factors.size()) logits = logits + torch::tanh(factors[i]) * torch::tanh(logits);
  }
  return logits;
}

torch::Tensor EntropyBottleneckImpl::likelihood(const torch::Tensor& y) {
  // [B, C, h, w] -> [C, 1, B*h*w]
  const auto sizes = y.sizes().vec();
  auto v = y.transpose(0, 1).reshape({channels, 1, -1}).to(torch::kFloat);
  auto lower = logits_cumulative(v - 0.5);
  auto upper = logits_cumulative(v + 0.5);
  // Evaluate in the tail where the sigmoid is least saturated: sign flip by -(lower + upper).
  auto sign = -torch::sign(lower + upper).detach();
  auto like = torch::abs(torch::sigmoid(sign * upper) - torch::sigmoid(sign * lower));
  like = torch::clamp_min(like, kLikelihoodBound);
  return like.reshape({sizes[1], sizes[0], sizes[2], sizes[3]}).transpose(0, 1);
}

torch::Tensor EntropyBottleneckImpl::medians() const { return quantiles.select(2, 1).squeeze(1); }

torch::Tensor EntropyBottleneckImpl::aux_loss() {
  const double target_value = std::log(2.0 / kTailMass - 1.0);
  // (-t, 0, t) made where the quantiles live: a host tensor copied to a GPU would stall the host.
  auto target = torch::arange(-1, 2, quantiles.options()).view({1, 1, 3}) * target_value;
  return torch::abs(logits_cumulative(quantiles) - target).sum();
}

EntropyBottleneckImpl::PmfTables EntropyBottleneckImpl::pmf_tables() {
  torch::NoGradGuard no_grad;
  auto q = quantiles.detach().to(torch::kCPU, torch::kDouble);
  auto med = q.select(2, 1).squeeze(1);  // [C]: symbols are round(y - median)
  auto minima = torch::clamp_min(torch::ceil(med - q.select(2, 0).squeeze(1)), 0).to(torch::kLong);
  auto maxima = torch::clamp_min(torch::ceil(q.select(2, 2).squeeze(1) - med), 0).to(torch::kLong);
  auto lengths = minima + maxima + 1;
  const int64_t L = lengths.max().item<int64_t>();
  // Sample points: median - minima + [0, L)
  auto steps = torch::arange(L, torch::kDouble).view({1, L});
  auto points = (med - minima.to(torch::kDouble)).view({channels, 1}) + steps;  // [C, L]
  const auto device = quantiles.device();
  auto pts = points.to(device, torch::kFloat).view({channels, 1, L});
  auto lower = logits_cumulative(pts - 0.5), upper = logits_cumulative(pts + 0.5);
  auto sign = -torch::sign(lower + upper);
  auto pmf = torch::abs(torch::sigmoid(sign * upper) - torch::sigmoid(sign * lower)).squeeze(1).to(torch::kCPU,
                                                                                                     torch::kDouble);
  auto valid = steps < lengths.view({channels, 1});
  pmf = pmf * valid;
  auto lower_tail = torch::sigmoid(logits_cumulative(pts.narrow(2, 0, 1) - 0.5)).view({channels}).to(torch::kCPU,
                                                                                                     torch::kDouble);
  auto last = (lengths - 1).view({channels, 1, 1}).to(device);
  auto last_points = pts.gather(2, last);
  auto upper_tail = torch::sigmoid(-logits_cumulative(last_points + 0.5)).view({channels}).to(torch::kCPU,
                                                                                            torch::kDouble);
  return {pmf, lengths, -minima, lower_tail + upper_tail};
}

}  // namespace cosae::model
