// Building blocks of the CosAE network.
#pragma once

#include <torch/torch.h>

namespace cosae::model {

// While one lives (on this thread), new Conv2d layers leave their weights uninitialised: for a
// model built to be loaded from a file, whose weights are all overwritten next. Drawing the
// encoder's 15M random weights took longer than loading them.
class SkipInitialisation {
 public:
  SkipInitialisation();
  ~SkipInitialisation();
  SkipInitialisation(const SkipInitialisation&) = delete;
  SkipInitialisation& operator=(const SkipInitialisation&) = delete;

 private:
  bool previous_;
};

// torch::nn::Conv2d with zero padding as the network uses it: the same parameters ("weight"
// [out, in, k, k] and "bias" [out]), the same initialisation and the same forward
// (torch::conv2d), but one that SkipInitialisation can skip.
struct Conv2dImpl : torch::nn::Module {
  explicit Conv2dImpl(const torch::nn::Conv2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;
  torch::nn::Conv2dOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Conv2d);

// x + conv3x3(gelu(conv3x3(x))).
struct ResBlockImpl : torch::nn::Module {
  explicit ResBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ResBlock);

// Multi-head attention with grouped-query heads (kv_heads divides heads) over token
// sequences [B, L, C]; keys/values come from `context` ([B, S, C]). Uses scaled-dot-product
// attention (fused kernels on LibTorch 2.x CUDA).
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t channels, int64_t heads, int64_t kv_heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        const torch::Tensor& mask = torch::Tensor());
  int64_t heads, kv_heads, head_dim;
  torch::nn::Linear to_q{nullptr}, to_kv{nullptr}, to_out{nullptr};
};
TORCH_MODULE(Attention);

// Pre-norm transformer block on a feature map, attention inside windows of `window` x
// `window` pixels; every other block shifts the windows by half a window (with the usual
// masks, so no window mixes opposite image edges). Cost grows linearly with the area.
struct WindowAttentionBlockImpl : torch::nn::Module {
  WindowAttentionBlockImpl(int64_t channels, int64_t heads, int64_t kv_heads, int64_t window, bool shifted);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same
  int64_t window;
  bool shifted;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attention{nullptr};
  torch::nn::Sequential mlp{nullptr};

 private:
  // The shifted windows' mask for the last padded size and batch, kept on the device: built on
  // the host, its copy to a GPU would stall the host until the device caught up, every call.
  torch::Tensor mask_;
  int64_t mask_height_ = 0, mask_width_ = 0;
  const torch::Tensor& shift_mask(int64_t batch, int64_t height, int64_t width, const torch::TensorOptions& options);
};
TORCH_MODULE(WindowAttentionBlock);

// Latent attention: N learnable latents gather from every token, then every token reads the
// latents: O(L N) for L tokens.
struct LatentAttentionBlockImpl : torch::nn::Module {
  LatentAttentionBlockImpl(int64_t channels, int64_t heads, int64_t kv_heads, int64_t latents);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> same
  torch::Tensor latents;
  torch::nn::LayerNorm norm_tokens{nullptr}, norm_latents{nullptr}, norm_read{nullptr}, norm_mlp{nullptr};
  Attention gather{nullptr}, read{nullptr};
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(LatentAttentionBlock);

// Appends 2x upsampling by sub-pixel convolution: conv3x3 to 4 * out channels, pixel shuffle.
void append_subpixel_upsample(torch::nn::Sequential& layers, int64_t in_channels, int64_t out_channels);

// Reduced-precision activations (bfloat16/float16, from autocast) back to float32; float32 and
// float64 unchanged. Attention blocks keep their residual stream and layer norms in float32.
torch::Tensor widen(const torch::Tensor& t);

}  // namespace cosae::model
