// The conditional coding (CodingMode::conditional, bitstream version 3): the latent coded under
// the conditional entropy model (model/conditional_entropy.hpp), whose parameter path runs here
// as an integer network (exact float64 products on the model's device), so that the encoder and
// the decoder select the same tables on any device.
//
// Payload: one stream per slice, in slice order (low to high frequencies; the model's order).
// Stream 0 starts with the hyper-latent's symbols (channel-major, each channel under its
// factorised table), then holds slice 0; stream g holds slice g. Within a slice, channel-major in slice order (its a
// channels, then its b channels), cells in raster order; each symbol round(y - mean) under the
// Gaussian table its scale index selects.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cosae/bitstream.hpp"
#include "cosae/model_file.hpp"
#include "entropy/cdf_table.hpp"
#include "entropy/integer_network.hpp"
#include "model/cosae_model.hpp"

namespace cosae::codec {

// Everything the conditional coding needs besides the float hyper-analysis: exported with the
// model, read back from its file (never recomputed from float weights at load).
struct ConditionalCoder {
  model::ConditionalConfig config;
  int64_t frequencies = 0;                          // K
  std::vector<int64_t> order;                       // the K frequencies in slice order (a permutation)
  std::vector<entropy::IntegerConv> layers;         // ConditionalEntropyImpl::integer_layer_names() order
  std::vector<entropy::CdfTable> scale_tables;      // model::kScaleCount zero-centred Gaussian tables
  std::vector<entropy::CdfTable> hyper_tables;      // one per hyper-latent channel

  // The integer layers as float64 tensors on the device that runs them (place_on): every
  // product and partial sum of a layer is an integer below 2^31 (IntegerConv::validate), so
  // float64 holds it exactly and any summation order, on any device and BLAS, gives the same
  // integers as IntegerConv::forward.
  struct DeviceLayer {
    torch::Tensor weight;  // [outputs, inputs * kernel^2]
    torch::Tensor bias, half, scale;  // [outputs, 1]: bias, 2^(shift - 1) (0 without shift), 2^-shift
  };
  std::vector<DeviceLayer> device_layers;
  torch::Device device = torch::kCPU;
  void place_on(const torch::Device& target);

  int64_t channels_per_slice() const { return 2 * frequencies / config.slices; }
  // The latent channel of slice g's j-th channel (its a channels, then its b channels).
  int64_t channel(int64_t g, int64_t j) const {
    const int64_t per = frequencies / config.slices;
    return j < per ? order[static_cast<std::size_t>(g * per + j)]
                   : frequencies + order[static_cast<std::size_t>(g * per + j - per)];
  }
  // The hyper-latent's grid for an h x w cell grid.
  int64_t hyper_rows(int64_t h) const { return (h + config.hyper_stride - 1) / config.hyper_stride; }
  int64_t hyper_cols(int64_t w) const { return (w + config.hyper_stride - 1) / config.hyper_stride; }
};

// From a trained network (at export).
ConditionalCoder build_conditional_coder(model::CosAEImpl& net);
// As tensors "conditional_tables.*" and "hyper_tables.*" (the integer layers, "conditional_int.*",
// are written with the model's parameters: model/model_io.hpp).
void append_conditional_records(const ConditionalCoder& coder, ModelFile& file);
// Throws cosae::Error (model) for missing, misshapen or invalid records. The coder is placed
// on `device`.
ConditionalCoder read_conditional_coder(const ModelFileView& file, const model::ModelConfig& config,
                                        const std::string& source, const torch::Device& device = torch::kCPU);

// One integer layer on float64 tensors: x [inputs, h, w] (integers) -> [outputs, h, w], equal to
// IntegerConv::forward.
torch::Tensor exact_forward(const entropy::IntegerConv& layer, const ConditionalCoder::DeviceLayer& weights,
                            const torch::Tensor& x);

// Codes the scaled latent y (2K x h x w floats, channel-major) and the hyper-latent symbols
// (Cz x hyper_rows x hyper_cols) into config.slices streams; writes the decoder's y_hat (same
// layout) to `y_hat` when it is not null, and the ideal size in bits to `estimated_bits`.
std::vector<std::vector<uint8_t>> encode_conditional(const ConditionalCoder& coder, const float* y,
                                                     const int32_t* hyper_symbols, int64_t h, int64_t w,
                                                     float* y_hat = nullptr, double* estimated_bits = nullptr);

// Decodes the streams into y_hat (2K x h x w). With `slices_available` < config.slices only the
// first streams are read and the later slices are left at their predicted means (a preview);
// otherwise every stream must be present and consumed exactly. Throws cosae::Error (bad_input)
// for a wrong stream count or corrupt streams.
void decode_conditional(const ConditionalCoder& coder, const std::vector<ByteSpan>& streams, int64_t h, int64_t w,
                        float* y_hat, int64_t slices_available = -1);

}  // namespace cosae::codec
