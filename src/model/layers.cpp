#include "model/layers.hpp"

#include <cmath>

#include "common/torch_compat.hpp"

namespace cosae::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {
thread_local bool skip_initialisation = false;
}  // namespace

SkipInitialisation::SkipInitialisation() : previous_(skip_initialisation) { skip_initialisation = true; }
SkipInitialisation::~SkipInitialisation() { skip_initialisation = previous_; }

Conv2dImpl::Conv2dImpl(const nn::Conv2dOptions& o) : options(o) {
  TORCH_CHECK(c10::get_if<torch::ExpandingArray<2>>(&options.padding()) &&
                  c10::get_if<torch::enumtype::kZeros>(&options.padding_mode()),
              "cosae Conv2d: explicit zero padding only");
  TORCH_CHECK(options.in_channels() % options.groups() == 0 && options.out_channels() % options.groups() == 0,
              "cosae Conv2d: channels must be divisible by groups");
  // As torch::nn::Conv2dImpl::reset() and reset_parameters(), draw for draw.
  weight = register_parameter("weight", torch::empty({options.out_channels(), options.in_channels() / options.groups(),
                                                      (*options.kernel_size())[0], (*options.kernel_size())[1]}));
  if (options.bias())
    bias = register_parameter("bias", torch::empty({options.out_channels()}));
  else
    register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  if (skip_initialisation) return;
  nn::init::kaiming_uniform_(weight, /*a=*/std::sqrt(5));
  if (bias.defined()) {
    const auto fan_in = std::get<0>(nn::init::_calculate_fan_in_and_fan_out(weight));
    const auto bound = 1 / std::sqrt(fan_in);
    nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, options.stride(), c10::get<torch::ExpandingArray<2>>(options.padding()),
                       options.dilation(), options.groups());
}

void Conv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "cosae::model::Conv2d(" << options.in_channels() << ", " << options.out_channels()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride() << ")";
}

ResBlockImpl::ResBlockImpl(int64_t channels) {
  conv1 = register_module("conv1", Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1)));
  conv2 = register_module("conv2", Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1)));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) { return x + conv2(torch::gelu(conv1(x))); }

AttentionImpl::AttentionImpl(int64_t channels, int64_t heads_, int64_t kv_heads_)
    : heads(heads_), kv_heads(kv_heads_), head_dim(channels / heads_) {
  to_q = register_module("to_q", nn::Linear(channels, heads * head_dim));
  to_kv = register_module("to_kv", nn::Linear(channels, 2 * kv_heads * head_dim));
  to_out = register_module("to_out", nn::Linear(heads * head_dim, channels));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context, const torch::Tensor& mask) {
  const int64_t B = x.size(0), L = x.size(1), S = context.size(1);
  auto q = to_q(x).view({B, L, heads, head_dim}).transpose(1, 2);  // [B, H, L, d]
  auto kv = to_kv(context).view({B, S, 2, kv_heads, head_dim});
  auto k = kv.select(2, 0).transpose(1, 2);  // [B, Hkv, S, d]
  auto v = kv.select(2, 1).transpose(1, 2);
  if (kv_heads != heads) {  // grouped-query: each kv head serves heads / kv_heads query heads
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  auto out = compat::scaled_dot_product_attention(q, k, v, mask);  // [B, H, L, d]
  return to_out(out.transpose(1, 2).reshape({B, L, heads * head_dim}));
}

namespace {

nn::Sequential make_mlp(int64_t channels) {
  return nn::Sequential(nn::Linear(channels, 2 * channels), nn::GELU(), nn::Linear(2 * channels, channels));
}

// Region ids of a cyclically shifted, padded map, so that windows never attend across the
// seams the shift creates (Swin's mask). [nW, win*win, win*win] additive mask, built with
// tensor operations where `opt` says (no host work that grows with the image).
torch::Tensor shifted_window_mask(int64_t H, int64_t W, int64_t window, const torch::TensorOptions& opt) {
  const int64_t shift = window / 2;
  const auto ids = torch::TensorOptions(torch::kLong).device(opt.device());
  // Along one axis: 0 before the last window, 1 in its first half, 2 in the shifted-in part.
  auto band = [&](int64_t n) {
    const auto i = torch::arange(n, ids);
    return (i >= n - window).to(torch::kLong) + (i >= n - shift).to(torch::kLong);
  };
  const auto region = band(H).unsqueeze(1) * 3 + band(W).unsqueeze(0);  // [H, W]
  auto windows = region.view({H / window, window, W / window, window}).permute({0, 2, 1, 3}).reshape(
      {-1, window * window});
  auto same = windows.unsqueeze(2) == windows.unsqueeze(1);  // [nW, L, L]
  return torch::zeros(same.sizes(), opt).masked_fill(same.logical_not(), -1e4);
}

}  // namespace

WindowAttentionBlockImpl::WindowAttentionBlockImpl(int64_t channels, int64_t heads, int64_t kv_heads, int64_t window_,
                                                   bool shifted_)
    : window(window_), shifted(shifted_) {
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({channels})));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({channels})));
  attention = register_module("attention", Attention(channels, heads, kv_heads));
  mlp = register_module("mlp", make_mlp(channels));
}

