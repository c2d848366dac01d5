#include "model/conditional_entropy.hpp"

#include <algorithm>
#include <cmath>

#include "common/torch_compat.hpp"
#include "model/layers.hpp"
#include "cosae/error.hpp"

namespace cosae::model {

namespace nn = torch::nn;

namespace {

constexpr double kLikelihoodBound = 1e-9;
constexpr int kMaxWeight = 127;
constexpr int kMaxShift = 24;

// round(x) forward, identity backward. floor(x + 1/2) as the integer layers round.
torch::Tensor round_ste(const torch::Tensor& x) { return x + (torch::floor(x + 0.5) - x).detach(); }

torch::Tensor gaussian_cdf(const torch::Tensor& x) { return 0.5 * torch::erfc(x * (-M_SQRT1_2)); }

}  // namespace

double scale_of_index(int index) {
  const double step = std::log(kScaleMax / kScaleMin) / (kScaleCount - 1);
  return std::exp(std::log(kScaleMin) + step * index);
}

QuantizedConvImpl::QuantizedConvImpl(int64_t inputs, int64_t outputs, int64_t kernel_, int32_t low_, int32_t high_,
                                     double init_gain)
    : kernel(kernel_), low(low_), high(high_) {
  const double fan_in = static_cast<double>(inputs * kernel * kernel);
  const double bound = init_gain * std::sqrt(6.0 / fan_in);
  weight = register_parameter("weight", torch::empty({outputs, inputs, kernel, kernel}).uniform_(-bound, bound));
  bias = register_parameter("bias", torch::zeros({outputs}));
}

torch::Tensor QuantizedConvImpl::shifts() const {
  torch::NoGradGuard no_grad;
  auto w_max = weight.detach().abs().flatten(1).amax(1).clamp_min(1e-12);
  auto by_weight = torch::floor(torch::log2(kMaxWeight / w_max));
  // The bias scaled by 2^shift stays within 2^30 (entropy::IntegerConv's accumulator bound).
  auto by_bias = torch::floor(torch::log2(double(1 << 30) / bias.detach().abs().clamp_min(1e-12)));
  return torch::clamp(torch::minimum(by_weight, by_bias), 0, kMaxShift);
}

torch::Tensor QuantizedConvImpl::forward(const torch::Tensor& x) {
  const auto scale = torch::pow(2.0, shifts());  // [outputs]
  const auto s4 = scale.view({-1, 1, 1, 1});
  auto w_q = torch::clamp(torch::floor(weight * s4 + 0.5), -kMaxWeight, kMaxWeight) / s4;
  auto b_q = torch::floor(bias * scale + 0.5) / scale;
  auto w = weight + (w_q - weight).detach();
  auto b = bias + (b_q - bias).detach();
  auto out = torch::conv2d(x, w, b, 1, kernel / 2);
  return torch::clamp(round_ste(out), low, high);
}

entropy::IntegerConv QuantizedConvImpl::to_integer(const std::string& name) const {
  torch::NoGradGuard no_grad;
  entropy::IntegerConv layer;
  layer.name = name;
  layer.outputs = weight.size(0);
  layer.inputs = weight.size(1);
  layer.kernel = kernel;
  layer.low = low;
  layer.high = high;
  const auto sh = shifts().to(torch::kCPU, torch::kDouble);
  const auto scale = torch::pow(2.0, sh);
  auto w = torch::clamp(torch::floor(weight.detach().to(torch::kCPU, torch::kDouble) * scale.view({-1, 1, 1, 1}) + 0.5),
                        -kMaxWeight, kMaxWeight)
               .to(torch::kChar)
               .contiguous();
  auto b = torch::floor(bias.detach().to(torch::kCPU, torch::kDouble) * scale + 0.5).to(torch::kInt).contiguous();
  auto s = sh.to(torch::kByte).contiguous();
  layer.weight.assign(w.data_ptr<int8_t>(), w.data_ptr<int8_t>() + w.numel());
  layer.bias.assign(b.data_ptr<int32_t>(), b.data_ptr<int32_t>() + b.numel());
  layer.shift.assign(s.data_ptr<uint8_t>(), s.data_ptr<uint8_t>() + s.numel());
  layer.validate();
  return layer;
}

ConditionalEntropyImpl::ConditionalEntropyImpl(int64_t frequencies_, ConditionalConfig c, std::vector<int> hyper_filters,
                                               Parts parts)
    : frequencies(frequencies_), config(c) {
  order = register_parameter("order", torch::arange(frequencies, torch::kFloat), /*requires_grad=*/false);
  build(parts & kEncoderPart);
  hyper_prior = register_module("hyper_prior", EntropyBottleneck(c.hyper_channels, std::move(hyper_filters)));
  build(parts & kRatePart);
}

void ConditionalEntropyImpl::build(Parts parts) {
  const auto& c = config;
  const int64_t C = 2 * frequencies, F = c.features, H = c.hidden, Z = c.hyper_channels, s = c.hyper_stride;
  if ((parts & kEncoderPart) && !(built & kEncoderPart)) {
    hyper_analysis = nn::Sequential(Conv2d(nn::Conv2dOptions(c.hyper_magnitudes ? 2 * C : C, F, 1)), nn::GELU(),
                                    Conv2d(nn::Conv2dOptions(F, F, 3).stride(s).padding(1)), nn::GELU(),
                                    Conv2d(nn::Conv2dOptions(F, Z, 1)));
    register_module("hyper_analysis", hyper_analysis);
    built |= kEncoderPart;
  }
  if ((parts & kRatePart) && !(built & kRatePart)) {
    // Hyper-latent symbols are a few steps wide: a gain brings the first activations into the
    // tens, where rounding to integers costs little.
    hs0 = register_module("hs0", QuantizedConv(Z, H, 3, 0, 255, 8.0));
    if (s == 2) hs1 = register_module("hs1", QuantizedConv(H, 4 * H, 1, 0, 255, 1.0));
    hs2 = register_module("hs2", QuantizedConv(H, F, 3, 0, 255, 1.0));
    const int64_t m = 2 * frequencies / c.slices;  // channels per slice
    const double initial_index =
        std::round(std::log(1.0 / kScaleMin) / (std::log(kScaleMax / kScaleMin) / (kScaleCount - 1)));
    for (int64_t g = 0; g < c.slices; ++g) {
      const auto n = std::to_string(g);
      slice_in.push_back(register_module("slice" + n + "_in", QuantizedConv(F + g * m, F, 1, 0, 255, 2.0)));
      slice_mid.push_back(register_module("slice" + n + "_mid", QuantizedConv(F, H, 1, 0, 255, 1.0)));
      slice_scale.push_back(register_module("slice" + n + "_scale", QuantizedConv(H, m, 1, 0, kScaleCount - 1, 0.1)));
      slice_mean.push_back(register_module("slice" + n + "_mean", QuantizedConv(H, m, 1, -kMaxMean16, kMaxMean16, 0.1)));
      torch::NoGradGuard no_grad;
      slice_scale.back()->bias.fill_(initial_index);  // every scale starts near one step
    }
    built |= kRatePart;
  }
}

std::vector<int64_t> ConditionalEntropyImpl::frequency_order() const {
  const auto version = static_cast<int64_t>(order._version());
  if (version != order_version_ || static_cast<int64_t>(order_cache_.size()) != frequencies) {
    const auto values = order.detach().to(torch::kCPU, torch::kDouble).contiguous();
    order_cache_.clear();
    for (int64_t k = 0; k < frequencies; ++k) order_cache_.push_back(static_cast<int64_t>(values.data_ptr<double>()[k]));
    order_version_ = version;
  }
  return order_cache_;
}

void ConditionalEntropyImpl::order_frequencies(const torch::Tensor& f) {
  const auto radius = f.detach().to(torch::kCPU, torch::kDouble).pow(2).sum(1).contiguous();
  std::vector<int64_t> indices(static_cast<std::size_t>(frequencies));
  for (int64_t k = 0; k < frequencies; ++k) indices[static_cast<std::size_t>(k)] = k;
  const double* r = radius.data_ptr<double>();
  std::stable_sort(indices.begin(), indices.end(), [&](int64_t a, int64_t b) { return r[a] < r[b]; });
  torch::NoGradGuard no_grad;
  order.copy_(torch::tensor(indices, torch::kLong).to(order.device(), torch::kFloat));
}

std::vector<int64_t> ConditionalEntropyImpl::slice_channels(int64_t g) const {
  return slice_channels(g, frequency_order());
}

std::vector<int64_t> ConditionalEntropyImpl::slice_channels(int64_t g, const std::vector<int64_t>& sorted) const {
  const int64_t per = frequencies / config.slices;
  std::vector<int64_t> channels;
  for (int64_t i = g * per; i < (g + 1) * per; ++i) channels.push_back(sorted[static_cast<std::size_t>(i)]);
  for (int64_t i = g * per; i < (g + 1) * per; ++i) channels.push_back(frequencies + sorted[static_cast<std::size_t>(i)]);
  return channels;
}

torch::Tensor ConditionalEntropyImpl::features(const torch::Tensor& z_symbols, int64_t h, int64_t w) {
  auto f = hs0(torch::clamp(z_symbols, -kMaxContext, kMaxContext));
  if (config.hyper_stride == 2) f = torch::pixel_shuffle(hs1(f), 2).slice(2, 0, h).slice(3, 0, w);
  return hs2(f);
}

torch::Tensor ConditionalEntropyImpl::analyse(const torch::Tensor& y) {
  return hyper_analysis->forward(config.hyper_magnitudes ? torch::cat({y, y.abs()}, 1) : y);
}

torch::Tensor ConditionalEntropyImpl::hyper_symbols(const torch::Tensor& y) {
  compat::AutocastScope full_precision(y.device(), false);
  auto z = analyse(y.to(torch::kFloat));
  return torch::floor(z - hyper_prior->medians().view({1, -1, 1, 1}) + 0.5);
}

ConditionalEntropyImpl::Output ConditionalEntropyImpl::forward(const torch::Tensor& y_in) {
  compat::AutocastScope full_precision(y_in.device(), false);
  const auto y = y_in.to(torch::kFloat);
  const bool noisy = is_training();
  const int64_t h = y.size(2), w = y.size(3);
  auto z = analyse(y);
  const auto z_median = hyper_prior->medians().view({1, -1, 1, 1});
  auto z_symbols = round_ste(z - z_median);
  auto z_likelihood = hyper_prior->likelihood(noisy ? z + torch::empty_like(z).uniform_(-0.5, 0.5)
                                                    : z_symbols.detach() + z_median);
  auto side_bits = -torch::log2(z_likelihood).flatten(1).sum(1);

  const auto f = features(z_symbols, h, w);
  const double step = std::log(kScaleMax / kScaleMin) / (kScaleCount - 1);
  std::vector<torch::Tensor> context = {f}, decoded;
  std::vector<int64_t> order;
  torch::Tensor bits = side_bits;
  const auto sorted = frequency_order();  // one read from the device per step
  for (int64_t g = 0; g < config.slices; ++g) {
    const auto channels = slice_channels(g, sorted);
    order.insert(order.end(), channels.begin(), channels.end());
    const auto y_g = y.index_select(1, torch::tensor(channels, torch::TensorOptions(torch::kLong).device(y.device())));
    auto hidden = slice_mid[static_cast<std::size_t>(g)](slice_in[static_cast<std::size_t>(g)](torch::cat(context, 1)));
    auto index = slice_scale[static_cast<std::size_t>(g)](hidden);
    auto mean = slice_mean[static_cast<std::size_t>(g)](hidden) / kMeanUnits;
    auto scale = torch::exp(std::log(kScaleMin) + step * index);
    auto symbols = round_ste(y_g - mean);
    auto v = torch::abs(noisy ? y_g + torch::empty_like(y_g).uniform_(-0.5, 0.5) - mean : symbols.detach());
    auto likelihood = gaussian_cdf((0.5 - v) / scale) - gaussian_cdf((-0.5 - v) / scale);
    bits = bits - torch::log2(torch::clamp_min(likelihood, kLikelihoodBound)).flatten(1).sum(1);
    auto y_hat = symbols + mean;
    decoded.push_back(y_hat);
    context.push_back(torch::clamp(round_ste(y_hat), -kMaxContext, kMaxContext));
  }
  // Back from slice order to channel order.
  auto inverse = torch::empty({static_cast<int64_t>(order.size())}, torch::kLong);
  for (std::size_t i = 0; i < order.size(); ++i) inverse[order[i]] = static_cast<int64_t>(i);
  auto y_hat = torch::cat(decoded, 1).index_select(1, inverse.to(y.device()));
  return {y_hat, bits, side_bits};
}

std::vector<std::string> ConditionalEntropyImpl::integer_layer_names(const ConditionalConfig& config) {
  std::vector<std::string> names = {"hs0"};
  if (config.hyper_stride == 2) names.push_back("hs1");
  names.push_back("hs2");
  for (int64_t g = 0; g < config.slices; ++g)
    for (const char* part : {"_in", "_mid", "_scale", "_mean"}) names.push_back("slice" + std::to_string(g) + part);
  return names;
}

std::vector<entropy::IntegerConv> ConditionalEntropyImpl::integer_layers() const {
  std::vector<entropy::IntegerConv> layers;
  layers.push_back(hs0->to_integer("hs0"));
  if (config.hyper_stride == 2) layers.push_back(hs1->to_integer("hs1"));
  layers.push_back(hs2->to_integer("hs2"));
  for (std::size_t g = 0; g < slice_in.size(); ++g) {
    const auto n = "slice" + std::to_string(g);
    layers.push_back(slice_in[g]->to_integer(n + "_in"));
    layers.push_back(slice_mid[g]->to_integer(n + "_mid"));
    layers.push_back(slice_scale[g]->to_integer(n + "_scale"));
    layers.push_back(slice_mean[g]->to_integer(n + "_mean"));
  }
  return layers;
}

}  // namespace cosae::model
