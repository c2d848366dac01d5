// The few API differences between Debian's LibTorch 1.13 and LibTorch 2.x live here.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

namespace cosae::compat {

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
inline constexpr bool kHasScaledDotProductAttention = true;
#else
inline constexpr bool kHasScaledDotProductAttention = false;
#endif

// softmax(q k^T / sqrt(d) + mask) v over the last two dims; q [..., Lq, d], k/v [..., Lk, d],
// mask (optional, additive) broadcastable to [..., Lq, Lk].
// LibTorch 2.x dispatches to fused (flash / memory-efficient) kernels; 1.13 has none.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const torch::Tensor& mask = torch::Tensor()) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask.to(q.scalar_type()));
  return at::scaled_dot_product_attention(q, k, v);
#else
  auto scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto logits = torch::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask.defined()) logits = logits + mask;
  return torch::matmul(torch::softmax(logits, -1), v);
#endif
}

// Mixed precision: while alive, LibTorch's autocast on `device`'s type is on in `dtype`
// (bfloat16 or float16: convolutions and matrix products in it, float32 accumulation) or,
// with enabled = false, off (for a region that must stay float32); the previous state comes
// back after. LibTorch >= 2.4 has per-device-type calls; 1.13 has separate CPU and CUDA ones.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, bool enabled, at::ScalarType dtype = at::kBFloat16)
      : type_(device.type()) {
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
    was_enabled_ = at::autocast::is_autocast_enabled(type_);
    previous_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_dtype(type_, dtype);
    at::autocast::set_autocast_enabled(type_, enabled);
#else
    const bool cuda = type_ == torch::kCUDA;
    was_enabled_ = cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
    previous_dtype_ = cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
    if (cuda) {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(enabled);
    } else {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(enabled);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
    at::autocast::set_autocast_enabled(type_, was_enabled_);
    at::autocast::set_autocast_dtype(type_, previous_dtype_);
#else
    if (type_ == torch::kCUDA) {
      at::autocast::set_enabled(was_enabled_);
      at::autocast::set_autocast_gpu_dtype(previous_dtype_);
    } else {
      at::autocast::set_cpu_enabled(was_enabled_);
      at::autocast::set_autocast_cpu_dtype(previous_dtype_);
    }
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

inline std::string torch_version() {
#if defined(TORCH_VERSION)
  return TORCH_VERSION;
#else
  return "unknown";
#endif
}

}  // namespace cosae::compat
