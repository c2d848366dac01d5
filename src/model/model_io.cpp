#include "model/model_io.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <set>

#include "cosae/error.hpp"

namespace cosae::model {

namespace {

torch::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return torch::kFloat;
    case DType::f16: return torch::kHalf;
    case DType::bf16: return torch::kBFloat16;
    default: COSAE_FAIL(usage, "model weights can be F32, F16 or BF16, not ", dtype_name(dtype));
  }
}

// "conditional.<layer>.weight" for an integer layer's name.
std::string float_weight_name(const std::string& layer) { return "conditional." + layer + ".weight"; }

}  // namespace

DType weight_dtype_from_name(const std::string& name, const std::string& option) {
  std::string upper = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto d = dtype_from_name(upper);
  COSAE_CHECK(d && (*d == DType::f32 || *d == DType::f16 || *d == DType::bf16), usage, option,
              " must be f32, f16 or bf16, not '", name, "'");
  return *d;
}

ModelFile export_model(CosAEImpl& model, DType weights) {
  torch::NoGradGuard no_grad;
  const auto stored = scalar_type(weights);
  ModelFile file;
  file.metadata["format"] = kModelFormat;
  file.metadata["format_version"] = std::to_string(kModelFormatVersion);
  file.metadata["config"] = to_json(model.config).dump();
  const bool narrowed = weights != DType::f32;
  std::vector<entropy::IntegerConv> layers;
  std::set<std::string> in_integer_layers;  // float weights a narrowed file keeps only as integers
  if (model.conditional) {
    layers = model.conditional->integer_layers();
    if (narrowed)
      for (const auto& layer : layers) in_integer_layers.insert(float_weight_name(layer.name));
  }
  for (const auto& item : model.named_parameters()) {
    if (in_integer_layers.count(item.key())) continue;
    // The priors stay exact, and so does the rest of the conditional model's parameter path
    // (biases, the hyper-prior): narrowing would move the float mirror of the integer layers
    // across their rounding steps. (Its hyper-analysis, encoder side only, narrows.)
    const bool conditional_exact =
        item.key().rfind("conditional.", 0) == 0 && item.key().rfind("conditional.hyper_analysis.", 0) != 0;
    const bool narrow = item.key().rfind("entropy.", 0) != 0 && !conditional_exact;
    const auto t = item.value().detach().to(torch::kCPU, narrow ? stored : torch::kFloat).contiguous();
    TensorRecord record;
    record.name = item.key();
    record.dtype = narrow ? weights : DType::f32;
    record.shape.assign(t.sizes().begin(), t.sizes().end());
    record.data.resize(static_cast<std::size_t>(t.numel()) * t.element_size());
    if (t.numel() > 0) std::memcpy(record.data.data(), t.data_ptr(), record.data.size());
    file.tensors.push_back(std::move(record));
  }
  for (const auto& layer : layers) {
    const std::string p = kIntegerLayerPrefix + layer.name;
    file.tensors.push_back(
        make_record(p + ".weight", DType::i8, {layer.outputs, layer.inputs, layer.kernel, layer.kernel}, layer.weight));
    file.tensors.push_back(make_record(p + ".bias", DType::i32, {layer.outputs}, layer.bias));
    file.tensors.push_back(make_record(p + ".shift", DType::u8, {layer.outputs}, layer.shift));
    file.tensors.push_back(make_record(p + ".clamp", DType::i32, {2}, std::vector<int32_t>{layer.low, layer.high}));
  }
  return file;
}

CosAE import_model(const ModelFile& file, const std::string& source) {
  return import_model(view_of(file), source, kAllParts);
}

