// Input checks, device dispatch and autograd glue of the harmonic synthesis op.
#include "synthesis/synthesis.hpp"

#include "cosae/error.hpp"

namespace cosae::synthesis {

void check_synthesis_inputs(const torch::Tensor& amplitude, const torch::Tensor& phase,
                            const torch::Tensor& frequencies, int64_t tile) {
  COSAE_CHECK(amplitude.defined() && phase.defined() && frequencies.defined(), usage,
              "harmonic synthesis: undefined input tensor");
  COSAE_CHECK(amplitude.dim() == 4, usage, "harmonic synthesis: amplitude must be [B, K, h, w], got ",
              amplitude.sizes());
  COSAE_CHECK(phase.sizes() == amplitude.sizes(), usage, "harmonic synthesis: phase ", phase.sizes(),
              " and amplitude ", amplitude.sizes(), " differ in shape");
  COSAE_CHECK(frequencies.dim() == 2 && frequencies.size(0) == amplitude.size(1) && frequencies.size(1) == 2, usage,
              "harmonic synthesis: frequencies must be [K, 2] with K = ", amplitude.size(1), ", got ",
              frequencies.sizes());
  COSAE_CHECK(tile >= 1 && tile <= 256, usage, "harmonic synthesis: tile size must be in [1, 256], got ", tile);
  COSAE_CHECK(phase.scalar_type() == amplitude.scalar_type(), usage, "harmonic synthesis: phase is ",
              phase.scalar_type(), " but amplitude is ", amplitude.scalar_type());
  COSAE_CHECK(at::isFloatingType(amplitude.scalar_type()) && at::isFloatingType(frequencies.scalar_type()), usage,
              "harmonic synthesis: inputs must be floating point");
  COSAE_CHECK(phase.device() == amplitude.device() && frequencies.device() == amplitude.device(), usage,
              "harmonic synthesis: amplitude, phase and frequencies must be on one device");
}

torch::Tensor synthesis_forward(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                const torch::Tensor& frequencies, int64_t tile, Coefficients mode) {
  check_synthesis_inputs(amplitude, phase, frequencies, tile);
  if (amplitude.is_cuda()) return cuda::forward(amplitude, phase, frequencies, tile, mode);
  COSAE_CHECK(amplitude.is_cpu(), usage, "harmonic synthesis: unsupported device ", amplitude.device());
  return cpu::forward(amplitude, phase, frequencies, tile, mode);
}

SynthesisGradients synthesis_backward(const torch::Tensor& grad_harmonic, const torch::Tensor& amplitude,
                                      const torch::Tensor& phase, const torch::Tensor& frequencies, int64_t tile,
                                      Coefficients mode) {
  check_synthesis_inputs(amplitude, phase, frequencies, tile);
  const std::vector<int64_t> expected{amplitude.size(0), amplitude.size(1), amplitude.size(2) * tile,
                                      amplitude.size(3) * tile};
  COSAE_CHECK(grad_harmonic.sizes() == torch::IntArrayRef(expected), usage,
              "harmonic synthesis backward: gradient has shape ", grad_harmonic.sizes(), ", expected ",
              torch::IntArrayRef(expected));
  COSAE_CHECK(grad_harmonic.device() == amplitude.device(), usage,
              "harmonic synthesis backward: gradient on another device");
  if (amplitude.is_cuda()) return cuda::backward(grad_harmonic, amplitude, phase, frequencies, tile, mode);
  return cpu::backward(grad_harmonic, amplitude, phase, frequencies, tile, mode);
}

#ifndef COSAE_WITH_CUDA
namespace cuda {
torch::Tensor forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, int64_t, Coefficients) {
  COSAE_FAIL(device, "harmonic synthesis: this cosae was built without CUDA");
}
SynthesisGradients backward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                            int64_t, Coefficients) {
  COSAE_FAIL(device, "harmonic synthesis: this cosae was built without CUDA");
}
}  // namespace cuda
#endif

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class SynthesisFunction : public torch::autograd::Function<SynthesisFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& amplitude, const torch::Tensor& phase,
                               const torch::Tensor& frequencies, int64_t tile, int64_t mode) {
    ctx->save_for_backward({amplitude, phase, frequencies});
    ctx->saved_data["tile"] = tile;
    ctx->saved_data["mode"] = mode;
    return synthesis_forward(amplitude, phase, frequencies, tile, static_cast<Coefficients>(mode));
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    // The engine enables grad mode in backward only when a graph of the backward is asked
    // for (create_graph), i.e. for double backward, which these kernels do not provide.
    COSAE_CHECK(!torch::GradMode::is_enabled(), unavailable,
                "harmonic synthesis: double backward (create_graph=true) is not supported");
    const auto saved = ctx->get_saved_variables();
    const int64_t tile = ctx->saved_data["tile"].toInt();
    const auto mode = static_cast<Coefficients>(ctx->saved_data["mode"].toInt());
    auto grads = synthesis_backward(grad_outputs[0], saved[0], saved[1], saved[2], tile, mode);
    return {grads.amplitude, grads.phase, grads.frequencies, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor harmonic_synthesis(const torch::Tensor& amplitude, const torch::Tensor& phase,
                                 const torch::Tensor& frequencies, int64_t tile) {
  return SynthesisFunction::apply(amplitude, phase, frequencies, tile, static_cast<int64_t>(Coefficients::polar));
}

torch::Tensor harmonic_synthesis_linear(const torch::Tensor& a, const torch::Tensor& b,
                                        const torch::Tensor& frequencies, int64_t tile) {
  return SynthesisFunction::apply(a, b, frequencies, tile, static_cast<int64_t>(Coefficients::cartesian));
}

}  // namespace cosae::synthesis
