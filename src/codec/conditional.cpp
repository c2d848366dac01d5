#include "codec/conditional.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "codec/model_package.hpp"
#include "cosae/error.hpp"
#include "entropy/rans.hpp"
#include "model/model_io.hpp"

namespace cosae::codec {

namespace {

constexpr const char* kScaleTablePrefix = "conditional_tables.";
constexpr const char* kHyperTablePrefix = "hyper_tables.";
// Gaussian tables reach this many standard deviations (the tail beyond codes as escapes).
constexpr double kTableReach = 6.5;

constexpr int64_t kLayersPerSlice = 4;  // in, mid, scale, mean

// The integer parameter path for one image, on the coder's device: the hyper-synthesis's
// features once, then each slice's (scale index, mean16) from the features and the slices
// decoded before it.
class ParameterPath {
 public:
  ParameterPath(const ConditionalCoder& coder, int64_t h, int64_t w, const int32_t* hyper_symbols)
      : c_(coder), h_(h), w_(w), n_(h * w), m_(coder.channels_per_slice()) {
    const auto& cfg = c_.config;
    const int64_t hz = c_.hyper_rows(h), wz = c_.hyper_cols(w);
    const auto f64 = torch::TensorOptions(torch::kDouble).device(c_.device);
    auto z = torch::from_blob(const_cast<int32_t*>(hyper_symbols), {cfg.hyper_channels, hz, wz}, torch::kInt)
                 .to(f64)
                 .clamp(-model::kMaxContext, model::kMaxContext);
    std::size_t layer = 0;
    auto hidden = run(layer++, z);
    // Pixel shuffle: channel 4c + 2dy + dx of hyper cell (y, x) is channel c of cell
    // (2y + dy, 2x + dx); cells past the grid are dropped.
    if (cfg.hyper_stride == 2)
      hidden = torch::pixel_shuffle(run(layer++, hidden).unsqueeze(0), 2).squeeze(0).slice(1, 0, h).slice(2, 0, w);
    inputs_ = torch::zeros({cfg.features + cfg.slices * m_, h, w}, f64);
    inputs_.narrow(0, 0, cfg.features).copy_(run(layer++, hidden.contiguous()));
    first_slice_layer_ = layer;
  }

  // Scale indices and means (1/16 step) of slice g's m x n symbols.
  void predict(int64_t g, int32_t* index, int32_t* mean16) {
    const auto base = first_slice_layer_ + static_cast<std::size_t>(g * kLayersPerSlice);
    const auto hidden = run(base + 1, run(base, inputs_.narrow(0, 0, c_.config.features + g * m_)));
    const auto both = torch::cat({run(base + 2, hidden), run(base + 3, hidden)}).to(torch::kCPU, torch::kInt).contiguous();
    std::memcpy(index, both.data_ptr<int32_t>(), static_cast<std::size_t>(m_ * n_) * sizeof(int32_t));
    std::memcpy(mean16, both.data_ptr<int32_t>() + m_ * n_, static_cast<std::size_t>(m_ * n_) * sizeof(int32_t));
  }

  // Slice g's decoded values, round(y_hat) clamped (m x n), as context for the slices after it.
  void set_context(int64_t g, const std::vector<int32_t>& context) {
    inputs_.narrow(0, c_.config.features + g * m_, m_)
        .copy_(torch::from_blob(const_cast<int32_t*>(context.data()), {m_, h_, w_}, torch::kInt).to(torch::kDouble));
  }

 private:
  torch::Tensor run(std::size_t layer, const torch::Tensor& x) const {
    return exact_forward(c_.layers[layer], c_.device_layers[layer], x);
  }