namespace {

// Copies the file's tensors into those parameters of `net` that belong to `parts` (0: those
// of no part).
void load_parameters(CosAEImpl& net, const ModelFileView& file, const std::string& source, Parts parts,
                     bool unparted) {
  torch::NoGradGuard no_grad;
  std::set<std::string> layer_weights;  // the integer layers' float weights
  if (net.conditional)
    for (const auto& name : net.conditional->integer_layer_names()) layer_weights.insert(float_weight_name(name));
  for (auto& item : net.named_parameters()) {
    const Parts part = parameter_part(item.key());
    if (part ? !(part & parts) : !unparted) continue;
    const TensorView* record = file.find(item.key());
    if (!record && layer_weights.count(item.key())) {  // a narrowed file: weight / 2^shift, exactly
      const std::string layer = item.key().substr(std::string("conditional.").size(),
                                                  item.key().size() - std::string("conditional..weight").size());
      const std::string p = kIntegerLayerPrefix + layer;
      const TensorView* w = file.find(p + ".weight");
      const TensorView* shift = file.find(p + ".shift");
      COSAE_CHECK(w && shift, model, source, ": tensor '", item.key(), "' is missing, and so is its integer layer");
      const auto sizes = item.value().sizes();
      COSAE_CHECK(w->dtype == DType::i8 && torch::IntArrayRef(w->shape) == sizes && shift->dtype == DType::u8 &&
                      shift->shape == std::vector<int64_t>{sizes[0]},
                  model, source, ": integer layer '", p, "' does not match '", item.key(), "'");
      auto integers = torch::empty(sizes, torch::kChar);
      std::memcpy(integers.data_ptr(), w->data, w->size);
      auto shifts = torch::empty({sizes[0]}, torch::kByte);
      std::memcpy(shifts.data_ptr(), shift->data, shift->size);
      COSAE_CHECK(shifts.max().item<int>() <= 30, model, source, ": integer layer '", p, "' has a shift above 30");
      item.value().copy_(integers.to(torch::kDouble) / torch::pow(2.0, shifts.to(torch::kDouble)).view({-1, 1, 1, 1}));
      continue;
    }
    COSAE_CHECK(record, model, source, ": tensor '", item.key(), "' is missing");
    COSAE_CHECK(record->dtype == DType::f32 || record->dtype == DType::f16 || record->dtype == DType::bf16, model,
                source, ": tensor '", item.key(), "' is ", dtype_name(record->dtype), ", expected F32, F16 or BF16");
    COSAE_CHECK(torch::IntArrayRef(record->shape) == item.value().sizes(), model, source, ": tensor '", item.key(),
                "' has shape ", torch::IntArrayRef(record->shape), ", expected ", item.value().sizes());
    auto target = item.value();
    if (target.numel() == 0) continue;
    // Converted straight from the file's bytes where they are aligned for their type (as the
    // safetensors writers lay them out); widening to float32 is exact either way.
    const auto type = scalar_type(record->dtype);
    const auto bytes = dtype_size(record->dtype);
    if (reinterpret_cast<std::uintptr_t>(record->data) % bytes == 0) {
      target.copy_(torch::from_blob(const_cast<uint8_t*>(record->data), target.sizes(), torch::TensorOptions().dtype(type)));
    } else {
      auto stored = torch::empty(target.sizes(), torch::TensorOptions().dtype(type));
      std::memcpy(stored.data_ptr(), record->data, record->size);
      target.copy_(stored);
    }
  }
}

}  // namespace

CosAE import_model(const ModelFileView& file, const std::string& source, Parts parts) {
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    COSAE_CHECK(it != file.metadata.end(), model, source, ": not a cosae model (no '", key, "' in its metadata)");
    return it->second;
  };
  COSAE_CHECK(meta("format") == kModelFormat, model, source, ": not a cosae model (format '", meta("format"), "')");
  int version = 0;
  try {
    version = std::stoi(meta("format_version"));
  } catch (const std::exception&) {
    COSAE_FAIL(model, source, ": bad format_version '", meta("format_version"), "'");
  }
  COSAE_CHECK(version <= kModelFormatVersion, model, source, ": model format ", version,
              " is newer than this cosae supports (", kModelFormatVersion, ")");
  ModelConfig config;
  try {
    config = config_from_json(nlohmann::json::parse(meta("config")));
  } catch (const nlohmann::json::exception& e) {
    COSAE_FAIL(model, source, ": bad config: ", e.what());
  } catch (const Error& e) {
    COSAE_FAIL(model, source, ": bad config: ", e.what());
  }
  CosAE net{nullptr};
  {
    SkipInitialisation skip;  // every weight is read from the file next
    net = CosAE(config, parts);
  }
  load_parameters(*net, file, source, parts, /*unparted=*/true);
  std::set<std::string> expected;
  for (const auto& item : net->named_parameters()) expected.insert(item.key());
  // The integer layers (read by the codec, codec/conditional.hpp) and the entropy tables
  // (codec/model_package.hpp).
  auto codec_record = [](const std::string& name) {
    for (const char* prefix : {"entropy_tables.", kIntegerLayerPrefix, "conditional_tables.", "hyper_tables."})
      if (name.rfind(prefix, 0) == 0) return true;
    return false;
  };
  for (const auto& record : file.tensors)
    COSAE_CHECK(expected.count(record.name) || codec_record(record.name) || (parameter_part(record.name) & ~net->built()),
                model, source, ": unexpected tensor '", record.name, "'");
  return net;
}

void load_parts(CosAEImpl& net, const ModelFileView& file, const std::string& source, Parts parts) {
  const Parts missing = parts & ~net.built();
  if (missing == 0) return;
  {
    SkipInitialisation skip;  // every weight is read from the file next
    net.build(missing);
  }
  load_parameters(net, file, source, missing, /*unparted=*/false);
}

void save_model(const std::string& path, CosAEImpl& model) { write_safetensors(path, export_model(model)); }

CosAE load_model(const std::string& path) { return import_model(read_safetensors(path), path); }

}  // namespace cosae::model