torch::Tensor WindowAttentionBlockImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Hp = (H + window - 1) / window * window, Wp = (W + window - 1) / window * window;
  auto t = widen(x).permute({0, 2, 3, 1});  // [B, H, W, C]
  if (Hp != H || Wp != W) t = F::pad(t.permute({0, 3, 1, 2}), F::PadFuncOptions({0, Wp - W, 0, Hp - H}).mode(torch::kReflect)).permute({0, 2, 3, 1});
  const bool shift = shifted && (Hp > window || Wp > window);
  const int64_t s = window / 2;
  if (shift) t = torch::roll(t, {-s, -s}, {1, 2});
  const int64_t nh = Hp / window, nw = Wp / window;
  auto tokens = t.reshape({B, nh, window, nw, window, C}).permute({0, 1, 3, 2, 4, 5}).reshape(
      {B * nh * nw, window * window, C});
  const torch::Tensor mask = shift ? shift_mask(B, Hp, Wp, t.options()) : torch::Tensor();
  auto normed = norm1(tokens);
  tokens = tokens + attention(normed, normed, mask);
  tokens = tokens + mlp->forward(norm2(tokens));
  t = tokens.view({B, nh, nw, window, window, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, C});
  if (shift) t = torch::roll(t, {s, s}, {1, 2});
  return t.slice(1, 0, H).slice(2, 0, W).permute({0, 3, 1, 2}).contiguous();
}

const torch::Tensor& WindowAttentionBlockImpl::shift_mask(int64_t batch, int64_t height, int64_t width,
                                                          const torch::TensorOptions& options) {
  const int64_t windows = batch * (height / window) * (width / window);
  if (!mask_.defined() || mask_.size(0) != windows || mask_height_ != height || mask_width_ != width ||
      mask_.device() != options.device() || mask_.dtype() != options.dtype()) {
    mask_ = shifted_window_mask(height, width, window, options).repeat({batch, 1, 1}).unsqueeze(1);  // [B*nW, 1, L, L]
    mask_height_ = height;
    mask_width_ = width;
  }
  return mask_;
}

LatentAttentionBlockImpl::LatentAttentionBlockImpl(int64_t channels, int64_t heads, int64_t kv_heads, int64_t n) {
  latents = register_parameter("latents", torch::randn({n, channels}) * 0.02);
  norm_tokens = register_module("norm_tokens", nn::LayerNorm(nn::LayerNormOptions({channels})));
  norm_latents = register_module("norm_latents", nn::LayerNorm(nn::LayerNormOptions({channels})));
  norm_read = register_module("norm_read", nn::LayerNorm(nn::LayerNormOptions({channels})));
  norm_mlp = register_module("norm_mlp", nn::LayerNorm(nn::LayerNormOptions({channels})));
  gather = register_module("gather", Attention(channels, heads, kv_heads));
  read = register_module("read", Attention(channels, heads, kv_heads));
  mlp = register_module("mlp", make_mlp(channels));
}

torch::Tensor LatentAttentionBlockImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto tokens = widen(x).flatten(2).transpose(1, 2);  // [B, L, C]
  auto lat = latents.unsqueeze(0).expand({B, latents.size(0), C});
  lat = lat + gather(norm_latents(lat), norm_tokens(tokens));
  tokens = tokens + read(norm_read(tokens), lat);
  tokens = tokens + mlp->forward(norm_mlp(tokens));
  return tokens.transpose(1, 2).reshape({B, C, H, W});
}

torch::Tensor widen(const torch::Tensor& t) {
  const auto type = t.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? t.to(torch::kFloat) : t;
}

void append_subpixel_upsample(torch::nn::Sequential& layers, int64_t in_channels, int64_t out_channels) {
  layers->push_back(Conv2d(nn::Conv2dOptions(in_channels, 4 * out_channels, 3).padding(1)));
  layers->push_back(nn::PixelShuffle(nn::PixelShuffleOptions(2)));
}

}  // namespace cosae::model