  const ConditionalCoder& c_;
  int64_t h_, w_, n_, m_;
  torch::Tensor inputs_;  // [features + slices * m, h, w] float64 on the coder's device
  std::size_t first_slice_layer_ = 0;
};

// round(y_hat) for y_hat = symbol + mean16 / 16, clamped for the network's input.
int32_t context_value(int64_t symbol, int32_t mean16) {
  return static_cast<int32_t>(std::clamp<int64_t>(entropy::round_shift(symbol * model::kMeanUnits + mean16, 4),
                                                  -model::kMaxContext, model::kMaxContext));
}

std::vector<entropy::CdfTable> gaussian_tables() {
  std::vector<entropy::CdfTable> tables;
  for (int i = 0; i < model::kScaleCount; ++i) {
    const double s = model::scale_of_index(i);
    const int32_t reach = static_cast<int32_t>(std::ceil(kTableReach * s));
    auto cdf = [&](double x) { return 0.5 * std::erfc(-x / (s * M_SQRT2)); };
    std::vector<double> pmf;
    for (int32_t v = -reach; v <= reach; ++v) pmf.push_back(cdf(v + 0.5) - cdf(v - 0.5));
    tables.push_back(entropy::CdfTable::from_pmf(-reach, pmf, std::max(2.0 * cdf(-reach - 0.5), 1e-9)));
  }
  return tables;
}

void check_layer(const entropy::IntegerConv& layer, int64_t inputs, int64_t outputs, int64_t kernel, bool hidden,
                 const std::string& source) {
  COSAE_CHECK(layer.inputs == inputs && layer.outputs == outputs && layer.kernel == kernel, model, source,
              ": integer layer ", layer.name, " is ", layer.outputs, "x", layer.inputs, "x", layer.kernel, ", expected ",
              outputs, "x", inputs, "x", kernel);
  if (hidden)
    COSAE_CHECK(layer.low >= -entropy::kMaxIntegerInput && layer.high <= entropy::kMaxIntegerInput, model, source,
                ": integer layer ", layer.name, " outputs beyond the next layer's input range");
}

}  // namespace

void ConditionalCoder::place_on(const torch::Device& target) {
  device = target;
  device_layers.clear();
  const auto f64 = torch::TensorOptions(torch::kDouble);
  // Every layer's weights in one block (some 23 MB for the shipped model), filled once: one
  // allocation and one copy to the device rather than one for each of the 48 layers.
  int64_t total = 0;
  for (const auto& layer : layers) total += static_cast<int64_t>(layer.weight.size());
  auto weights = torch::empty({total}, f64);
  auto* out = weights.data_ptr<double>();
  for (const auto& layer : layers)
    for (const int8_t w : layer.weight) *out++ = w;
  if (target != weights.device()) weights = weights.to(target);
  int64_t offset = 0;
  for (const auto& layer : layers) {
    DeviceLayer d;
    const int64_t taps = layer.inputs * layer.kernel * layer.kernel;
    d.weight = weights.narrow(0, offset, layer.outputs * taps).view({layer.outputs, taps});
    offset += layer.outputs * taps;
    d.bias = torch::from_blob(const_cast<int32_t*>(layer.bias.data()), {layer.outputs, 1}, torch::kInt).to(f64);
    auto shift = torch::from_blob(const_cast<uint8_t*>(layer.shift.data()), {layer.outputs, 1}, torch::kByte).to(f64);
    d.scale = torch::pow(2.0, -shift);
    d.half = torch::where(shift > 0, torch::pow(2.0, shift - 1), torch::zeros_like(shift));
    for (auto* t : {&d.bias, &d.scale, &d.half}) *t = t->to(target);
    device_layers.push_back(std::move(d));
  }
}

torch::Tensor exact_forward(const entropy::IntegerConv& layer, const ConditionalCoder::DeviceLayer& d,
                            const torch::Tensor& x) {
  const int64_t h = x.size(1), w = x.size(2);
  // im2col by copies (unfold), then one matrix product: no transform that would round.
  const auto columns = layer.kernel == 1
                           ? x.reshape({layer.inputs, h * w})
                           : torch::nn::functional::unfold(
                                 x.unsqueeze(0), torch::nn::functional::UnfoldFuncOptions({3, 3}).padding(1))
                                 .squeeze(0);
  const auto acc = torch::addmm(d.bias, d.weight, columns);
  return torch::floor((acc + d.half) * d.scale).clamp(layer.low, layer.high).view({layer.outputs, h, w});
}

ConditionalCoder build_conditional_coder(model::CosAEImpl& net) {
  COSAE_CHECK(net.conditional, usage, "model has no conditional entropy model");
  ConditionalCoder coder;
  coder.config = net.config.conditional;
  coder.frequencies = net.config.frequencies;
  coder.order = net.conditional->frequency_order();
  coder.layers = net.conditional->integer_layers();
  coder.scale_tables = gaussian_tables();
  coder.hyper_tables = build_cdf_tables(*net.conditional->hyper_prior);
  coder.place_on(torch::kCPU);
  return coder;
}

void append_conditional_records(const ConditionalCoder& coder, ModelFile& file) {
  append_table_records(kScaleTablePrefix, coder.scale_tables, file);
  append_table_records(kHyperTablePrefix, coder.hyper_tables, file);
}

ConditionalCoder read_conditional_coder(const ModelFileView& file, const model::ModelConfig& config,
                                        const std::string& source, const torch::Device& device) {
  ConditionalCoder coder;
  coder.config = config.conditional;
  coder.frequencies = config.frequencies;
  const auto& c = coder.config;
  const int64_t m = coder.channels_per_slice();
  {  // the slice order: the float parameter the trainer keeps, whole numbers forming a permutation
    const auto values = record_values<float>(file.at("conditional.order"), DType::f32, source);
    COSAE_CHECK(static_cast<int64_t>(values.size()) == config.frequencies, model, source,
                ": conditional.order needs ", config.frequencies, " entries");
    std::vector<bool> seen(values.size(), false);
    for (float v : values) {
      const auto k = static_cast<int64_t>(v);
      COSAE_CHECK(static_cast<float>(k) == v && k >= 0 && k < config.frequencies && !seen[static_cast<std::size_t>(k)],
                  model, source, ": conditional.order is not a permutation of the frequencies");
      seen[static_cast<std::size_t>(k)] = true;
      coder.order.push_back(k);
    }
  }
  // The names a model of this config has (the float module's own list); shapes are checked below.
  for (const auto& name : model::ConditionalEntropyImpl::integer_layer_names(c)) {
    const std::string p = model::kIntegerLayerPrefix + name;
    entropy::IntegerConv layer;
    layer.name = name;
    const auto& w = file.at(p + ".weight");
    COSAE_CHECK(w.shape.size() == 4, model, source, ": tensor '", w.name, "' is not 4-D");
    layer.outputs = w.shape[0];
    layer.inputs = w.shape[1];
    layer.kernel = w.shape[2];
    COSAE_CHECK(w.shape[3] == layer.kernel, model, source, ": tensor '", w.name, "' has a non-square kernel");
    layer.weight = record_values<int8_t>(w, DType::i8, source);
    layer.bias = record_values<int32_t>(file.at(p + ".bias"), DType::i32, source);
    layer.shift = record_values<uint8_t>(file.at(p + ".shift"), DType::u8, source);
    const auto clamp = record_values<int32_t>(file.at(p + ".clamp"), DType::i32, source);
    COSAE_CHECK(clamp.size() == 2, model, source, ": tensor '", p, ".clamp' needs 2 values");
    layer.low = clamp[0];
    layer.high = clamp[1];
    layer.validate();
    coder.layers.push_back(std::move(layer));
  }
  const int64_t Z = c.hyper_channels, H = c.hidden, F = c.features;
  std::size_t i = 0;
  check_layer(coder.layers[i++], Z, H, 3, true, source);
  if (c.hyper_stride == 2) check_layer(coder.layers[i++], H, 4 * H, 1, true, source);
  check_layer(coder.layers[i++], H, F, 3, true, source);
  for (int64_t g = 0; g < c.slices; ++g) {
    check_layer(coder.layers[i++], F + g * m, F, 1, true, source);
    check_layer(coder.layers[i++], F, H, 1, true, source);
    auto& scale = coder.layers[i++];
    check_layer(scale, H, m, 1, false, source);
    COSAE_CHECK(scale.low >= 0 && scale.high < model::kScaleCount, model, source, ": integer layer ", scale.name,
                " selects scales outside 0..", model::kScaleCount - 1);
    auto& mean = coder.layers[i++];
    check_layer(mean, H, m, 1, false, source);
    COSAE_CHECK(mean.low >= -model::kMaxMean16 && mean.high <= model::kMaxMean16, model, source, ": integer layer ",
                mean.name, " predicts means beyond +-", model::kMaxMean16);
  }
  coder.scale_tables = read_table_records(file, kScaleTablePrefix, model::kScaleCount, source);
  coder.hyper_tables = read_table_records(file, kHyperTablePrefix, Z, source);
  coder.place_on(device);
  return coder;
}

std::vector<std::vector<uint8_t>> encode_conditional(const ConditionalCoder& coder, const float* y,
                                                     const int32_t* hyper_symbols, int64_t h, int64_t w, float* y_hat,
                                                     double* estimated_bits) {
  const int64_t n = h * w, m = coder.channels_per_slice();
  const int64_t nz = coder.hyper_rows(h) * coder.hyper_cols(w);
  double bits = 0;
  std::vector<std::vector<uint8_t>> streams;
  entropy::RansEncoder encoder;
  for (int64_t ch = 0; ch < coder.config.hyper_channels; ++ch)
    for (int64_t p = 0; p < nz; ++p) {
      const int32_t v = hyper_symbols[ch * nz + p];
      encoder.put(v, coder.hyper_tables[static_cast<std::size_t>(ch)]);
      bits += coder.hyper_tables[static_cast<std::size_t>(ch)].cost_bits(v);
    }
  ParameterPath path(coder, h, w, hyper_symbols);
  std::vector<int32_t> index(static_cast<std::size_t>(m * n)), mean16(index.size()), context(index.size());
  for (int64_t g = 0; g < coder.config.slices; ++g) {
    path.predict(g, index.data(), mean16.data());
    for (int64_t j = 0; j < m; ++j) {
      const int64_t channel = coder.channel(g, j);
      for (int64_t p = 0; p < n; ++p) {
        const auto at = static_cast<std::size_t>(j * n + p);
        const double value = y[channel * n + p];
        const double centred = std::floor(value - mean16[at] / double(model::kMeanUnits) + 0.5);
        COSAE_CHECK(std::isfinite(value) && std::abs(centred) <= entropy::kMaxMagnitude, usage,
                    "conditional coding: latent value ", value, " out of range");
        const auto symbol = static_cast<int32_t>(centred);
        const auto& table = coder.scale_tables[static_cast<std::size_t>(index[at])];
        encoder.put(symbol, table);
        bits += table.cost_bits(symbol);
        context[at] = context_value(symbol, mean16[at]);
        if (y_hat) y_hat[channel * n + p] = static_cast<float>(symbol + mean16[at] / double(model::kMeanUnits));
      }
    }
    streams.push_back(encoder.finish());
    path.set_context(g, context);
  }
  if (estimated_bits) *estimated_bits = bits;
  return streams;
}

void decode_conditional(const ConditionalCoder& coder, const std::vector<ByteSpan>& streams, int64_t h, int64_t w,
                        float* y_hat, int64_t slices_available) {
  const int64_t S = coder.config.slices;
  const bool preview = slices_available >= 0 && slices_available < S;
  const int64_t coded = preview ? slices_available : S;
  COSAE_CHECK(preview ? static_cast<int64_t>(streams.size()) >= coded : static_cast<int64_t>(streams.size()) == S,
              bad_input, "conditional coding: ", streams.size(), " latent streams, expected ", S);
  COSAE_CHECK(coded >= 1, usage, "conditional coding: a preview needs the first slice");
  const int64_t n = h * w, m = coder.channels_per_slice();
  const int64_t Z = coder.config.hyper_channels, nz = coder.hyper_rows(h) * coder.hyper_cols(w);
  std::vector<int32_t> z(static_cast<std::size_t>(Z * nz));
  entropy::RansDecoder first(streams[0].data, streams[0].size);
  for (int64_t ch = 0; ch < Z; ++ch)
    for (int64_t p = 0; p < nz; ++p) z[static_cast<std::size_t>(ch * nz + p)] = first.get(coder.hyper_tables[static_cast<std::size_t>(ch)]);
  ParameterPath path(coder, h, w, z.data());
  std::vector<int32_t> index(static_cast<std::size_t>(m * n)), mean16(index.size()), context(index.size());
  for (int64_t g = 0; g < S; ++g) {
    path.predict(g, index.data(), mean16.data());
    std::optional<entropy::RansDecoder> later;
    entropy::RansDecoder* decoder = &first;
    if (g > 0 && g < coded) decoder = &later.emplace(streams[static_cast<std::size_t>(g)].data, streams[static_cast<std::size_t>(g)].size);
    for (int64_t j = 0; j < m; ++j) {
      const int64_t channel = coder.channel(g, j);
      for (int64_t p = 0; p < n; ++p) {
        const auto at = static_cast<std::size_t>(j * n + p);
        // A slice not read (preview): its symbols are taken as 0, y_hat its predicted mean.
        const int32_t symbol = g < coded ? decoder->get(coder.scale_tables[static_cast<std::size_t>(index[at])]) : 0;
        context[at] = context_value(symbol, mean16[at]);
        y_hat[channel * n + p] = static_cast<float>(symbol + mean16[at] / double(model::kMeanUnits));
      }
    }
    if (g < coded) decoder->finish();
    path.set_context(g, context);
  }
}

}  // namespace cosae::codec
