// The few API differences between Debian's LibTorch 1.13 and LibTorch 2.x live here.
#pragma once

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

inline std::string torch_version() {
#if defined(TORCH_VERSION)
  return TORCH_VERSION;
#else
  return "unknown";
#endif
}

}  // namespace cosae::compat
